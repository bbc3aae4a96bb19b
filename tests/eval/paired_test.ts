// Paired statistics against hand-computed values.
import assert from "node:assert/strict";
import { describeDiff, diffBootstrap, holm, mde, normalQuantile, verdict } from "../../lib/eval/paired.ts";
import { Rng } from "../../lib/util/rng.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

Deno.test("diffBootstrap keeps the pairing: a constant per-sample gain has a zero-width interval", () => {
  // b varies a lot between prompts; a = b + 0.1 on every sample. Only a paired resample is exact.
  const b = Array.from({ length: 40 }, (_, i) => (i * 37 % 11) / 10);
  const a = b.map((v) => v + 0.1);
  const cluster = b.map((_, i) => Math.floor(i / 2)); // 20 prompts x 2 eval seeds
  const d = diffBootstrap([a], [b], cluster, new Rng(1), { iters: 500 });
  close(d.diff, 0.1, 1e-12, "diff");
  close(d.lo, 0.1, 1e-12, "lo");
  close(d.hi, 0.1, 1e-12, "hi");
  close(d.se, 0, 1e-12, "se");
  assert.equal(d.p, 1 / 500);
});

Deno.test("diffBootstrap is seed-aware: two runs at +0.2 and +0.0 give d* in {0, 0.1, 0.2}", () => {
  const b = Array.from({ length: 30 }, (_, i) => (i % 7) / 7);
  const a = [b.map((v) => v + 0.2), b.map((v) => v)];
  const cluster = b.map((_, i) => i);
  const d = diffBootstrap(a, [b], cluster, new Rng(2), { iters: 4000 });
  close(d.diff, 0.1, 1e-12, "diff");
  assert.deepEqual(d.aRuns.map((v) => +v.toFixed(12)), [+(d.b + 0.2).toFixed(12), +d.b.toFixed(12)]);
  // P(d* = 0) = 1/4, P(0.1) = 1/2, P(0.2) = 1/4: the 2.5% and 97.5% points are 0 and 0.2.
  close(d.lo, 0, 1e-9, "lo");
  close(d.hi, 0.2, 1e-9, "hi");
  close(d.p, 0.5, 0.05, "p = 2 * P(d* <= 0)");
  close(d.se, Math.sqrt(0.005), 0.005, "se = sqrt(E[(d*-0.1)^2]) = sqrt(0.5 * 0.01)");
});

Deno.test("diffBootstrap: means of a hand case, and errors name the bad side", () => {
  const d = diffBootstrap([[1, 0, 1, 1]], [[0, 0, 1, 0]], [0, 0, 1, 1], new Rng(3), { iters: 200 });
  close(d.diff, 0.5, 1e-12, "diff");
  close(d.a, 0.75, 1e-12, "a");
  close(d.b, 0.25, 1e-12, "b");
  assert.throws(
    () => diffBootstrap([[1, 2]], [[1]], [0, 1], new Rng(1)),
    /side b run 0 has 1 samples, expected 2/,
  );
  assert.throws(
    () => diffBootstrap([[1, NaN]], [[1, 1]], [0, 1], new Rng(1)),
    /side a run 0 has a non-finite/,
  );
});

Deno.test("holm: step-down adjusted p-values by hand", () => {
  // sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, max(0.06, 0.04) = 0.06
  assert.deepEqual(holm([0.01, 0.04, 0.03]).map((v) => +v.toFixed(12)), [0.03, 0.06, 0.06]);
  // sorted 0.5, 0.6 -> min(1, 1.0), max(1, 0.6) = 1
  assert.deepEqual(holm([0.5, 0.6]).map((v) => +v.toFixed(12)), [1, 1]);
  assert.deepEqual(holm([0.2]), [0.2]);
});

Deno.test("normal quantiles and the minimum detectable effect", () => {
  close(normalQuantile(0.975), 1.959963985, 1e-8, "z 0.975");
  close(normalQuantile(0.8), 0.841621234, 1e-8, "z 0.8");
  close(normalQuantile(0.01), -2.326347874, 1e-8, "z 0.01");
  close(mde(1), 2.801585219, 1e-7, "mde(se 1)");
  close(mde(0.02), 0.05603170, 1e-7, "mde(se 0.02)");
});

Deno.test("verdicts: directional and equivalence claims", () => {
  const d = (diff: number, se: number) => ({
    diff,
    lo: diff - 2 * se,
    hi: diff + 2 * se,
    se,
    p: 0,
    a: 0,
    b: 0,
    aRuns: [],
    bRuns: [],
  });
  assert.equal(verdict(">", d(0.1, 0.01), 0.001), "holds");
  assert.equal(verdict(">", d(-0.1, 0.01), 0.001), "contradicted");
  assert.equal(verdict(">", d(0.1, 0.1), 0.3), "inconclusive");
  // equivalence within 0.03: |0.005| + 1.645 * 0.01 = 0.0214 < 0.03 -> holds
  assert.equal(verdict("~", d(0.005, 0.01), 0.6, { margin: 0.03 }), "holds");
  assert.equal(verdict("~", d(0.005, 0.02), 0.8, { margin: 0.03 }), "inconclusive");
  assert.equal(verdict("~", d(0.2, 0.01), 0.001, { margin: 0.03 }), "contradicted");
  assert.throws(() => verdict("~", d(0, 0.01), 0.5), /margin/);
  assert.equal(describeDiff(d(0.1, 0.01)), "better by 0.100 [0.080, 0.120]");
  assert.equal(describeDiff(d(-0.1, 0.01)), "worse by 0.100 [-0.120, -0.080]");
  assert.equal(describeDiff(d(0.01, 0.01)), "no measurable change (+0.010 [-0.010, 0.030])");
});
