// Does a text-to-image model use its prompt? For images with their own captions, the denoising error
// at fixed timesteps with the right caption, with another image's caption and with the empty prompt,
// on the same noise. A model that ignores the prompt has equal errors at every t; one that follows it
// has a lower error with the right caption, above all at the high-noise steps that decide colour and
// layout. Ratios are scale-free (eps and x0 errors differ by a factor per t only).
import type { GpuContext } from "../gpu/context.ts";
import { noiseFor } from "../diffusion/noise.ts";
import type { TextToImage } from "../nn/pipeline.ts";
import { readAll, tensor } from "../tensor/tensor.ts";
import type { Progress } from "../util/progress.ts";

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
 * "shuffled" gives image i the caption of image i+1 (mod B). `progress` advances by one per UNet pass
 * (3 per timestep).
 */
export async function promptGap(
  ctx: GpuContext,
  model: TextToImage,
  images: Float32Array,
  texts: readonly string[],
  timesteps: readonly number[],
  seed = 1000,
  progress?: Progress,
): Promise<PromptGapRow[]> {
  const B = texts.length, c = model.unet.config;
  const shape = [c.in_channels, c.sample_size, c.sample_size];
  if (images.length !== B * shape[0] * shape[1] * shape[2]) {
    throw new Error(`promptGap: ${images.length} floats for ${B} images of ${shape.join("x")}`);
  }
  if (B < 2) throw new Error(`promptGap: needs at least 2 images, got ${B}`);
  const names = ["right", "shuffled", "empty"] as const;
  const captions = {
    right: [...texts],
    shuffled: texts.map((_, i) => texts[(i + 1) % B]),
    empty: texts.map(() => ""),
  };
  // Images, noise and the three encodings once; one UNet pass per (t, caption set), each in its own
  // scope so that its activations are freed; every error read back in one sync.
  const errs = await ctx.scope(async () => {
    const { x0, eps, cond } = ctx.noGrad(() => ({
      x0: tensor(ctx, images, [B, ...shape]),
      eps: noiseFor(ctx, texts.map((_, i) => seed + i), shape),
      cond: names.map((n) => model.encode(ctx, captions[n])),
    }));
    const list = [];
    for (const t of timesteps) {
      for (const c of cond) {
        list.push(
          await ctx.scope(() =>
            ctx.noGrad(() => model.denoiseErrors(ctx, x0, eps, texts.map(() => t), c).keep())
          ),
        );
        ctx.flush(); // one submission per pass, so the progress follows the work
        progress?.tick();
      }
    }
    const values = await readAll(ctx, list);
    for (const e of list) e.dispose();
    return values.map((a) => a.reduce((s, x) => s + x, 0) / B);
  });
  const rows: PromptGapRow[] = timesteps.map((t, k) => {
    const [right, shuffled, empty] = errs.slice(3 * k, 3 * k + 3);
    return {
      t,
      alphaBar: model.schedule.alphasCumprod[t],
      right,
      shuffled,
      empty,
      gap: shuffled / right - 1,
    };
  });
  return rows;
}
