// End to end: a toy network trained with AdamW through the tape lowers its loss at least tenfold,
// and the same seed gives the same losses.
import assert from "node:assert/strict";
import { trainToy } from "../../lib/train/toy.ts";
import { gpu } from "../_helpers.ts";

Deno.test("toy MLP: loss falls at least tenfold; reproducible from the seed", async () => {
  const ctx = await gpu();
  const inUse = ctx.pool.inUse;
  const log = await trainToy(ctx, { steps: 300, logEvery: 100 });
  const first = log[0][1], last = log[log.length - 1][1];
  assert.ok(first / last >= 10, `loss only fell from ${first} to ${last}`);
  const again = await trainToy(ctx, { steps: 20, logEvery: 10 });
  const again2 = await trainToy(ctx, { steps: 20, logEvery: 10 });
  assert.deepEqual(again, again2);
  assert.equal(ctx.pool.inUse, inUse, "training leaked GPU buffers");
});
