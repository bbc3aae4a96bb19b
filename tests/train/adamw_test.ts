// AdamW with weight decay, bias correction and global-norm clipping vs the float64 reference.
import assert from "node:assert/strict";
import { AdamW, flatGroups } from "../../lib/train/adamw.ts";
import { adamwRef, type AdamWRefState } from "../../lib/ref/ops.ts";
import { parameter, tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu, seeded } from "../_helpers.ts";

for (const groupFloats of [undefined, 100]) {
  const what = groupFloats ? `flat groups of <= ${groupFloats} floats` : "one flat group";
  Deno.test(`AdamW + clipping (${what}): three steps match the float64 reference`, async () => {
    await adamwSteps(groupFloats);
  });
}

Deno.test("flatGroups: parameters with a grad end to end, cut at the limit, one oversized parameter alone", async () => {
  const ctx = await gpu();
  await ctx.scope(() => {
    const ps = [3, 5, 200, 4, 4].map((n, i) => parameter(ctx, new Float32Array(n), [n], `q${i}`));
    ps.forEach((p, i) => {
      if (i !== 1) p.grad = p;
    });
    const g = flatGroups(ps, 10);
    const view = g.map((x) => [x.size, x.items.map((it) => `${it.i}@${it.off}`).join(" ")]);
    if (JSON.stringify(view) !== JSON.stringify([[3, "0@0"], [200, "2@0"], [8, "3@0 4@4"]])) {
      throw new Error(`flatGroups: ${JSON.stringify(view)}`);
    }
    ps.forEach((p) => (p.grad = null));
  });
});

async function adamwSteps(groupFloats: number | undefined) {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const sizes = [1, 65, 300];
    const p64 = sizes.map((n, i) => seeded(n, i + 1));
    const params = p64.map((d, i) => parameter(ctx, Float32Array.from(d), [d.length], `p${i}`));
    const opts = { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1.5 };
    const opt = new AdamW(ctx, params, { ...opts, groupFloats });
    const state: AdamWRefState[] = sizes.map((n) => ({
      m: new Float64Array(n),
      v: new Float64Array(n),
      step: 0,
    }));
    for (let step = 0; step < 3; step++) {
      const grads = sizes.map((n, i) => seeded(n, 100 * step + i, -2, 2));
      // the last step leaves parameter 1 without a grad: it and its moments stay as they were
      const has = (i: number) => step < 2 || i !== 1;
      params.forEach((p, i) => {
        if (has(i)) p.grad = tensor(ctx, Float32Array.from(grads[i]), [sizes[i]]).keep();
      });
      opt.update();
      const on = sizes.map((_, i) => i).filter(has);
      const norm = adamwRef(on.map((i) => p64[i]), on.map((i) => grads[i]), on.map((i) => state[i]), opts);
      assertClose([await opt.lastGradNorm()], [norm], `grad norm step ${step}`, 1e-5, 1e-5);
      for (let i = 0; i < params.length; i++) {
        assertClose(await params[i].read(), p64[i], `AdamW param ${i} step ${step}`, 2e-6, 1e-5);
      }
      opt.zeroGrad();
    }
  });
}

Deno.test("AdamW guard: a NaN/inf gradient, an overflowing norm or a NaN watched loss skips the update, counted", async () => {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const sizes = [1, 65, 257];
    const params = sizes.map((n, i) => parameter(ctx, Float32Array.from(seeded(n, i + 1)), [n], `p${i}`));
    const opt = new AdamW(ctx, params, { lr: 0.01, weightDecay: 0.1, maxGradNorm: 1 });
    const snapshot = async () => [
      ...await Promise.all(params.map((p) => p.read())),
      ...await Promise.all(opt.m.map((m) => m.read())),
      ...await Promise.all(opt.v.map((v) => v.read())),
    ];
    // Per update: which parameter gets a bad gradient value (and which), or a bad watched loss.
    const plan: { bad?: [number, number]; loss?: number; skip: boolean }[] = [
      { skip: false },
      { bad: [2, NaN], skip: true }, // update 2
      { bad: [0, Infinity], skip: true }, // update 3
      { skip: false },
      { bad: [1, 3e25], skip: true }, // update 5: finite, but its square overflows f32
      { loss: NaN, skip: true }, // update 6
      { loss: -Infinity, skip: true }, // update 7
      { skip: false },
    ];
    for (const [k, u] of plan.entries()) {
      params.forEach((p, i) => {
        const g = Float32Array.from(seeded(sizes[i], 10 * k + i, -2, 2));
        if (u.bad && u.bad[0] === i) g[g.length - 1] = u.bad[1];
        p.grad = tensor(ctx, g, [sizes[i]]).keep();
      });
      const watch = tensor(ctx, Float32Array.of(0.5, u.loss ?? 0.25, 1), [3]);
      const before = await snapshot();
      // Odd updates watch two buffers (one per micro-batch), checked as one.
      opt.update(undefined, k % 2 ? [tensor(ctx, Float32Array.of(1, 2), [2]), watch] : watch);
      const after = await snapshot();
      const same = after.every((a, i) => a.every((v, j) => Object.is(v, before[i][j])));
      if (u.skip) assert.ok(same, `update ${k + 1}: skipped, yet weights or moments changed`);
      else assert.ok(!same && after.every((a) => a.every(Number.isFinite)), `update ${k + 1} should apply`);
      opt.zeroGrad();
    }
    const g = await opt.readGuard();
    assert.deepEqual(
      { ...g, gradNorm: 0 },
      {
        gradNorm: 0,
        skipped: 5,
        run: 0,
        longestRun: 3,
        longestRunEnd: 7,
        first: 2,
        last: 7,
        firstKind: "gradient norm",
      },
    );
    assert.equal(opt.step, plan.length, "skipped updates still advance the bias-correction step");
  });
});
