// A tiny text-to-image base for trainer tests: channels [8, 16], attention at 8x8 only (as the
// shipped base), a one-layer text encoder. Saved as a checkpoint folder.
import type { GpuContext } from "../lib/gpu/context.ts";
import { TextToImage } from "../lib/nn/pipeline.ts";

export const TINY_UNET = {
  block_out_channels: [8, 16],
  norm_num_groups: 4,
  cross_attention_dim: 16,
  attention_head_dim: 2,
  down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"] as never,
  up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"] as never,
};

/** Writes a freshly initialised tiny base to `dir`. */
export async function saveTinyBase(ctx: GpuContext, dir: string) {
  const m = TextToImage.create(ctx, {
    unet: TINY_UNET,
    text: { num_hidden_layers: 1, num_attention_heads: 2 },
  });
  await m.save(dir);
  m.dispose();
}
