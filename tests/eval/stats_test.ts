import assert from "node:assert/strict";
import { Rng } from "../../lib/util/rng.ts";
import { bootstrapCI, winRate } from "../../lib/eval/stats.ts";

Deno.test("bootstrapCI brackets the mean, is deterministic, and narrows with n", () => {
  const r = new Rng(1);
  const small = Array.from({ length: 20 }, () => r.uniform());
  const big = Array.from({ length: 2000 }, () => r.uniform());
  const a = bootstrapCI(small, new Rng(5)), b = bootstrapCI(small, new Rng(5));
  assert.deepEqual(a, b);
  assert.ok(a.lo <= a.mean && a.mean <= a.hi && a.lo < a.hi);
  const c = bootstrapCI(big, new Rng(5));
  assert.ok(c.hi - c.lo < (a.hi - a.lo) / 3);
  assert.ok(Math.abs(c.mean - 0.5) < 0.03 && c.lo < 0.5 + 0.03);
  assert.deepEqual(bootstrapCI([0.3, 0.3, 0.3], new Rng(1)), { mean: 0.3, lo: 0.3, hi: 0.3 });
  assert.throws(() => bootstrapCI([], new Rng(1)), /no values/);
});

Deno.test("winRate counts ties as half", () => {
  assert.equal(winRate([1, 0, 0.5, 0.2], [0, 1, 0.5, 0.1]), (1 + 0 + 0.5 + 1) / 4);
  assert.throws(() => winRate([1], [1, 2]), /1 scores against 2/);
});
