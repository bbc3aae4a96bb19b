// AdamW with weight decay, bias correction and global-norm clipping vs the float64 reference.
import { AdamW } from "../../lib/train/adamw.ts";
import { adamwRef, type AdamWRefState } from "../../lib/ref/ops.ts";
import { parameter, tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu, seeded } from "../_helpers.ts";

Deno.test("AdamW + clipping: three steps match the float64 reference", async () => {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const sizes = [1, 65, 300];
    const p64 = sizes.map((n, i) => seeded(n, i + 1));
    const params = p64.map((d, i) => parameter(ctx, Float32Array.from(d), [d.length], `p${i}`));
    const opts = { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1.5 };
    const opt = new AdamW(ctx, params, opts);
    const state: AdamWRefState[] = sizes.map((n) => ({
      m: new Float64Array(n),
      v: new Float64Array(n),
      step: 0,
    }));
    for (let step = 0; step < 3; step++) {
      const grads = sizes.map((n, i) => seeded(n, 100 * step + i, -2, 2));
      params.forEach((p, i) => (p.grad = tensor(ctx, Float32Array.from(grads[i]), [sizes[i]]).keep()));
      opt.update();
      const norm = adamwRef(p64, grads, state, opts);
      assertClose([await opt.lastGradNorm()], [norm], `grad norm step ${step}`, 1e-5, 1e-5);
      for (let i = 0; i < params.length; i++) {
        assertClose(await params[i].read(), p64[i], `AdamW param ${i} step ${step}`, 2e-6, 1e-5);
      }
      opt.zeroGrad();
    }
  });
});
