// Counter-based RNG: same numbers from the same seed and offset whatever the dispatch shape,
// equal to the CPU mirror, and standard-normal moments.
import { rand, randn } from "../../lib/ops/rng.ts";
import { randnRef, randRef } from "../../lib/ref/rng.ts";
import { concat } from "../../lib/ops/copy.ts";
import { assertClose, gpu } from "../_helpers.ts";

Deno.test("randn: independent of how the draw is split, equal to the CPU mirror", async () => {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const whole = await randn(ctx, [1000], 42, 7).read();
    const parts = concat(ctx, [randn(ctx, [333], 42, 7), randn(ctx, [667], 42, 340)], 0);
    const split = await parts.read();
    assertClose(split, whole, "randn split vs whole", 0, 0);
    const shaped = await randn(ctx, [10, 5, 20], 42, 7).read();
    assertClose(shaped, whole, "randn shape independence", 0, 0);
    assertClose(whole, randnRef(1000, 42, 7), "randn vs CPU mirror", 2e-5, 2e-5);
    assertClose(await rand(ctx, [257], 3, 0).read(), randRef(257, 3, 0), "rand vs CPU mirror", 1e-7, 0);
  });
});

Deno.test("randn: seeds differ, moments are standard normal", async () => {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const n = 200000;
    const a = await randn(ctx, [n], 1).read();
    const b = await randn(ctx, [n], 2).read();
    let same = 0, m = 0, v = 0, m3 = 0, corr = 0;
    for (let i = 0; i < n; i++) {
      if (a[i] === b[i]) same++;
      m += a[i] / n;
    }
    for (let i = 0; i < n; i++) {
      v += (a[i] - m) ** 2 / n;
      m3 += (a[i] - m) ** 3 / n;
      corr += a[i] * b[i] / n;
    }
    if (same > 5) throw new Error(`seeds 1 and 2 share ${same} values`);
    // 5-sigma bounds for n = 200000: mean 0.011, variance 0.016, correlation 0.011
    if (Math.abs(m) > 0.011 || Math.abs(v - 1) > 0.016 || Math.abs(m3) > 0.03 || Math.abs(corr) > 0.011) {
      throw new Error(`moments off: mean ${m}, var ${v}, third ${m3}, corr ${corr}`);
    }
    const u = await rand(ctx, [n], 5).read();
    if (u.some((x) => x < 0 || x >= 1)) throw new Error("rand outside [0, 1)");
  });
});
