// The checkpoint pool: snapshots every `interval` updates, eviction keeps theta_0 and drops the
// oldest other entry, reference selection is pure and seeded, GPU budget spills to disk, and a
// saved pool restores exactly.
import assert from "node:assert/strict";
import { CheckpointPool, selectReference, type Weights } from "../../lib/train/pool.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { gpu } from "../_helpers.ts";
import type { GpuContext } from "../../lib/gpu/context.ts";

function weights(ctx: GpuContext, v: number): Weights {
  return new Map([
    ["a.weight", tensor(ctx, [v, v + 1, v + 2], [3]).keep()],
    ["b.bias", tensor(ctx, [10 * v], [1]).keep()],
  ]);
}

async function valueOf(w: Weights): Promise<number> {
  return (await w.get("a.weight")!.read())[0];
}

Deno.test("pool: snapshot interval, size cap, eviction keeps theta_0", async () => {
  const ctx = await gpu();
  const pool = new CheckpointPool(ctx, { size: 3, interval: 30 });
  const policy = weights(ctx, 0);
  await pool.add(0, policy);
  for (let update = 1; update <= 120; update++) {
    policy.get("a.weight")!.dispose();
    policy.set("a.weight", tensor(ctx, [update, 0, 0], [3]).keep());
    await pool.maybeSnapshot(update, policy);
  }
  assert.deepEqual(pool.entries.map((e) => e.update), [0, 90, 120]);
  const probe = weights(ctx, -1);
  await pool.loadInto(0, probe);
  assert.equal(await valueOf(probe), 0, "theta_0 survives eviction");
  await pool.loadInto(2, probe);
  assert.equal(await valueOf(probe), 120);
  pool.dispose();
});

Deno.test("selectReference: initial, latest, uniform (pure, seeded, covers the pool)", () => {
  assert.equal(selectReference("initial", 5, 1, 17), 0);
  assert.equal(selectReference("latest", 5, 1, 17), 4);
  const picks = Array.from({ length: 700 }, (_, u) => selectReference("uniform", 7, 42, u));
  assert.deepEqual(picks, Array.from({ length: 700 }, (_, u) => selectReference("uniform", 7, 42, u)));
  const counts = new Array(7).fill(0);
  for (const p of picks) counts[p]++;
  assert.ok(counts.every((c) => c > 60 && c < 140), `uniform counts off: ${counts}`);
  const other = Array.from({ length: 700 }, (_, u) => selectReference("uniform", 7, 43, u));
  assert.notDeepEqual(picks, other, "the seed matters");
});

Deno.test("pool: over the GPU budget entries spill to disk; save and restore round-trip", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir();
  try {
    const pool = new CheckpointPool(ctx, { size: 4, interval: 1, gpuBudgetBytes: 2 * 16, dir });
    for (let u = 0; u < 4; u++) await pool.add(u, weights(ctx, u));
    assert.ok(pool.entries[0].weights, "theta_0 stays on the GPU");
    assert.ok(pool.entries.some((e) => !e.weights && e.file), "something spilled");
    const probe = weights(ctx, -1);
    for (let i = 0; i < 4; i++) {
      await pool.loadInto(i, probe);
      assert.equal(await valueOf(probe), i);
      assert.equal((await probe.get("b.bias")!.read())[0], 10 * i);
    }
    await pool.save();
    pool.dispose();
    const back = await CheckpointPool.restore(ctx, { size: 4, interval: 1, dir }, probe);
    assert.deepEqual(back.entries.map((e) => e.update), [0, 1, 2, 3]);
    await back.loadInto(3, probe);
    assert.equal(await valueOf(probe), 3);
    back.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
