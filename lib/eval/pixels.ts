// Pixel layouts the scorers accept, converted to one internal form.

/**
 * An image for the scorers: either RGB bytes [H, W, 3] (what sharp gives) or a Float32Array [3, H, W]
 * planar in [-1, 1] (the tensor layout the model produces). Returns interleaved [H, W, 3] floats in
 * [0, 255], clamped, which is what every metric works on.
 */
export function toHwc255(img: Uint8Array | Float32Array, size: number): Float32Array {
  const n = size * size;
  if (img.length !== 3 * n) {
    throw new Error(`image has ${img.length} values, expected 3*${size}*${size} = ${3 * n}`);
  }
  const out = new Float32Array(3 * n);
  if (img instanceof Uint8Array) {
    out.set(img);
    return out;
  }
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const v = (img[c * n + i] + 1) * 127.5;
      out[3 * i + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

export function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

export function dist3(a: ArrayLike<number>, ai: number, b: ArrayLike<number>): number {
  const dr = a[ai] - b[0], dg = a[ai + 1] - b[1], db = a[ai + 2] - b[2];
  return Math.sqrt(dr * dr + dg * dg + db * db);
}
