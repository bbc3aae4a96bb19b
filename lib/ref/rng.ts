// CPU mirror of kernels/rng.wgsl (same integer hashing, float64 transform).

function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

function bits(seed: number, ctr: number, stream: number): number {
  return pcg((pcg((ctr ^ pcg(seed >>> 0)) >>> 0) + Math.imul(stream, 2654435769)) >>> 0);
}

const unit = (h: number) => ((h >>> 8) + 1) / 16777216;

/** Normal draws for counters offset .. offset + n - 1. */
export function randnRef(n: number, seed: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ctr = (offset + i) >>> 0;
    out[i] = Math.sqrt(-2 * Math.log(unit(bits(seed, ctr, 0)))) *
      Math.cos(2 * Math.PI * unit(bits(seed, ctr, 1)));
  }
  return out;
}

export function randRef(n: number, seed: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = unit(bits(seed, (offset + i) >>> 0, 0)) - 1 / 16777216;
  return out;
}
