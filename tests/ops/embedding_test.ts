// Timestep embedding: GPU vs the float64 reference of diffusers' get_timestep_embedding, with both
// flip_sin_to_cos settings, freq_shift 0 and 1, odd dims (zero pad) and timesteps up to 999.
import { timestepEmbedding } from "../../lib/ops/embedding.ts";
import { timestepEmbeddingRef } from "../../lib/ref/layers.ts";
import { assertClose, gpu, worstErrors } from "../_helpers.ts";

Deno.test("timestepEmbeddingRef: known values", () => {
  // t = 0: sin 0 = 0 then cos 0 = 1; dim 5 pads one zero
  const e = timestepEmbeddingRef([0], 5);
  assertClose(e.data, [0, 0, 1, 1, 0], "embedding ref t=0", 0, 0);
  // half = 2, shift 0: freqs [1, 10000^-1/2]; flip puts cos first
  const f = timestepEmbeddingRef([3], 4, { flipSinToCos: true, freqShift: 0 });
  assertClose(
    f.data,
    [Math.cos(3), Math.cos(0.03), Math.sin(3), Math.sin(0.03)],
    "embedding ref flip",
    1e-15,
    0,
  );
});

Deno.test("timestepEmbedding GPU matches reference", async () => {
  const ctx = await gpu();
  const ts = [0, 1, 17, 250.5, 500, 999];
  const cases: [number, { flipSinToCos?: boolean; freqShift?: number; maxPeriod?: number }][] = [
    [1, {}],
    [2, { freqShift: 0 }],
    [3, { flipSinToCos: true, freqShift: 0 }],
    [31, { flipSinToCos: true }],
    [64, { freqShift: 0, flipSinToCos: true }],
    [65, {}],
    [320, { flipSinToCos: true, freqShift: 0 }],
    [128, { maxPeriod: 1000 }],
  ];
  for (const [dim, opts] of cases) {
    const label = `embedding dim=${dim} ${JSON.stringify(opts)}`;
    const want = timestepEmbeddingRef(ts, dim, opts);
    await ctx.scope(async () => {
      const e = timestepEmbedding(ctx, ts, dim, opts);
      if (e.requiresGrad) throw new Error(`${label}: embedding must not require grad`);
      // f32 arithmetic (as diffusers): the argument t * freq carries a couple of f32 ulps relative
      // error (exp and the product), so each row's tolerance grows with its t: 2.4e-4 at t = 999.
      const got = await e.read();
      ts.forEach((t, b) => {
        const row = (d: ArrayLike<number>) => Array.from(d).slice(b * dim, (b + 1) * dim);
        assertClose(row(got), row(want.data), label, 2e-6 + 2.4e-7 * t, 0);
      });
    });
  }
  for (const [k, v] of worstErrors) {
    if (k.startsWith("embedding dim")) console.log(`${k}: ${v.toExponential(2)}`);
  }
});
