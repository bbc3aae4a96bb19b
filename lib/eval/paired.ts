// Statistics that answer "is A better than B?" on paired evaluations (same prompts, same eval seeds):
//   diffBootstrap  the difference of means with a seed-aware 95% interval: a two-level bootstrap that
//                  resamples training runs (each side independently: different training seeds are
//                  independent trainings) and prompts (jointly for both sides, with all of a prompt's
//                  eval seeds, so the pairing by prompt and seed is kept)
//   holm           Holm's step-down correction of a family of p-values
//   verdict        holds / contradicted / inconclusive for a directional or an equivalence claim
//   mde            the smallest true difference the design detects with 80% power at alpha 0.05
// Everything is deterministic given the Rng.

import type { Rng } from "../util/rng.ts";

/** One side of a comparison: per training run, per eval sample (sample i of every run is the same
 * prompt and eval seed). A base model is one run. */
export type Runs = readonly (readonly number[])[];

export interface DiffInterval {
  /** mean(a) - mean(b): means over runs of the per-run means. */
  diff: number;
  lo: number;
  hi: number;
  /** Bootstrap standard deviation of the difference (its standard error). */
  se: number;
  /** Two-sided bootstrap p-value of diff = 0: 2 * min(P(d* <= 0), P(d* >= 0)), at least 1 / iters. */
  p: number;
  /** Mean of each side, and per-run means of each side. */
  a: number;
  b: number;
  aRuns: number[];
  bRuns: number[];
}

export interface BootstrapOptions {
  iters?: number;
  level?: number;
}

const meanOf = (xs: readonly number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;

/** Samples grouped by prompt: cluster[i] = the prompt index of sample i. */
function groups(cluster: readonly number[]): number[][] {
  const by = new Map<number, number[]>();
  cluster.forEach((c, i) => {
    if (!by.has(c)) by.set(c, []);
    by.get(c)!.push(i);
  });
  return [...by.values()];
}

function checkRuns(r: Runs, n: number, name: string) {
  if (r.length === 0) throw new Error(`diffBootstrap: side ${name} has no runs`);
  for (const [k, run] of r.entries()) {
    if (run.length !== n) {
      throw new Error(`diffBootstrap: side ${name} run ${k} has ${run.length} samples, expected ${n}`);
    }
    if (run.some((v) => !Number.isFinite(v))) {
      throw new Error(`diffBootstrap: side ${name} run ${k} has a non-finite score`);
    }
  }
}

/** Cluster ids of n prompt-major samples with `seeds` samples per prompt: sample i belongs to prompt i / seeds. */
export function promptClusters(n: number, seeds: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(i / seeds));
}

/**
 * Difference of means a - b with a seed-aware bootstrap interval. a, b: runs x samples, all runs of
 * both sides scored on the same samples in the same order; cluster: prompt index per sample.
 */
export function diffBootstrap(
  a: Runs,
  b: Runs,
  cluster: readonly number[],
  rng: Rng,
  o: BootstrapOptions = {},
): DiffInterval {
  const iters = o.iters ?? 2000, level = o.level ?? 0.95;
  const n = cluster.length;
  checkRuns(a, n, "a");
  checkRuns(b, n, "b");
  const g = groups(cluster);
  // Per run, per prompt: the sum of the run's scores over the prompt's samples (and the count).
  const sums = (r: Runs) => r.map((run) => g.map((idx) => idx.reduce((s, i) => s + run[i], 0)));
  const sa = sums(a), sb = sums(b);
  const counts = g.map((idx) => idx.length);
  const aRuns = a.map(meanOf), bRuns = b.map(meanOf);
  const diff = meanOf(aRuns) - meanOf(bRuns);
  const ds = new Float64Array(iters);
  const pick = new Int32Array(g.length);
  for (let k = 0; k < iters; k++) {
    let total = 0;
    for (let j = 0; j < g.length; j++) {
      pick[j] = rng.int(g.length);
      total += counts[pick[j]];
    }
    const side = (s: number[][]) => {
      let acc = 0;
      for (let r = 0; r < s.length; r++) {
        const run = s[rng.int(s.length)];
        let t = 0;
        for (let j = 0; j < pick.length; j++) t += run[pick[j]];
        acc += t / total;
      }
      return acc / s.length;
    };
    ds[k] = side(sa) - side(sb);
  }
  const sorted = Float64Array.from(ds).sort();
  const at = (q: number) => sorted[Math.min(iters - 1, Math.max(0, Math.round(q * (iters - 1))))];
  const m = meanOf(Array.from(ds));
  const se = Math.sqrt(ds.reduce((s, v) => s + (v - m) ** 2, 0) / Math.max(1, iters - 1));
  let le = 0, ge = 0;
  for (const v of ds) {
    if (v <= 0) le++;
    if (v >= 0) ge++;
  }
  const p = Math.min(1, Math.max(1 / iters, (2 * Math.min(le, ge)) / iters));
  return {
    diff,
    lo: at((1 - level) / 2),
    hi: at(1 - (1 - level) / 2),
    se,
    p,
    a: meanOf(aRuns),
    b: meanOf(bRuns),
    aRuns,
    bRuns,
  };
}

/** Holm's step-down adjusted p-values (same order as given): p_(i) * (m - i + 1), made monotone. */
export function holm(p: readonly number[]): number[] {
  const m = p.length;
  const order = p.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(m);
  let run = 0;
  order.forEach(([v, i], k) => {
    run = Math.max(run, Math.min(1, v * (m - k)));
    out[i] = run;
  });
  return out;
}

/** Normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(q: number): number {
  if (!(q > 0 && q < 1)) throw new Error(`normalQuantile: q must be in (0, 1), got ${q}`);
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (q < lo || q > 1 - lo) {
    const s = Math.sqrt(-2 * Math.log(q < lo ? q : 1 - q));
    const x = (((((c[0] * s + c[1]) * s + c[2]) * s + c[3]) * s + c[4]) * s + c[5]) /
      ((((d[0] * s + d[1]) * s + d[2]) * s + d[3]) * s + 1);
    return q < lo ? x : -x;
  }
  const r = q - 0.5, s = r * r;
  return (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r /
    (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
}

/** Minimum detectable effect of a two-sided test at `alpha` with `power`, given the difference's SE. */
export function mde(se: number, alpha = 0.05, power = 0.8): number {
  return (normalQuantile(1 - alpha / 2) + normalQuantile(power)) * se;
}

export type Verdict = "holds" | "contradicted" | "inconclusive";

/**
 * The verdict on a pre-stated claim about d = a - b, given its Holm-adjusted p-value:
 *   "a > b":    holds when d > 0 and padj < alpha; contradicted when d < 0 and padj < alpha.
 *   "a ~ b":    equivalence within +-margin: holds when the (1 - 2 alpha) interval, approximated by
 *               d +- z * se, lies inside (-margin, margin); contradicted when padj < alpha (a real
 *               difference); otherwise inconclusive.
 */
export function verdict(
  claim: ">" | "~",
  d: DiffInterval,
  padj: number,
  o: { alpha?: number; margin?: number } = {},
): Verdict {
  const alpha = o.alpha ?? 0.05;
  if (claim === ">") {
    if (padj < alpha) return d.diff > 0 ? "holds" : "contradicted";
    return "inconclusive";
  }
  const margin = o.margin;
  if (margin === undefined || !(margin > 0)) {
    throw new Error("verdict: an equivalence claim needs a margin > 0");
  }
  if (padj < alpha) return "contradicted";
  const z = normalQuantile(1 - alpha);
  return Math.abs(d.diff) + z * d.se < margin ? "holds" : "inconclusive";
}

/** "better by 0.123 [0.05, 0.20]" / "worse by ..." / "no measurable change (-0.01 [-0.05, 0.03])". */
export function describeDiff(d: DiffInterval, digits = 3): string {
  const f = (v: number) => v.toFixed(digits);
  const ci = `[${f(d.lo)}, ${f(d.hi)}]`;
  if (d.lo > 0) return `better by ${f(d.diff)} ${ci}`;
  if (d.hi < 0) return `worse by ${f(-d.diff)} ${ci}`;
  return `no measurable change (${d.diff >= 0 ? "+" : ""}${f(d.diff)} ${ci})`;
}
