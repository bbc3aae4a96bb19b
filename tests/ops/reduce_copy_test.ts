// Reductions (sum, mean, per-example MSE) and data movement (permute, slice, concat, expand,
// reshape) against the float64 references, forward and backward.
import { backward } from "../../lib/autograd/backward.ts";
import { mul } from "../../lib/ops/binary.ts";
import { concat, expand, permute, reshape, slice } from "../../lib/ops/copy.ts";
import { mean, mseRows, sum } from "../../lib/ops/reduce.ts";
import * as R from "../../lib/ref/ops.ts";
import { assertClose, gpu, randNd, upload } from "../_helpers.ts";
import type { GpuContext } from "../../lib/gpu/context.ts";
import type { Tensor } from "../../lib/tensor/tensor.ts";

function weightedLoss(ctx: GpuContext, y: Tensor, seed: number) {
  const g = randNd([...y.shape], seed);
  return { loss: sum(ctx, mul(ctx, y, upload(ctx, g))), g };
}

Deno.test("sum / mean over chosen axes: forward and backward", async () => {
  const ctx = await gpu();
  const cases: [number[], number[]][] = [
    [[1], [0]],
    [[7, 129], [1]],
    [[7, 129], [0]],
    [[2, 3, 5, 4], [1, 2, 3]],
    [[2, 3, 5, 4], [0, 2]],
    [[3, 300, 300], [0, 1, 2]], // 270000 per output: 66 chunks
    [[2, 3, 5, 4], [1, 3]], // kept axes 0 and 2 apart: the workgroup-tree kernel
    [[1024, 64], [0]], // a Linear bias gradient: [A, C, 1]
    [[16, 64, 8, 8], [0, 2, 3]], // a conv bias gradient: [A, C, S]
    [[2, 1, 3, 1, 5], [0, 3, 4]], // size-1 axes inside the blocks
    [[5, 4097], [1]], // per-row sums one past the chunk limit: 2 chunks per row
    [[1, 1, 1], [0, 2]],
  ];
  for (const [shape, axes] of cases) {
    for (const kind of ["sum", "mean"] as const) {
      await ctx.scope(async () => {
        const x = randNd(shape, 4);
        const tx = upload(ctx, x, true);
        const y = kind === "sum" ? sum(ctx, tx, axes) : mean(ctx, tx, axes);
        const n = axes.reduce((p, k) => p * shape[k], 1);
        const want = R.sumRef(x, axes);
        if (kind === "mean") want.data.forEach((v, i) => (want.data[i] = v / n));
        assertClose(await y.read(), want.data, `${kind} [${shape}] axes ${axes}`, 1e-4, 1e-4);
        const { loss, g } = weightedLoss(ctx, y, 5);
        backward(ctx, loss);
        const gx = R.sumRefBackward(x, axes, {
          data: g.data.map((v) => kind === "mean" ? v / n : v),
          shape: want.shape,
        });
        assertClose(await tx.grad!.read(), gx.data, `${kind} [${shape}] axes ${axes} grad`);
      });
    }
  }
});

Deno.test("sum with more than 65535 outputs (workgroups folded into y)", async () => {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const x = randNd([70000, 3], 9);
    const y = sum(ctx, upload(ctx, x), 1);
    assertClose(await y.read(), R.sumRef(x, [1]).data, "sum 70000x3 axis 1");
  });
});

Deno.test("mseRows (per-example MSE): forward and backward", async () => {
  const ctx = await gpu();
  for (const shape of [[1, 1], [3, 3, 5, 5], [5, 2, 65], [16, 3, 16, 16]]) {
    await ctx.scope(async () => {
      const a = randNd(shape, 1), b = randNd(shape, 2);
      const ta = upload(ctx, a, true), tb = upload(ctx, b, true);
      const y = mseRows(ctx, ta, tb);
      assertClose(await y.read(), R.mseRowsRef(a, b).data, `mseRows [${shape}]`);
      const { loss, g } = weightedLoss(ctx, y, 3);
      backward(ctx, loss);
      const [ga, gb] = R.mseRowsRefBackward(a, b, { data: g.data, shape: [shape[0]] });
      assertClose(await ta.grad!.read(), ga.data, `mseRows [${shape}] grad a`);
      assertClose(await tb.grad!.read(), gb.data, `mseRows [${shape}] grad b`);
    });
  }
});

Deno.test("permute, slice, concat, expand, reshape: forward and backward", async () => {
  const ctx = await gpu();
  await ctx.scope(async () => {
    const x = randNd([2, 3, 4, 5], 1);
    const tx = upload(ctx, x, true);
    const p = permute(ctx, tx, [0, 2, 3, 1]);
    assertClose(await p.read(), R.permuteRef(x, [0, 2, 3, 1]).data, "permute");
    const s = slice(ctx, tx, 2, 1, 3);
    assertClose(await s.read(), R.sliceRef(x, 2, 1, 3).data, "slice");
    const y = randNd([2, 3, 1, 5], 2);
    const ty = upload(ctx, y, true);
    const c = concat(ctx, [tx, ty], 2);
    assertClose(await c.read(), R.concatRef([x, y], 2).data, "concat");
    const e = expand(ctx, ty, [2, 3, 4, 5]);
    const r = reshape(ctx, e, [6, -1]);
    // loss = <p, g1> + <s, g2> + <c, g3> + <r, g4>
    const parts = [p, s, c, r].map((t, i) => weightedLoss(ctx, t, 10 + i));
    let total = parts[0].loss;
    for (const q of parts.slice(1)) total = (await import("../../lib/ops/binary.ts")).add(ctx, total, q.loss);
    backward(ctx, total);
    // Reference gradient of x: permute^T(g1) + slice^T(g2) + concat part 0 of g3.
    const gx = new Float64Array(x.data.length);
    const g1 = parts[0].g, g2 = parts[1].g, g3 = parts[2].g, g4 = parts[3].g;
    const inv = R.permuteRef({ data: g1.data, shape: [2, 4, 5, 3] }, [0, 3, 1, 2]);
    inv.data.forEach((v, i) => (gx[i] += v));
    const st = [60, 20, 5, 1];
    for (let b = 0; b < 2; b++) {
      for (let ch = 0; ch < 3; ch++) {
        for (let h = 0; h < 2; h++) {
          for (let w = 0; w < 5; w++) {
            gx[b * 60 + ch * 20 + (h + 1) * 5 + w] += g2.data[b * 30 + ch * 10 + h * 5 + w];
          }
        }
        for (let h = 0; h < 4; h++) {
          for (let w = 0; w < 5; w++) {
            gx[b * st[0] + ch * st[1] + h * 5 + w] += g3.data[b * 75 + ch * 25 + h * 5 + w];
          }
        }
      }
    }
    assertClose(await tx.grad!.read(), gx, "permute+slice+concat grad x");
    // y's gradient: concat part 1 of g3 plus the expand's sum over axis 2 of g4.
    const gy = new Float64Array(y.data.length);
    for (let b = 0; b < 2; b++) {
      for (let ch = 0; ch < 3; ch++) {
        for (let w = 0; w < 5; w++) {
          let acc = g3.data[b * 75 + ch * 25 + 4 * 5 + w];
          for (let h = 0; h < 4; h++) acc += g4.data[b * 60 + ch * 20 + h * 5 + w];
          gy[b * 15 + ch * 5 + w] = acc;
        }
      }
    }
    assertClose(await ty.grad!.read(), gy, "concat+expand+reshape grad y");
  });
});

Deno.test("strided copies on every walk (flat, grid of 2-4 axes, loop): permute, concat, slice vs reference", async () => {
  const ctx = await gpu();
  const perms: [number[], number[]][] = [
    [[16, 64, 8, 8], [0, 2, 3, 1]], // NCHW -> NHWC: grid [16, 64, 64]
    [[2, 8, 5, 6], [0, 2, 1, 3]], // split heads: grid of 4 axes
    [[2, 3, 2, 3, 2], [4, 3, 2, 1, 0]], // 5 axes: loop
    [[70000, 2], [1, 0]], // grid with a long inner axis
    [[1, 7, 1], [2, 1, 0]], // size-1 axes only: flat
  ];
  for (const [shape, perm] of perms) {
    await ctx.scope(async () => {
      const x = randNd(shape, 7);
      assertClose(
        await permute(ctx, upload(ctx, x), perm).read(),
        R.permuteRef(x, perm).data,
        `permute [${shape}]`,
      );
    });
  }
  await ctx.scope(async () => {
    const a = randNd([4, 64, 8, 8], 8), b = randNd([4, 32, 8, 8], 9);
    const ta = upload(ctx, a), tb = upload(ctx, b);
    assertClose(await concat(ctx, [ta, tb], 1).read(), R.concatRef([a, b], 1).data, "concat channels (grid)");
    assertClose(await concat(ctx, [ta, ta], 0).read(), R.concatRef([a, a], 0).data, "concat batch (flat)");
    assertClose(await slice(ctx, ta, 3, 2, 7).read(), R.sliceRef(a, 3, 2, 7).data, "slice last axis (grid)");
  });
});
