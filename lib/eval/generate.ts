// Generating image sets from a checkpoint with fixed seeds, in batches, as RGB bytes, and writing
// them in the imagefolder layout (docs/DATA.md) that `deno task score` reads.
import type { GpuContext } from "../gpu/context.ts";
import { writeImage } from "../io/images.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { generatePixels, type ImageModel, pixelSize } from "../nn/bundle.ts";
import type { Sampler } from "../diffusion/sampler.ts";
import { planarToImages } from "../train/images.ts";
import type { RgbImage } from "../io/images.ts";
import type { Progress } from "../util/progress.ts";
import type { Host } from "../host/host.ts";

export interface GenItem {
  text: string;
  seed: number;
  /** Extra metadata written beside the image (attributes for the scorer). */
  meta?: Record<string, unknown>;
}

export interface GenOptions {
  /** Default DEFAULT_SAMPLER (lib/diffusion/sampler.ts). */
  sampler?: Sampler;
  steps: number;
  guidance: number;
  batch: number;
  /** The CFG negative prompt for every item (default ""). */
  negative?: string;
  onBatch?: (done: number, total: number) => void;
  /** Advanced by one per image, in fractions after every sampling step (rate and ETA mid-batch). */
  progress?: Progress;
}

/** Images for `items` (one per item), in order. Deterministic per (text, seed), whatever the batch. */
export async function generateImages(
  ctx: GpuContext,
  model: ImageModel,
  items: GenItem[],
  o: GenOptions,
): Promise<RgbImage[]> {
  const out: RgbImage[] = [];
  const size = pixelSize(model);
  for (let i = 0; i < items.length; i += o.batch) {
    const part = items.slice(i, i + o.batch);
    let ticked = 0;
    const x = await generatePixels(ctx, model, part.map((p) => p.text), part.map((p) => p.seed >>> 0), {
      kind: o.sampler,
      steps: o.steps,
      guidance: o.guidance,
      negative: o.negative === undefined ? undefined : part.map(() => o.negative!),
      onStep: o.progress && (() => {
        const n = Math.min(part.length / o.steps, part.length - ticked);
        ticked += n;
        o.progress!.tick(n);
      }),
    });
    o.progress?.tick(part.length - ticked);
    out.push(...planarToImages(await x.read(), size));
    x.dispose();
    o.onBatch?.(Math.min(items.length, i + o.batch), items.length);
  }
  return out;
}

/** Writes images + metadata.jsonl (file_name, text, seed, meta fields) into `dir`. */
export async function writeImageFolder(host: Host, dir: string, items: GenItem[], images: RgbImage[]) {
  await host.fs.mkdir(`${dir}/images`, { recursive: true });
  const rows: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const file = `images/${String(i).padStart(6, "0")}.png`;
    await writeImage(host, `${dir}/${file}`, images[i]);
    rows.push(
      JSON.stringify({ file_name: file, text: items[i].text, ...items[i].meta, seed: items[i].seed }),
    );
  }
  await writeFileAtomic(host, `${dir}/metadata.jsonl`, rows.join("\n") + "\n");
}
