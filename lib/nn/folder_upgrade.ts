// Rewrites a toy model folder written before folders followed diffusers' conventions (see
// lib/nn/folder.ts) in the current layout: configs with every key diffusers expects, the word
// tokenizer under tokenizer/word_tokenizer.json, model_index.json with _diffusers_version and
// mask_pad_tokens, a UNetMotionModel's pos_embed.pe buffers. Every weight keeps its stored dtype and
// its exact bits (checked tensor by tensor after the rewrite); every other file of the folder
// (training configs, metrics, sample sheets) is kept as it was.
import type { GpuContext } from "../gpu/context.ts";
import { loadCheckpoint } from "../io/checkpoint.ts";
import type { StTensor } from "../io/safetensors.ts";
import { TextToImage } from "./pipeline.ts";
import { TextToVideo } from "./pipeline_video.ts";

// Files the current save writes itself (their old versions are replaced, not copied).
const REWRITTEN = new Set([
  "tokenizer/tokenizer.json",
  "tokenizer/word_tokenizer.json",
  "scheduler/scheduler_config.json",
]);

function sameBits(a: StTensor, b: StTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join() || a.data.length !== b.data.length) {
    return false;
  }
  const x = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const y = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  return x.every((v, i) => v === y[i]);
}

/** Upgrades `dir` in place (atomically); returns what changed, for the log. */
export async function upgradeToyFolder(ctx: GpuContext, dir: string): Promise<string[]> {
  const before = await loadCheckpoint(ctx.host, dir);
  const unet = before.components.unet;
  if (!unet) throw new Error(`${dir}: no unet/ component`);
  const video = unet.config._class_name === "UNetMotionModel";
  // The weights' dtype (pos_embed.pe buffers are always written as F32).
  const dtypes = new Set(
    Object.values(before.components).flatMap((c) =>
      [...c.tensors.values()].filter((t) => !t.name.endsWith(".pos_embed.pe")).map((t) => t.dtype)
    ),
  );
  if (dtypes.size !== 1 || ![...dtypes].every((d) => d === "F32" || d === "F16")) {
    throw new Error(`${dir}: weights in ${[...dtypes].join(", ")}; expected one of F32 or F16`);
  }
  const dtype = [...dtypes][0] as "F32" | "F16";
  const extra: Record<string, Uint8Array> = {};
  for (const [rel, bytes] of Object.entries(before.files)) if (!REWRITTEN.has(rel)) extra[rel] = bytes;
  const model = video ? await TextToVideo.load(ctx, dir) : await TextToImage.load(ctx, dir);
  try {
    await model.save(dir, extra, dtype);
  } finally {
    model.dispose();
  }
  const after = await loadCheckpoint(ctx.host, dir);
  const notes: string[] = [];
  for (const [name, c] of Object.entries(before.components)) {
    const now = after.components[name];
    for (const [k, t] of c.tensors) {
      const u = now?.tensors.get(k);
      if (!u || !sameBits(t, u)) throw new Error(`${dir}/${name}: tensor ${k} changed in the rewrite`);
    }
    const added = [...(now?.tensors.keys() ?? [])].filter((k) => !c.tensors.has(k));
    if (added.length) notes.push(`${name}: added ${added.length} tensors (${added[0]}, ...)`);
  }
  notes.push(
    `${dir}: ${dtype} weights unchanged bit for bit; configs, index and tokenizer file name rewritten`,
  );
  return notes;
}
