// diffusers' MotionAdapter (AnimateDiff's motion modules as a separate folder) combined with an image
// UNet into our UNetMotionModel, as UNetMotionModel.from_unet2d(unet, motion_adapter) does: the 2D
// weights copied unchanged, the adapter's motion modules loaded by their diffusers names, the config
// derived from both (heads, clip length, mid-block module from the adapter).
import type { GpuContext } from "../gpu/context.ts";
import { readSafetensors } from "../io/safetensors.ts";
import { rootInit, type StateEntry } from "./module.ts";
import { diffusersMotionNames, UNetMotionModel } from "./unet_motion.ts";
import type { Host } from "../host/host.ts";

// MotionAdapter config keys accepted only at the value our UNetMotionModel models.
const ADAPTER_FIXED: Record<string, unknown> = {
  motion_transformer_layers_per_block: 1,
  motion_mid_block_layers_per_block: 1,
  motion_transformer_layers_per_mid_block: 1,
  conv_in_channels: null,
};
const ADAPTER_READ = [
  "block_out_channels",
  "motion_layers_per_block",
  "motion_num_attention_heads",
  "motion_max_seq_length",
  "use_motion_mid_block",
  // Shapes do not depend on it, and UNetMotionModel's modules use the UNet's norm_num_groups.
  "motion_norm_num_groups",
];

async function readJson(host: Host, path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await host.fs.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/**
 * A UNetMotionModel from a diffusers UNet2DConditionModel folder and a MotionAdapter folder (each
 * config.json + diffusion_pytorch_model.safetensors).
 */
export async function loadWithMotionAdapter(
  ctx: GpuContext,
  unetDir: string,
  adapterDir: string,
): Promise<UNetMotionModel> {
  const uPath = `${unetDir}/config.json`, aPath = `${adapterDir}/config.json`;
  const u = await readJson(ctx.host, uPath), a = await readJson(ctx.host, aPath);
  if (u._class_name !== undefined && u._class_name !== "UNet2DConditionModel") {
    throw new Error(`${uPath}: _class_name ${JSON.stringify(u._class_name)} is not UNet2DConditionModel`);
  }
  if (a._class_name !== undefined && a._class_name !== "MotionAdapter") {
    throw new Error(`${aPath}: _class_name ${JSON.stringify(a._class_name)} is not MotionAdapter`);
  }
  for (const [k, v] of Object.entries(a)) {
    if (k.startsWith("_") || ADAPTER_READ.includes(k)) continue;
    if (!(k in ADAPTER_FIXED)) throw new Error(`${aPath}: unknown key ${k} = ${JSON.stringify(v)}`);
    if (JSON.stringify(v) !== JSON.stringify(ADAPTER_FIXED[k])) {
      throw new Error(`${aPath}: ${k} = ${JSON.stringify(v)} is not supported (only ${ADAPTER_FIXED[k]})`);
    }
  }
  // from_unet2d's compatibility checks: one adapter block per UNet block, the same layers per block.
  const blocks = (u.down_block_types as unknown[] | undefined)?.length;
  if (!Array.isArray(a.block_out_channels) || a.block_out_channels.length !== blocks) {
    throw new Error(
      `${aPath}: block_out_channels ${JSON.stringify(a.block_out_channels)} does not have one entry per ` +
        `UNet block (${blocks} in ${uPath})`,
    );
  }
  const layers = a.motion_layers_per_block ?? 2;
  if (JSON.stringify(layers) !== JSON.stringify(u.layers_per_block ?? 2)) {
    throw new Error(
      `${aPath}: motion_layers_per_block ${JSON.stringify(layers)} != the UNet's layers_per_block ` +
        `${JSON.stringify(u.layers_per_block)}`,
    );
  }
  const config = {
    ...u,
    _class_name: "UNetMotionModel",
    motion_num_attention_heads: a.motion_num_attention_heads ?? 8,
    motion_max_seq_length: a.motion_max_seq_length ?? 32,
    use_motion_mid_block: a.use_motion_mid_block ?? true,
  };
  const model = new UNetMotionModel(rootInit(ctx, 0), config);
  try {
    const spatial =
      (await readSafetensors(ctx.host, `${unetDir}/diffusion_pytorch_model.safetensors`)).tensors;
    const motion =
      (await readSafetensors(ctx.host, `${adapterDir}/diffusion_pytorch_model.safetensors`)).tensors;
    const all = new Map<string, StateEntry>();
    for (const [k, t] of spatial) all.set(k, t);
    for (const [k, t] of diffusersMotionNames(motion)) {
      if (all.has(k)) throw new Error(`${adapterDir}: tensor ${k} is also in ${unetDir}`);
      all.set(k, t);
    }
    model.loadStateDict(all);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
