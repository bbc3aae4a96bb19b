// The tape: accumulation when a tensor is used twice, no-grad scopes, the loud error for an op
// without a backward rule, release of saved tensors after backward, and scopes.
import assert from "node:assert/strict";
import { backward } from "../../lib/autograd/backward.ts";
import { add, mul } from "../../lib/ops/binary.ts";
import { sum } from "../../lib/ops/reduce.ts";
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
