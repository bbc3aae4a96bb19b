// The tape: accumulation when a tensor is used twice, no-grad scopes, the loud error for an op
// without a backward rule, release of saved tensors after backward, and scopes.
import assert from "node:assert/strict";
import { backward } from "../../lib/autograd/backward.ts";
import { add, mul } from "../../lib/ops/binary.ts";
import { conv2d } from "../../lib/ops/conv2d.ts";
import { linear } from "../../lib/ops/matmul.ts";
import { groupNorm, layerNorm } from "../../lib/ops/norm.ts";
import { sum } from "../../lib/ops/reduce.ts";
import { scale } from "../../lib/ops/scale.ts";
import { silu } from "../../lib/ops/unary.ts";
import { record } from "../../lib/ops/util.ts";
import { empty, parameter, tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu } from "../_helpers.ts";

Deno.test("gradients accumulate when a tensor is used twice, and across backward calls on leaves", async () => {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const x = tensor(ctx, [1, -2, 3], [3]);
    x.requiresGrad = true;
    const y = mul(ctx, x, x); // dy/dx = 2x
    const z = add(ctx, y, x); // used again: + 1
    backward(ctx, sum(ctx, z));
    assertClose(await x.grad!.read(), [3, -3, 7], "x*x + x");
    const p = parameter(ctx, [0.5, 1], [2], "p");
    for (let i = 0; i < 2; i++) backward(ctx, sum(ctx, mul(ctx, p, p)));
    assertClose(await p.grad!.read(), [2, 4], "two backward calls accumulate into a persistent leaf");
    p.grad!.persistent = false;
    p.grad!.dispose();
    p.persistent = false;
    p.dispose();
  });
});

Deno.test("noGrad records nothing; an op without a backward rule fails loudly", async () => {
  const ctx = await gpu();
  await ctx.scope(() => {
    const x = tensor(ctx, [1, 2], [2]);
    x.requiresGrad = true;
    const y = ctx.noGrad(() => silu(ctx, x));
    assert.equal(y.requiresGrad, false);
    assert.equal(ctx.tape.nodes.length, 0);
    const out = empty(ctx, [2]);
    record(ctx, "mystery", [x], out); // no backward rule
    const s = sum(ctx, out);
    assert.throws(() => backward(ctx, s), /op "mystery" has no backward rule/);
    ctx.tape.clear();
  });
});

Deno.test("backward releases the saved intermediates; scopes release the rest", async () => {
  const ctx = await gpu();
  const before = ctx.pool.inUse;
  await ctx.scope(async () => {
    const x = tensor(ctx, new Float32Array(4096).fill(0.5), [4096]);
    x.requiresGrad = true;
    let h = x;
    for (let i = 0; i < 10; i++) h = silu(ctx, h);
    const loss = sum(ctx, h);
    const peak = ctx.pool.inUse;
    backward(ctx, loss);
    assert.ok(
      ctx.pool.inUse < peak - 8 * 4096 * 4,
      `intermediates not released: ${ctx.pool.inUse} vs ${peak}`,
    );
    assert.equal(ctx.tape.nodes.length, 0);
    await x.grad!.read();
  });
  assert.equal(ctx.pool.inUse, before, "scope left tensors behind");
});

Deno.test("gradients folded into GEMM and norm epilogues (prior) equal the accumulate pass's, bit for bit", async () => {
  const ctx = await gpu();
  const rnd = (n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i * 1.37));
  // A run of the graph: x = 1.5 p feeds two Linears, a LayerNorm whose Linear adds x back as its
  // residual; u = 0.5 q feeds two uniform-path 3x3 convs and a GroupNorm + SiLU. Every use after the
  // first reaches x or u with a gradient so far.
  const run = async (fold: boolean) =>
    await ctx.scope(async () => {
      const p = tensor(ctx, rnd(24 * 16, 1), [24, 16]), q = tensor(ctx, rnd(2 * 8 * 6 * 6, 2), [2, 8, 6, 6]);
      p.requiresGrad = q.requiresGrad = true;
      const w = (n: number, s: number, shape: readonly number[]) =>
        tensor(ctx, rnd(n, s).map((v) => v * 0.3), shape);
      const x = scale(ctx, p, 1.5), u = scale(ctx, q, 0.5);
      const ln = layerNorm(ctx, x, w(16, 3, [16]), w(16, 4, [16]), 1e-5);
      const ys = [
        linear(ctx, x, w(16 * 16, 5, [16, 16]), null),
        linear(ctx, x, w(16 * 16, 6, [16, 16]), w(16, 7, [16])),
        linear(ctx, ln, w(16 * 16, 8, [16, 16]), null, x),
        conv2d(ctx, u, w(8 * 8 * 9, 9, [8, 8, 3, 3]), null),
        conv2d(ctx, u, w(8 * 8 * 9, 10, [8, 8, 3, 3]), null),
        groupNorm(ctx, u, w(8, 11, [8]), w(8, 12, [8]), 4, 1e-5, true),
      ];
      const d0 = ctx.stats.dispatches;
      const loss = ys.map((y, i) => sum(ctx, mul(ctx, y, w(y.size, 20 + i, y.shape)))).reduce((a, b) =>
        add(ctx, a, b)
      );
      backward(ctx, loss, { fold });
      return { gp: await p.grad!.read(), gq: await q.grad!.read(), dispatches: ctx.stats.dispatches - d0 };
    });
  const folded = await run(true), plain = await run(false);
  assert.deepEqual(folded.gp, plain.gp, "p's gradient");
  assert.deepEqual(folded.gq, plain.gq, "q's gradient");
  // x: 2 Linear inputs + the LayerNorm after the residual; u: the second conv and the GroupNorm
  assert.equal(plain.dispatches - folded.dispatches, 5, "accumulate passes saved");
});
