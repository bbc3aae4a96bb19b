import assert from "node:assert/strict";
import { Rng } from "../../lib/util/rng.ts";

Deno.test("Rng is deterministic and seeds differ", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 8 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 8 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 8 }, () => c.next()));
  for (const x of xs) assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
});

Deno.test("fork depends on key and label only, not on draws", () => {
  const a = new Rng(7), b = new Rng(7);
  b.next();
  b.next();
  assert.equal(a.fork("x").next(), b.fork("x").next());
  assert.notEqual(a.fork("x").next(), a.fork("y").next());
  assert.equal(a.fork(3).next(), a.fork("3").next());
  assert.notEqual(a.fork("x").fork("y").next(), a.fork("y").fork("x").next());
});

Deno.test("uniform, normal and int have the right moments and ranges", () => {
  const r = new Rng(1);
  const n = 20000;
  let su = 0, sn = 0, sn2 = 0;
  const counts = [0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    assert.ok(u >= 0 && u < 1);
    su += u;
    const z = r.normal();
    sn += z;
    sn2 += z * z;
    counts[r.int(7)]++;
  }
  assert.ok(Math.abs(su / n - 0.5) < 0.01);
  assert.ok(Math.abs(sn / n) < 0.03 && Math.abs(sn2 / n - 1) < 0.05);
  for (const c of counts) assert.ok(Math.abs(c / n - 1 / 7) < 0.015, `int(7) counts ${counts}`);
  const buf = r.fillNormal(new Float32Array(10001));
  assert.ok(buf.every(Number.isFinite));
});

Deno.test("shuffle is a permutation, pick stays in the array, bad input throws", () => {
  const r = new Rng(3);
  const arr = Array.from({ length: 50 }, (_, i) => i);
  const s = r.shuffle([...arr]);
  assert.notDeepEqual(s, arr);
  assert.deepEqual([...s].sort((a, b) => a - b), arr);
  assert.ok(arr.includes(r.pick(arr)));
  assert.throws(() => r.pick([]), /empty/);
  assert.throws(() => r.int(0), /n must be/);
  assert.throws(() => new Rng(-1), /seed/);
});
