// GPU unary, binary (broadcasting) and scale ops against the float64 references, forward and
// backward, at awkward sizes including one that needs more than 65535 workgroups.
import { backward } from "../../lib/autograd/backward.ts";
import { add, div, mul, sub } from "../../lib/ops/binary.ts";
import { broadcastShapes, broadcastStrides, coalesce, elementwisePlan } from "../../lib/ops/util.ts";
import { scale } from "../../lib/ops/scale.ts";
import { sum } from "../../lib/ops/reduce.ts";
import { UNARY, unary, type UnaryOp } from "../../lib/ops/unary.ts";
import * as R from "../../lib/ref/ops.ts";
import { assertClose, gpu, randNd, upload } from "../_helpers.ts";
import type { Nd } from "../../lib/ref/nd.ts";
import type { Tensor } from "../../lib/tensor/tensor.ts";

const SIZES = [1, 63, 64, 65, 1000];

/** Weighted sum with a random upstream gradient: loss = sum(y * g). */
function weighted(ctx: Parameters<typeof sum>[0], y: Tensor, g: Tensor) {
  return sum(ctx, mul(ctx, y, g));
}

Deno.test("unary ops: forward and backward vs float64 reference", async () => {
  const ctx = await gpu();
  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    for (const n of SIZES) {
      await ctx.scope(async () => {
        const positive = op === "log" || op === "sqrt";
        const x = randNd([n], n + 1, positive ? 0.1 : -4, 4);
        const g = randNd([n], n + 2);
        const tx = upload(ctx, x, true);
        const y = unary(ctx, op, tx);
        const loss = weighted(ctx, y, upload(ctx, g));
        assertClose(await y.read(), R.unaryRef(op, x).data, `${op} forward n=${n}`, 1e-5, 2e-5);
        backward(ctx, loss);
        assertClose(
          await tx.grad!.read(),
          R.unaryRefBackward(op, x, g).data,
          `${op} backward n=${n}`,
          1e-5,
          1e-4,
        );
      });
    }
  }
});

Deno.test("binary ops with broadcasting: forward and backward vs float64 reference", async () => {
  const ctx = await gpu();
  const fns = { add, sub, mul, div };
  const shapes: [number[], number[]][] = [
    [[1], [1]],
    [[65], [65]],
    [[3, 1, 5], [4, 1]],
    [[2, 7, 3], [3]],
    [[1, 9], [4, 1]],
    [[2, 3, 4, 5], [1, 3, 1, 1]],
    // one walk each (lib/ops/util.ts elementwisePlan): flat, grid with 2, 3 and 4 coalesced axes, loop
    [[5, 7], [1]], // scalar: flat
    [[130, 64], [64]], // a Linear bias: grid [130, 64]
    [[4, 64, 65], [4, 64, 1]], // a per-(b, c) broadcast (temb): grid [256, 65]
    [[3, 5, 2, 7], [3, 1, 2, 1]], // nothing coalesces: grid of 4 axes
    [[2, 3, 2, 3, 2], [2, 1, 2, 1, 2]], // 5 axes: loop
    [[70000, 2], [2]], // 70000 rows exceed the grid's y: loop
  ];
  for (const [op, fn] of Object.entries(fns)) {
    for (const [sa, sb] of shapes) {
      await ctx.scope(async () => {
        const a = randNd(sa, 1), b = randNd(sb, 2, 0.5, 2);
        const ta = upload(ctx, a, true), tb = upload(ctx, b, true);
        const y = fn(ctx, ta, tb);
        const want = R.binaryRef(op, a, b);
        const g = randNd(want.shape, 3);
        assertClose(await y.read(), want.data, `${op} [${sa}]x[${sb}] forward`);
        backward(ctx, weighted(ctx, y, upload(ctx, g)));
        const [ga, gb] = R.binaryRefBackward(op, a, b, g);
        assertClose(await ta.grad!.read(), ga.data, `${op} [${sa}]x[${sb}] grad a`);
        assertClose(await tb.grad!.read(), gb.data, `${op} [${sa}]x[${sb}] grad b`, 1e-4, 1e-4);
      });
    }
  }
});

Deno.test("elementwise ops beyond 65535 workgroups (dispatch folded into y)", async () => {
  const ctx = await gpu();
  const n = 64 * 65535 + 70; // 65537 workgroups of 64
  await ctx.scope(async () => {
    const x: Nd = { data: new Float64Array(n).map((_, i) => (i % 1000) / 100 - 5), shape: [n] };
    const tx = upload(ctx, x);
    const y = unary(ctx, "tanh", tx);
    const z = scale(ctx, y, 2, 1);
    const got = await z.read();
    const want = x.data.map((v) => 2 * Math.tanh(v) + 1);
    assertClose(got, want, "tanh+scale n>65535*64", 1e-5, 1e-5);
    const s = await add(ctx, z, tx).read(); // same shape: the flat walk, folded
    assertClose(s, want.map((v, i) => v + x.data[i]), "add n>65535*64", 1e-5, 1e-5);
  });
});

Deno.test("coalesce and elementwisePlan: the walk each broadcast takes", () => {
  const walk = (a: number[], b: number[]) => {
    const shape = broadcastShapes(a, b, "t");
    const c = coalesce(shape, [broadcastStrides(a, shape), broadcastStrides(b, shape)]);
    return `${elementwisePlan(c.dims).kind} [${c.dims}] a[${c.strides[0]}] b[${c.strides[1]}]`;
  };
  const cases: [number[], number[], string][] = [
    [[16, 64, 8, 8], [16, 64, 8, 8], "flat [65536] a[1] b[1]"],
    [[5, 7], [1], "flat [35] a[1] b[0]"],
    [[130, 64], [64], "grid [130,64] a[64,1] b[0,1]"],
    [[4, 64, 65], [4, 64, 1], "grid [256,65] a[65,1] b[1,0]"],
    [[3, 5, 2, 7], [3, 1, 2, 1], "grid [3,5,2,7] a[70,14,7,1] b[2,0,1,0]"],
    [[2, 3, 2, 3, 2], [2, 1, 2, 1, 2], "loop [2,3,2,3,2] a[36,12,6,2,1] b[4,0,2,0,1]"],
    [[70000, 2], [2], "loop [70000,2] a[2,1] b[0,1]"],
    [[1, 1], [1, 1], "flat [1] a[0] b[0]"],
  ];
  for (const [a, b, want] of cases) {
    const got = walk(a, b);
    if (got !== want) throw new Error(`[${a}] x [${b}]: ${got}, want ${want}`);
  }
});
