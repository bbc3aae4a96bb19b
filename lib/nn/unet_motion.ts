// UNetMotionModel (AnimateDiff, as diffusers lays it out): the image UNet2DConditionModel with a motion
// module after each spatial (resnet, attention) pair of every down and up block and after the mid
// block's attention. Spatial layers see the B*F frames as a batch of images; motion modules mix the
// F frames of each clip. Parameters keep the image UNet's names, plus
//   down_blocks.i.motion_modules.j.*, mid_block.motion_modules.0.*, up_blocks.i.motion_modules.j.*
import type { GpuContext } from "../gpu/context.ts";
import { concat, expand, reshape } from "../ops/copy.ts";
import { timestepEmbedding } from "../ops/embedding.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type Init, Module, type StateEntry } from "./module.ts";
import { MotionModule, sinusoidalPositions } from "./temporal.ts";
import { UNet2DConditionModel } from "./unet.ts";
import { headsPerBlock, type UNetConfig, unetConfig } from "./unet_config.ts";

/** The keys a UNetMotionModel config adds to UNet2DConditionModel's (diffusers' names). */
export interface MotionKeys {
  /** Heads of every motion module, one number or one per down block (diffusers default 8). */
  motion_num_attention_heads: number | number[];
  /** Longest clip the frame position table covers. */
  motion_max_seq_length: number;
  use_motion_mid_block: boolean;
}

export type MotionUNetConfig = UNetConfig & MotionKeys;

export const MOTION_DEFAULTS: MotionKeys = {
  motion_num_attention_heads: 8,
  motion_max_seq_length: 32,
  use_motion_mid_block: true,
};

// diffusers' UNetMotionModel names its blocks after the motion variants; ours are the 2D names.
const BLOCK_NAMES: Record<string, string> = {
  CrossAttnDownBlockMotion: "CrossAttnDownBlock2D",
  DownBlockMotion: "DownBlock2D",
  CrossAttnUpBlockMotion: "CrossAttnUpBlock2D",
  UpBlockMotion: "UpBlock2D",
  UNetMidBlockCrossAttnMotion: "UNetMidBlock2DCrossAttn",
};
// UNetMotionModel keys accepted only at the value this implementation models.
const MOTION_FIXED: Record<string, unknown> = {
  temporal_transformer_layers_per_block: 1,
  temporal_transformer_layers_per_mid_block: 1,
  reverse_temporal_transformer_layers_per_block: null,
  reverse_motion_num_attention_heads: null,
  transformer_layers_per_mid_block: null,
  mid_block_layers: 1,
};

// UNetMotionModel hard-codes its timestep embedding (Timesteps(C0, True, 0)): no config keys for it.
const MOTION_TIME: Record<string, unknown> = { flip_sin_to_cos: true, freq_shift: 0 };

/**
 * A UNetMotionModel config from a diffusers-style object: the motion keys, plus everything
 * UNet2DConditionModel accepts (motion block type names are mapped to the 2D ones). Heads are
 * diffusers' num_attention_heads (default 8, as UNetMotionModel has no attention_head_dim); configs
 * this project wrote before 0.30-compatible folders (num_attention_heads null, attention_head_dim =
 * heads) still load. Internally the heads live in attention_head_dim, as for the 2D UNet.
 * `num_frames` (where folders before model_index.json held it kept the clip length) is ignored here.
 */
export function motionUNetConfig(
  raw: Record<string, unknown> = {},
  where = "unet config",
): MotionUNetConfig {
  const spatial: Record<string, unknown> = {};
  const motion: MotionKeys = { ...MOTION_DEFAULTS };
  const rename = (v: unknown) =>
    Array.isArray(v) ? v.map((t) => BLOCK_NAMES[t] ?? t) : BLOCK_NAMES[v as string] ?? v;
  for (const [k, v] of Object.entries(raw)) {
    if (k in MOTION_DEFAULTS) (motion as unknown as Record<string, unknown>)[k] = v;
    else if (k in MOTION_FIXED || k in MOTION_TIME) {
      const want = k in MOTION_FIXED ? MOTION_FIXED[k] : MOTION_TIME[k];
      if (JSON.stringify(v) !== JSON.stringify(want)) {
        throw new Error(
          `${where}: ${k} = ${JSON.stringify(v)} is not supported (only ${JSON.stringify(want)})`,
        );
      }
    } else if (k === "num_frames" || k === "num_attention_heads" || k === "attention_head_dim") continue;
    else if (k.endsWith("_block_types") || k === "mid_block_type") spatial[k] = rename(v);
    else spatial[k] = v;
  }
  const heads = raw.num_attention_heads ?? raw.attention_head_dim ?? 8;
  const c = { ...unetConfig({ ...spatial, attention_head_dim: heads }, where), ...motion };
  validateMotion(c, where);
  return c;
}

/** Motion heads per down block. */
export function motionHeads(c: MotionUNetConfig): number[] {
  const h = c.motion_num_attention_heads;
  return Array.isArray(h) ? h : c.block_out_channels.map(() => h);
}

function validateMotion(c: MotionUNetConfig, where: string) {
  const bad = (k: keyof MotionKeys, why: string): never => {
    throw new Error(`${where}: ${k} = ${JSON.stringify(c[k])} ${why}`);
  };
  if (!Number.isInteger(c.motion_max_seq_length) || c.motion_max_seq_length < 1) {
    bad("motion_max_seq_length", "must be a positive integer");
  }
  if (typeof c.use_motion_mid_block !== "boolean") bad("use_motion_mid_block", "must be true or false");
  const heads = motionHeads(c);
  if (heads.length !== c.block_out_channels.length) {
    bad("motion_num_attention_heads", `must be one number or ${c.block_out_channels.length} numbers`);
  }
  heads.forEach((h, i) => {
    if (!Number.isInteger(h) || h < 1 || c.block_out_channels[i] % h !== 0) {
      bad(
        "motion_num_attention_heads",
        `gives ${h} heads for ${c.block_out_channels[i]} channels (block ${i}); need a divisor`,
      );
    }
  });
}

// Every key of diffusers 0.30's UNetMotionModel config (what from_unet2d writes), at its default where
// this project has no setting of its own.
const MOTION_JSON_DEFAULTS: Record<string, unknown> = {
  act_fn: "silu",
  addition_embed_type: null,
  addition_time_embed_dim: null,
  block_out_channels: [],
  cross_attention_dim: 1280,
  down_block_types: [],
  downsample_padding: 1,
  encoder_hid_dim: null,
  encoder_hid_dim_type: null,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_layers: 1,
  mid_block_scale_factor: 1,
  motion_max_seq_length: 32,
  motion_num_attention_heads: 8,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  num_attention_heads: 8,
  out_channels: 4,
  projection_class_embeddings_input_dim: null,
  reverse_motion_num_attention_heads: null,
  reverse_temporal_transformer_layers_per_block: null,
  reverse_transformer_layers_per_block: null,
  sample_size: null,
  temporal_transformer_layers_per_block: 1,
  temporal_transformer_layers_per_mid_block: 1,
  time_cond_proj_dim: null,
  transformer_layers_per_block: 1,
  transformer_layers_per_mid_block: null,
  up_block_types: [],
  use_linear_projection: false,
  use_motion_mid_block: true,
};

/**
 * The config as diffusers' UNetMotionModel writes it (motion block names, heads as
 * num_attention_heads, _class_name), plus, only when set, addition_embed_type "text" (which diffusers'
 * UNetMotionModel does not build). The clip length a bundle generates is model_index.json's num_frames.
 */
export function motionConfigJson(c: MotionUNetConfig): Record<string, unknown> {
  const toMotion = Object.fromEntries(Object.entries(BLOCK_NAMES).map(([m, s]) => [s, m]));
  const own: Record<string, unknown> = {
    ...c,
    num_attention_heads: c.attention_head_dim,
    down_block_types: c.down_block_types.map((t) => toMotion[t]),
    up_block_types: c.up_block_types.map((t) => toMotion[t]),
  };
  const out: Record<string, unknown> = { _class_name: "UNetMotionModel", _diffusers_version: "0.30.3" };
  for (const k of Object.keys(MOTION_JSON_DEFAULTS).sort()) {
    out[k] = k in own ? own[k] : MOTION_JSON_DEFAULTS[k];
  }
  if (c.addition_embed_type !== null) {
    out.addition_embed_type = c.addition_embed_type;
    out.addition_embed_type_num_heads = c.addition_embed_type_num_heads;
  }
  return out;
}

/**
 * diffusers' persistent `pos_embed.pe` buffers ([1, motion_max_seq_length, C], one per motion
 * module's transformer block), which its from_pretrained requires in a UNetMotionModel checkpoint.
 */
export function motionPositionBuffers(
  u: UNetMotionModel,
): { name: string; shape: number[]; data: Float32Array }[] {
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  const all = [...u.downMotion.flat(), ...(u.midMotion ? [u.midMotion] : []), ...u.upMotion.flat()];
  for (const m of all) {
    m.blocks.forEach((_, i) => {
      const L = u.config.motion_max_seq_length, C = m.channels;
      out.push({
        name: `${m.prefix}.transformer_blocks.${i}.pos_embed.pe`,
        shape: [1, L, C],
        data: sinusoidalPositions(L, C),
      });
    });
  }
  return out;
}

export class UNetMotionModel extends Module {
  readonly config: MotionUNetConfig;
  /** The spatial network (names identical to an image UNet's). */
  readonly unet: UNet2DConditionModel;
  readonly downMotion: MotionModule[][] = [];
  readonly midMotion: MotionModule | null;
  readonly upMotion: MotionModule[][] = [];

  constructor(init: Init, config: Partial<MotionUNetConfig> | Record<string, unknown> = {}) {
    super(init);
    const c = this.config = motionUNetConfig(config as Record<string, unknown>);
    const {
      motion_num_attention_heads: _h,
      motion_max_seq_length: _l,
      use_motion_mid_block: _m,
      ...spatial
    } = c;
    this.unet = this.sub(new UNet2DConditionModel(init, spatial));
    const ch = c.block_out_channels, heads = motionHeads(c), n = ch.length;
    const mm = (name: string, channels: number, h: number) =>
      this.sub(
        new MotionModule(this.at(name), channels, {
          heads: h,
          groups: c.norm_num_groups,
          maxFrames: c.motion_max_seq_length,
        }),
      );
    ch.forEach((chan, i) => {
      this.downMotion.push(
        Array.from(
          { length: c.layers_per_block },
          (_, j) => mm(`down_blocks.${i}.motion_modules.${j}`, chan, heads[i]),
        ),
      );
    });
    this.midMotion = c.use_motion_mid_block
      ? mm("mid_block.motion_modules.0", ch[n - 1], heads[n - 1])
      : null;
    const rch = [...ch].reverse(), rheads = [...heads].reverse();
    rch.forEach((chan, i) => {
      this.upMotion.push(
        Array.from(
          { length: c.layers_per_block + 1 },
          (_, j) => mm(`up_blocks.${i}.motion_modules.${j}`, chan, rheads[i]),
        ),
      );
    });
  }

  /** Every motion-module parameter name (the rest belong to the spatial UNet). */
  motionParamNames(): string[] {
    const spatial = this.unet.parameters();
    return [...this.parameters().keys()].filter((k) => !spatial.has(k));
  }

  /**
   * sample: [B, F, in_channels, H, W], timesteps: B numbers, encoderHidden: [B, L, D], keyMask: [B, L]
   * -> eps [B, F, out_channels, H, W]. Timestep and text conditioning are shared by a clip's frames.
   */
  forward(
    ctx: GpuContext,
    sample: Tensor,
    timesteps: readonly number[],
    encoderHidden: Tensor,
    keyMask: Tensor | null = null,
  ): Tensor {
    const u = this.unet, c = this.config;
    const [B, F, C, H, W] = sample.shape;
    if (sample.shape.length !== 5 || C !== c.in_channels) {
      throw new Error(`unet_motion: sample ${sample.describe()} is not [B, F, ${c.in_channels}, H, W]`);
    }
    const down = 2 ** (c.block_out_channels.length - 1);
    if (H % down || W % down) throw new Error(`unet_motion: ${H}x${W} is not divisible by ${down}`);
    if (timesteps.length !== B) throw new Error(`unet_motion: ${timesteps.length} timesteps for batch ${B}`);
    const [hb, L, D] = encoderHidden.shape;
    if (hb !== B || D !== c.cross_attention_dim) {
      throw new Error(
        `unet_motion: encoderHidden ${encoderHidden.describe()} is not [${B}, L, ${c.cross_attention_dim}]`,
      );
    }
    if (keyMask && keyMask.size !== B * L) {
      throw new Error(`unet_motion: key mask ${keyMask.describe()} is not [${B}, ${L}]`);
    }
    // Per-frame copies of the clip's conditioning: [B, ...] -> [B*F, ...], frames of a clip adjacent.
    const perFrame = (t: Tensor) => {
      const rest = t.shape.slice(1);
      return reshape(ctx, expand(ctx, reshape(ctx, t, [B, 1, ...rest]), [B, F, ...rest]), [B * F, ...rest]);
    };
    const context = F === 1 ? encoderHidden : perFrame(encoderHidden);
    const mask = keyMask && F > 1 ? perFrame(keyMask) : keyMask;
    const ts = timesteps.flatMap((t) => new Array<number>(F).fill(t));
    const tproj = timestepEmbedding(ctx, ts, c.block_out_channels[0], {
      flipSinToCos: c.flip_sin_to_cos,
      freqShift: c.freq_shift,
    });
    // The pooled text embedding is per clip [B, E], repeated per frame like the time embedding.
    const temb = u.embed(ctx, tproj, encoderHidden, (e) => F === 1 ? e : perFrame(e));

    let h = u.conv_in.forward(ctx, reshape(ctx, sample, [B * F, C, H, W]));
    const skips: Tensor[] = [h];
    u.down_blocks.forEach((b, i) => {
      b.resnets.forEach((r, j) => {
        h = r.forward(ctx, h, temb);
        if (b.attentions[j]) h = b.attentions[j].forward(ctx, h, context, mask);
        h = this.downMotion[i][j].forward(ctx, h, F);
        skips.push(h);
      });
      if (b.downsampler) {
        h = b.downsampler.forward(ctx, h);
        skips.push(h);
      }
    });
    const m = u.mid_block;
    h = m.attention.forward(ctx, m.resnets[0].forward(ctx, h, temb), context, mask);
    if (this.midMotion) h = this.midMotion.forward(ctx, h, F);
    h = m.resnets[1].forward(ctx, h, temb);
    u.up_blocks.forEach((b, i) => {
      b.resnets.forEach((r, j) => {
        const skip = skips.pop();
        if (!skip) throw new Error(`${b.prefix}: ran out of skip connections`);
        h = r.forward(ctx, concat(ctx, [h, skip], 1), temb);
        if (b.attentions[j]) h = b.attentions[j].forward(ctx, h, context, mask);
        h = this.upMotion[i][j].forward(ctx, h, F);
      });
      if (b.upsampler) h = b.upsampler.forward(ctx, h);
    });
    const out = u.conv_out.forward(ctx, u.conv_norm_out.forward(ctx, h, true)); // silu fused
    return reshape(ctx, out, [B, F, c.out_channels, H, W]);
  }
}

/**
 * Maps original AnimateDiff motion-module names (guoyww checkpoints) onto diffusers' ones, as
 * diffusers' conversion script does, and drops the position tables (computed, not learned):
 *   .temporal_transformer. -> .   attention_blocks.0/1 -> attn1/2   norms.0/1 -> norm1/2   ff_norm -> norm3
 */
export function diffusersMotionNames(entries: ReadonlyMap<string, StateEntry>): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  for (const [k, v] of entries) {
    if (/\.(pos_encoder|pos_embed)\.pe$/.test(k)) continue;
    const name = k.replace(".temporal_transformer.", ".")
      .replace(".attention_blocks.0.", ".attn1.").replace(".attention_blocks.1.", ".attn2.")
      .replace(".norms.0.", ".norm1.").replace(".norms.1.", ".norm2.").replace(".ff_norm.", ".norm3.");
    out.set(name, v);
  }
  return out;
}

/** A one-line summary for logs. */
export function describeMotionUNet(u: UNetMotionModel): string {
  const c = u.config;
  let motion = 0;
  const params = u.parameters();
  for (const k of u.motionParamNames()) motion += params.get(k)!.size;
  return `UNetMotionModel ${u.numParams().toLocaleString("en-US")} parameters ` +
    `(${
      motion.toLocaleString("en-US")
    } in motion modules): ${c.sample_size}x${c.sample_size}x${c.in_channels}, ` +
    `channels [${c.block_out_channels}], heads [${headsPerBlock(c)}], motion heads [${motionHeads(c)}]`;
}
