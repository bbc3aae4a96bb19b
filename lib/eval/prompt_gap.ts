// Does a text-to-image model use its prompt? For images with their own captions, the denoising error
// at fixed timesteps with the right caption, with another image's caption and with the empty prompt,
// on the same noise. A model that ignores the prompt has equal errors at every t; one that follows it
// has a lower error with the right caption, above all at the high-noise steps that decide colour and
// layout. Ratios are scale-free (eps and x0 errors differ by a factor per t only).
import type { GpuContext } from "../gpu/context.ts";
import { noiseFor } from "../diffusion/noise.ts";
import type { TextToImage } from "../nn/pipeline.ts";
import { tensor } from "../tensor/tensor.ts";

export interface PromptGapRow {
  t: number;
  /** alpha_bar at t: the share of signal variance left. */
  alphaBar: number;
  right: number;
  shuffled: number;
  empty: number;
  /** shuffled / right - 1: how much worse another image's caption is (0: the prompt is ignored). */
  gap: number;
}

/**
 * images [B, 3, H, W] in [-1, 1] with their captions; one noise draw per image (seeded by index).
 * "shuffled" gives image i the caption of image i+1 (mod B).
 */
export async function promptGap(
  ctx: GpuContext,
  model: TextToImage,
  images: Float32Array,
  texts: readonly string[],
  timesteps: readonly number[],
  seed = 1000,
): Promise<PromptGapRow[]> {
  const B = texts.length, c = model.unet.config;
  const shape = [c.in_channels, c.sample_size, c.sample_size];
  if (images.length !== B * shape[0] * shape[1] * shape[2]) {
    throw new Error(`promptGap: ${images.length} floats for ${B} images of ${shape.join("x")}`);
  }
  if (B < 2) throw new Error(`promptGap: needs at least 2 images, got ${B}`);
  const variants = {
    right: [...texts],
    shuffled: texts.map((_, i) => texts[(i + 1) % B]),
    empty: texts.map(() => ""),
  };
  const rows: PromptGapRow[] = [];
  for (const t of timesteps) {
    const err: Record<string, number> = {};
    for (const [name, tx] of Object.entries(variants)) {
      const e = await ctx.scope(() =>
        ctx.noGrad(() => {
          const x0 = tensor(ctx, images, [B, ...shape]);
          const eps = noiseFor(ctx, texts.map((_, i) => seed + i), shape);
          return model.denoiseErrors(ctx, x0, eps, texts.map(() => t), model.encode(ctx, tx)).keep();
        })
      );
      const a = await e.read();
      e.dispose();
      err[name] = a.reduce((s, x) => s + x, 0) / B;
    }
    rows.push({
      t,
      alphaBar: model.schedule.alphasCumprod[t],
      right: err.right,
      shuffled: err.shuffled,
      empty: err.empty,
      gap: err.shuffled / err.right - 1,
    });
  }
  return rows;
}
