// Pixel metrics against a reference: PSNR and SSIM, the paper's pixel-level numbers.

import { toHwc255 } from "./pixels.ts";

/** PSNR cap for identical images, so results stay finite (and JSON-serialisable). */
export const PSNR_MAX = 100;

/** PSNR in dB of two images (layouts as in pixels.ts) with peak 255. */
export function psnr(a: Uint8Array | Float32Array, b: Uint8Array | Float32Array, size: number): number {
  const x = toHwc255(a, size), y = toHwc255(b, size);
  let se = 0;
  for (let i = 0; i < x.length; i++) se += (x[i] - y[i]) ** 2;
  const mse = se / x.length;
  return mse === 0 ? PSNR_MAX : Math.min(PSNR_MAX, 10 * Math.log10((255 * 255) / mse));
}

const SSIM_SIGMA = 1.5;
const SSIM_RADIUS = 5; // the standard 11x11 Gaussian window
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

/** Gaussian-weighted mean of a [size, size] plane around every pixel; the window is renormalised at
 * the border (16x16 images are too small to drop a 5-pixel margin, as 'valid' SSIM would). */
function localMean(p: Float64Array, size: number): Float64Array {
  const k: number[] = [];
  for (let d = -SSIM_RADIUS; d <= SSIM_RADIUS; d++) k.push(Math.exp((-d * d) / (2 * SSIM_SIGMA ** 2)));
  const tmp = new Float64Array(p.length), out = new Float64Array(p.length);
  const pass = (src: Float64Array, dst: Float64Array, horizontal: boolean) => {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let s = 0, w = 0;
        for (let d = -SSIM_RADIUS; d <= SSIM_RADIUS; d++) {
          const xx = horizontal ? x + d : x, yy = horizontal ? y : y + d;
          if (xx < 0 || yy < 0 || xx >= size || yy >= size) continue;
          s += k[d + SSIM_RADIUS] * src[yy * size + xx];
          w += k[d + SSIM_RADIUS];
        }
        dst[y * size + x] = s / w;
      }
    }
  };
  pass(p, tmp, true);
  pass(tmp, out, false);
  return out;
}

/** SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03), mean over the
 * pixels of each RGB channel, then over channels. */
export function ssim(a: Uint8Array | Float32Array, b: Uint8Array | Float32Array, size: number): number {
  const x = toHwc255(a, size), y = toHwc255(b, size);
  const n = size * size;
  let total = 0;
  for (let c = 0; c < 3; c++) {
    const px = new Float64Array(n), py = new Float64Array(n);
    const pxx = new Float64Array(n), pyy = new Float64Array(n), pxy = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      px[i] = x[3 * i + c];
      py[i] = y[3 * i + c];
      pxx[i] = px[i] * px[i];
      pyy[i] = py[i] * py[i];
      pxy[i] = px[i] * py[i];
    }
    const mx = localMean(px, size), my = localMean(py, size);
    const sxx = localMean(pxx, size), syy = localMean(pyy, size), sxy = localMean(pxy, size);
    for (let i = 0; i < n; i++) {
      const vx = sxx[i] - mx[i] ** 2, vy = syy[i] - my[i] ** 2, cov = sxy[i] - mx[i] * my[i];
      total += ((2 * mx[i] * my[i] + C1) * (2 * cov + C2)) /
        ((mx[i] ** 2 + my[i] ** 2 + C1) * (vx + vy + C2));
    }
  }
  return total / (3 * n);
}
