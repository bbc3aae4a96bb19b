// Packed weight layouts kept while weights are frozen (ctx.withFrozenWeights, lib/ops/util.ts
// packedWeight): a persistent weight's conv2d and Linear packs are made once and give the same bits as
// packing anew; a non-persistent one is packed on every call; nothing is left behind afterwards.
import assert from "node:assert/strict";
import { conv2d } from "../../lib/ops/conv2d.ts";
import { linear } from "../../lib/ops/matmul.ts";
import { gpu, randNd, upload } from "../_helpers.ts";

Deno.test("withFrozenWeights: conv2d and Linear packs of persistent weights are made once, same bits", async () => {
  const ctx = await gpu();
  await ctx.sync();
  const before = ctx.pool.inUse;
  // a 3x3 conv and a Linear that take the uniform-window kernels (their packs are what is cached)
  const x = upload(ctx, randNd([4, 32, 8, 8], 1)), w = upload(ctx, randNd([32, 32, 3, 3], 2)).keep();
  const xl = upload(ctx, randNd([256, 64], 3)), wl = upload(ctx, randNd([48, 64], 4)).keep();
  const wTmp = upload(ctx, randNd([32, 32, 3, 3], 2)); // the same values, not persistent
  const run = async (f: () => ReturnType<typeof conv2d>) => {
    const d0 = ctx.stats.dispatches;
    const y = f();
    const dispatches = ctx.stats.dispatches - d0;
    const out = await y.read();
    y.dispose();
    return { out, dispatches };
  };
  const conv = (ww = w) => conv2d(ctx, x, ww, null, { padding: 1 });
  const lin = () => linear(ctx, xl, wl, null);
  const plainConv = await run(() => conv()), plainLin = await run(lin);
  await ctx.withFrozenWeights(async () => {
    const c1 = await run(() => conv()), c2 = await run(() => conv());
    assert.deepEqual(c1.dispatches, plainConv.dispatches, "the first call packs");
    assert.deepEqual(c2.dispatches, plainConv.dispatches - 1, "the second call reuses the pack");
    assert.deepEqual(c2.out, plainConv.out, "conv2d from the kept pack: same bits");
    const l1 = await run(lin), l2 = await run(lin);
    assert.deepEqual(l1.dispatches, plainLin.dispatches);
    assert.deepEqual(l2.dispatches, plainLin.dispatches - 1);
    assert.deepEqual(l2.out, plainLin.out, "linear from the kept pack: same bits");
    const t1 = await run(() => conv(wTmp)), t2 = await run(() => conv(wTmp));
    assert.ok(
      t1.dispatches === plainConv.dispatches && t2.dispatches === plainConv.dispatches,
      "not persistent: no cache",
    );
    assert.deepEqual(t2.out, plainConv.out);
  });
  // outside again: packs are made per call
  assert.deepEqual((await run(() => conv())).dispatches, plainConv.dispatches);
  for (const t of [w, wl]) t.persistent = false;
  for (const t of [x, w, xl, wl, wTmp]) t.dispose();
  await ctx.sync();
  assert.deepEqual(ctx.pool.inUse, before, "the kept packs are released when the frozen section ends");
});
