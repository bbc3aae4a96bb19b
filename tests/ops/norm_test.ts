// Group norm (alone and with silu fused) and layer norm: float64 reference vs finite differences, GPU
// vs reference forward and every backward (x, gamma, beta) at awkward sizes and realistic sizes.
import { backward } from "../../lib/autograd/backward.ts";
import { groupNorm, layerNorm, LN_ROW_MAX } from "../../lib/ops/norm.ts";
import type { Nd } from "../../lib/ref/nd.ts";
import {
  groupNormRef,
  groupNormRefBackward,
  layerNormRef,
  layerNormRefBackward,
} from "../../lib/ref/layers.ts";
import { unaryRef, unaryRefBackward } from "../../lib/ref/ops.ts";
import { assertClose, checkVjp, gpu, randNd, upload, worstErrors } from "../_helpers.ts";

Deno.test("groupNormRef and layerNormRef VJPs match finite differences", () => {
  for (const [shape, g] of [[[2, 4, 3], 2], [[1, 6], 3], [[2, 2, 2, 3], 1]] as [number[], number][]) {
    const C = shape[1];
    checkVjp(
      `groupNormRef ${shape} G=${g}`,
      [randNd(shape, 1, 0.5, 2), randNd([C], 2), randNd([C], 3)],
      ([x, ga, be]) => groupNormRef(x, ga, be, g, 1e-5),
      ([x, ga, be], gy) => groupNormRefBackward(x, ga, be, g, 1e-5, gy),
    );
  }
  checkVjp(
    "layerNormRef [3, 2, 5]",
    [randNd([3, 2, 5], 4, -2, 1), randNd([5], 5), randNd([5], 6)],
    ([x, ga, be]) => layerNormRef(x, ga, be, 1e-5),
    ([x, ga, be], gy) => layerNormRefBackward(x, ga, be, 1e-5, gy),
  );
});

/** Runs a norm op with gradients on all inputs and compares y, gx, ggamma, gbeta with the reference. */
async function checkNorm(
  label: string,
  x: Nd,
  C: number,
  op: (ctx: Awaited<ReturnType<typeof gpu>>, ...t: ReturnType<typeof upload>[]) => ReturnType<typeof upload>,
  ref: (x: Nd, ga: Nd, be: Nd) => Nd,
  refBack: (x: Nd, ga: Nd, be: Nd, gy: Nd) => Nd[],
  tol: { atol: number; rtol: number; gatol: number },
) {
  const ctx = await gpu();
  const gamma = randNd([C], 11, 0.5, 1.5), beta = randNd([C], 12);
  const want = ref(x, gamma, beta);
  const gyNd = randNd(want.shape, 13);
  await ctx.scope(async () => {
    const [tx, tg, tb] = [upload(ctx, x, true), upload(ctx, gamma, true), upload(ctx, beta, true)];
    const y = op(ctx, tx, tg, tb);
    assertClose(await y.read(), want.data, `${label} forward`, tol.atol, tol.rtol);
    backward(ctx, y, { grad: upload(ctx, gyNd) });
    const [gx, gg, gb] = refBack(x, gamma, beta, gyNd);
    assertClose(await tx.grad!.read(), gx.data, `${label} grad x`, tol.gatol, tol.rtol);
    // gamma / beta gradients are sums over B * S elements: scale atol with that count
    const n = x.data.length / C;
    assertClose(await tg.grad!.read(), gg.data, `${label} grad gamma`, tol.gatol * Math.sqrt(n), tol.rtol);
    assertClose(await tb.grad!.read(), gb.data, `${label} grad beta`, tol.gatol * Math.sqrt(n), tol.rtol);
  });
}

const TOL = { atol: 2e-5, rtol: 1e-4, gatol: 5e-5 };

Deno.test("groupNorm GPU matches reference at awkward and realistic sizes", async () => {
  const cases: [number[], number][] = [
    [[1, 1], 1], // a single element: output is beta
    [[3, 8], 4], // [B, C] without spatial axes
    [[2, 6, 5], 3],
    [[1, 4, 63], 2], // S = WG - 1
    [[2, 3, 65], 1], // odd channels, S = WG + 1
    [[2, 4, 3, 5, 7], 2], // [B, C, F, H, W]
    [[3, 64, 1, 1], 32],
    [[2, 96, 3, 5], 32], // 3 channels per group
    [[16, 32, 16, 16], 8], // the base model's 16x16 level at batch 16: 4 chunks per group
    [[8, 64, 32, 32], 32], // realistic UNet size
    [[1, 32, 2, 128, 128], 32], // 32768 positions per channel: 8 statistics chunks, 16 per channel back
    [[2, 4, 4097], 2], // chunks of unequal length (8194 = 2 x 4097 per group)
  ];
  for (const [shape, g] of cases) {
    // Offset mean so that the two-pass statistics must not cancel; groups of a few elements get
    // centred data instead (their variance can be tiny, and f32 rounding of x then dominates gx).
    const perGroup = shape.slice(1).reduce((a, b) => a * b, 1) / g;
    const x = perGroup < 16 ? randNd(shape, shape.length + g) : randNd(shape, shape.length + g, 2, 5);
    for (const silu of [false, true]) {
      await checkNorm(
        `groupNorm${silu ? "+silu" : ""} ${JSON.stringify(shape)} G=${g}`,
        x,
        shape[1],
        (ctx, tx, tg, tb) => groupNorm(ctx, tx, tg, tb, g, 1e-5, silu),
        (x, ga, be) =>
          silu ? unaryRef("silu", groupNormRef(x, ga, be, g, 1e-5)) : groupNormRef(x, ga, be, g, 1e-5),
        (x, ga, be, gy) =>
          groupNormRefBackward(
            x,
            ga,
            be,
            g,
            1e-5,
            silu ? unaryRefBackward("silu", groupNormRef(x, ga, be, g, 1e-5), gy) : gy,
          ),
        TOL,
      );
    }
  }
  printWorst("groupNorm");
});

Deno.test("layerNorm GPU matches reference at awkward and realistic sizes", async () => {
  const cases: number[][] = [
    [1, 1],
    [5],
    [3, 63],
    [2, 3, 65],
    [7, 129],
    [130, 3], // 130 rows: 3 chunks of the gamma / beta partial sums
    [3, LN_ROW_MAX], // last length on the thread-per-row kernels
    [3, LN_ROW_MAX + 1], // first length on the workgroup-per-row kernels
    [2, 77, 320],
    [4096, 40],
  ];
  for (const shape of cases) {
    const x = randNd(shape, shape.length * 7 + shape.at(-1)!, -3, 1);
    await checkNorm(
      `layerNorm ${JSON.stringify(shape)}`,
      x,
      shape.at(-1)!,
      (ctx, tx, tg, tb) => layerNorm(ctx, tx, tg, tb, 1e-5),
      (x, ga, be) => layerNormRef(x, ga, be, 1e-5),
      (x, ga, be, gy) => layerNormRefBackward(x, ga, be, 1e-5, gy),
      TOL,
    );
  }
  printWorst("layerNorm");
});

/** Prints the worst |gpu - ref| per label (for the closing report; assertClose already checked them). */
function printWorst(prefix: string) {
  for (const [k, v] of worstErrors) if (k.startsWith(prefix)) console.log(`${k}: ${v.toExponential(2)}`);
}
