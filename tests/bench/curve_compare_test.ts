// bench/curve_compare.ts: paired differences between sampler-curve results on the same prompts and seeds.
import assert from "node:assert";
import { compareCurves } from "../../bench/curve_compare.ts";

const curve = (guidance: number, rate: number[], seeds = 2) => ({
  ckpt: "m",
  prompts: "p.jsonl",
  seeds,
  guidance,
  backend: "test",
  points: [{
    sampler: "dpmsolver++" as const,
    steps: 10,
    score: { mean: 0, lo: 0, hi: 0 },
    scores: rate,
    msPerSample: 1,
    metrics: { taste: rate, taste_rate: rate, guard: rate.map(() => 0.8), headline: rate },
  }],
});

Deno.test("curve-compare: each file's means and its paired difference to the first", () => {
  // 2 prompts x 2 seeds; the second file has the taste on every sample the first lacks it on
  const a = curve(1, [0, 1, 0, 0]), b = curve(3, [1, 1, 1, 0]);
  const table = compareCurves([{ name: "a", curve: a }, { name: "b", curve: b }]);
  const [, , rowA, rowB] = table.split("\n");
  assert.match(rowA, /\| 0\.250 \(\+0\.000 \[0\.000, 0\.000\]\)/);
  // taste rate 0.25 -> 0.75: +0.5, and guard unchanged
  assert.match(rowB, /\| 3 \| dpmsolver\+\+:10 \| 0\.750 \(\+0\.500 \[/);
  assert.match(rowB, /\| 0\.800 \(\+0\.000 \[0\.000, 0\.000\]\)/);
});

Deno.test("curve-compare: files on other seeds are refused, naming the file and field", () => {
  const a = curve(1, [0, 1, 0, 0]), b = curve(1, [0, 1, 0, 0, 1, 1], 3);
  assert.throws(
    () => compareCurves([{ name: "a.json", curve: a }, { name: "b.json", curve: b }]),
    /b\.json: seeds 3 differs from a\.json's 2/,
  );
});
