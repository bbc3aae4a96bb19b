// Tensor <-> picture helpers for training and evaluation: planar [B, 3, H, W] floats in [-1, 1]
// (or [B, F, 3, H, W] clips) to RGB byte images, and sample grids.
import { writeFileAtomic } from "../io/atomic.ts";
import { contactSheet, type RgbImage, writeImage } from "../io/images.ts";
import type { Host } from "../host/host.ts";

/** Planar floats [N, 3, H, W] in [-1, 1] (N images, contiguous) -> N RGB byte images. */
export function planarToImages(data: Float32Array, size: number): RgbImage[] {
  const per = 3 * size * size, n = data.length / per, out: RgbImage[] = [];
  for (let k = 0; k < n; k++) {
    const img = new Uint8Array(per);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < size * size; i++) {
        const v = data[k * per + c * size * size + i];
        img[3 * i + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
      }
    }
    out.push({ data: img, width: size, height: size });
  }
  return out;
}

/**
 * Writes a grid PNG of planar images (scaled up so 16x16 pixels stay visible); with `prompts` (one
 * per image, or per row of clip frames), also `<path minus .png>.txt` naming each cell's prompt.
 */
export async function writeGrid(
  host: Host,
  path: string,
  data: Float32Array,
  size: number,
  cols?: number,
  prompts?: string[],
) {
  const imgs = planarToImages(data, size);
  await writeImage(
    host,
    path,
    contactSheet(imgs, { cols, scale: Math.max(1, Math.round(64 / size)), pad: 2 }),
  );
  if (prompts) {
    const per = Math.max(1, Math.round(imgs.length / prompts.length)), c = cols ?? imgs.length;
    const lines = prompts.map((p, i) => {
      const k = i * per; // first cell of this prompt
      return `row ${Math.floor(k / c) + 1}, column ${(k % c) + 1}: ${p}`;
    });
    await writeFileAtomic(host, path.replace(/\.png$/, "") + ".txt", lines.join("\n") + "\n");
  }
}

/** How many prompts a sample grid shows at most. */
export const MAX_GRID_PROMPTS = 64;

/**
 * The prompts of the sample grids (log.sample_prompts, as diffusers' --validation_prompt): each
 * entry is a prompt, or a file of them (`.txt`: one per line; `.jsonl`: each row's `text`). Empty:
 * the first 8 distinct captions of the training data.
 */
export async function samplePrompts(host: Host, spec: string[], captions: string[]): Promise<string[]> {
  if (!spec.length) return [...new Set(captions)].slice(0, 8);
  const out: string[] = [];
  for (const entry of spec) {
    if (!/\.(txt|jsonl)$/i.test(entry)) {
      out.push(entry);
      continue;
    }
    let text: string;
    try {
      text = await host.fs.readTextFile(entry);
    } catch (e) {
      throw new Error(`log.sample_prompts: cannot read ${entry} (${(e as Error).message})`);
    }
    const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
    if (/\.txt$/i.test(entry)) out.push(...lines);
    else {
      for (const [k, l] of lines.entries()) {
        let t: unknown;
        try {
          t = JSON.parse(l).text;
        } catch { /* below */ }
        if (typeof t !== "string" || !t.trim()) {
          throw new Error(
            `${entry}:${k + 1}: expected a JSON object with a "text" string (log.sample_prompts)`,
          );
        }
        out.push(t);
      }
    }
  }
  if (!out.length) throw new Error(`log.sample_prompts: no prompts in ${JSON.stringify(spec)}`);
  if (out.length > MAX_GRID_PROMPTS) {
    throw new Error(
      `log.sample_prompts: ${out.length} prompts, more than a grid shows (${MAX_GRID_PROMPTS})`,
    );
  }
  return out;
}
