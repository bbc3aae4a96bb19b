// Tensor <-> picture helpers for training and evaluation: planar [B, 3, H, W] floats in [-1, 1]
// (or [B, F, 3, H, W] clips) to RGB byte images, and sample grids.
import { contactSheet, type RgbImage, writeImage } from "../io/images.ts";

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

/** Writes a grid PNG of planar images (scaled up so 16x16 pixels stay visible). */
export async function writeGrid(path: string, data: Float32Array, size: number, cols?: number) {
  const imgs = planarToImages(data, size);
  await writeImage(path, contactSheet(imgs, { cols, scale: Math.max(1, Math.round(64 / size)), pad: 2 }));
}
