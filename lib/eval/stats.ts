// Summary statistics for evaluation reports.

import type { Rng } from "../util/rng.ts";

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
}

/** Percentile bootstrap confidence interval of the mean. */
export function bootstrapCI(
  values: readonly number[],
  rng: Rng,
  opts: { iters?: number; level?: number } = {},
): Interval {
  const iters = opts.iters ?? 1000, level = opts.level ?? 0.95;
  if (values.length === 0) throw new Error("bootstrapCI: no values");
  if (!(level > 0 && level < 1)) throw new Error(`bootstrapCI: level must be in (0, 1), got ${level}`);
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const means = new Float64Array(iters);
  for (let k = 0; k < iters; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)];
    means[k] = s / n;
  }
  means.sort();
  const at = (q: number) => means[Math.min(iters - 1, Math.max(0, Math.round(q * (iters - 1))))];
  return { mean, lo: at((1 - level) / 2), hi: at(1 - (1 - level) / 2) };
}

/** Share of paired items where a beats b; ties count half. a and b are scores on the same prompts and
 * seeds, in the same order. */
export function winRate(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`winRate: ${a.length} scores against ${b.length}`);
  if (a.length === 0) throw new Error("winRate: no scores");
  let w = 0;
  for (let i = 0; i < a.length; i++) w += a[i] > b[i] ? 1 : a[i] === b[i] ? 0.5 : 0;
  return w / a.length;
}
