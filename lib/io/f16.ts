// Half-precision conversions for checkpoint files. Arithmetic on the raw bits (u32 views of f32)
// keeps rounding exact: f32 -> f16 rounds to nearest, ties to even, like IEEE hardware and numpy,
// including subnormal results; inf and nan are preserved (nan stays nan, with a quiet bit set).

/** Largest finite f16 value. */
export const F16_MAX = 65504;

/** f32 bit pattern -> f16 bit pattern, round to nearest even. */
function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) {
    // inf keeps a zero mantissa; nan keeps the top payload bits and forces the quiet bit so that a
    // payload living only in the low 13 bits does not turn into inf.
    return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  }
  const e = exp - 127 + 15; // rebias
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    // Subnormal f16 (value = m * 2^-24): shift the full 24-bit significand right by 14 - e.
    // Below half the smallest subnormal (e < -10) everything rounds to zero.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (m & 1))) m++; // m may become 0x400: the smallest normal
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the correct result (up to inf).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** f16 bit pattern -> f32 bit pattern (exact: every f16 is representable in f32). */
function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: normalise the mantissa; the f32 exponent drops by one per shift.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** f32 values -> f16 bit patterns [n]. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i]);
  return out;
}

/** f16 bit patterns -> f32 values [n]. */
export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = f16BitsToF32(src[i]);
  return out;
}

/** bfloat16 bit patterns -> f32 values [n]: bf16 is the top half of an f32, so this is exact. */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** Scalar helpers (tests, one-off values). */
export function toF16Bits(x: number): number {
  return f32ToF16(Float32Array.of(x))[0];
}

export function fromF16Bits(h: number): number {
  return f16ToF32(Uint16Array.of(h))[0];
}
