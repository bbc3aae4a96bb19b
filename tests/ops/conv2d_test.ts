// conv2d: float64 reference vs finite differences, then GPU forward, input, weight and bias gradients
// vs the reference at awkward sizes (1 pixel, 1 channel, 8-pixel tiles -1/+1, 16-channel tiles +1,
// odd sizes, stride 2 on odd and even images, 1x1 and 5x5 kernels), the forward's storage and
// uniform-window paths (blocks of output channels x chunks of input channels, small windows), the
// weight gradient's chunk, pass and partial-sum paths with small budgets, and UNet-sized layers.
import { backward } from "../../lib/autograd/backward.ts";
import {
  conv2d,
  convBackwardInput,
  convBackwardWeight,
  convForward,
  convGeometry,
  transposedGeometry,
  uniformPlan,
  uniformWeightGrad,
  type UniformWindows,
  type WeightGradSplit,
  WGRAD_SPLIT,
} from "../../lib/ops/conv2d.ts";
import { rowWindows } from "../../lib/ops/matmul.ts";
import { empty } from "../../lib/tensor/tensor.ts";
import { conv2dRef, conv2dRefBackward } from "../../lib/ref/conv.ts";
import { assertClose, checkVjp, gpu, randNd, upload, worstErrors } from "../_helpers.ts";

interface Case {
  B: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  k: number;
  s: 1 | 2;
  pad?: number;
  bias?: boolean;
}

function printWorst(prefix: string) {
  for (const [k, v] of worstErrors) {
    if (k.startsWith(prefix)) console.log(`${k}: ${v.toExponential(2)}`);
    worstErrors.delete(k);
  }
}

const name = (c: Case) =>
  `conv2d x[${c.B},${c.Cin},${c.H},${c.W}] w[${c.Cout},${c.Cin},${c.k},${c.k}] s${c.s} p${c.pad ?? "def"}`;

async function check(c: Case) {
  const ctx = await gpu();
  const label = name(c);
  const x = randNd([c.B, c.Cin, c.H, c.W], c.H * 13 + c.Cin);
  const w = randNd([c.Cout, c.Cin, c.k, c.k], c.Cout * 3 + c.k);
  const bias = c.bias === false ? null : randNd([c.Cout], 4);
  const o = { stride: c.s, padding: c.pad };
  const want = conv2dRef(x, w, bias, o);
  const g = randNd(want.shape, 9);
  const [gx, gw, gb] = conv2dRefBackward(x, w, g, o);
  // f32 sums of up to Cin*k*k (forward, weights: B*Ho*Wo) products of values in [-1, 1]
  const atol = (n: number) => 2e-6 * Math.max(8, n);
  await ctx.scope(async () => {
    const tx = upload(ctx, x, true), tw = upload(ctx, w, true), tb = bias ? upload(ctx, bias, true) : null;
    const y = conv2d(ctx, tx, tw, tb, o);
    if (y.shape.join() !== want.shape.join()) throw new Error(`${label}: shape ${y.shape} vs ${want.shape}`);
    assertClose(await y.read(), want.data, `${label} forward`, atol(c.Cin * c.k * c.k), 1e-4);
    backward(ctx, y, { grad: upload(ctx, g) });
    assertClose(await tx.grad!.read(), gx.data, `${label} grad x`, atol(c.Cout * c.k * c.k), 1e-4);
    const P = want.shape[2] * want.shape[3];
    assertClose(await tw.grad!.read(), gw.data, `${label} grad w`, atol(c.B * P), 1e-4);
    if (tb) assertClose(await tb.grad!.read(), gb.data, `${label} grad b`, atol(c.B * P), 1e-4);
  });
}

Deno.test("conv2dRef VJP matches finite differences (stride 1 and 2, padding, bias)", () => {
  for (const [s, pad] of [[1, 1], [2, 1], [2, 0], [1, 2]]) {
    const x = randNd([2, 3, 6, 5], 1), w = randNd([4, 3, 3, 3], 2), b = randNd([4], 3);
    checkVjp(
      `conv2dRef s${s} p${pad}`,
      [x, w, b],
      ([xx, ww, bb]) => conv2dRef(xx, ww, bb, { stride: s, padding: pad }),
      ([xx, ww], g) => conv2dRefBackward(xx, ww, g, { stride: s, padding: pad }),
    );
  }
});

Deno.test("conv2d GPU matches reference at awkward sizes (forward, grad x, w, b)", async () => {
  const cases: Case[] = [
    { B: 1, Cin: 1, H: 1, W: 1, Cout: 1, k: 1, s: 1 },
    { B: 1, Cin: 1, H: 1, W: 1, Cout: 1, k: 3, s: 1 },
    { B: 2, Cin: 3, H: 5, W: 7, Cout: 4, k: 3, s: 1 }, // tile - 1 pixels
    { B: 2, Cin: 3, H: 8, W: 9, Cout: 5, k: 3, s: 2 }, // tile + 1 pixels, stride 2
    { B: 1, Cin: 2, H: 7, W: 7, Cout: 3, k: 3, s: 2, bias: false }, // odd image, stride 2
    { B: 1, Cin: 5, H: 6, W: 17, Cout: 17, k: 3, s: 1 }, // 16-channel tile + 1
    { B: 2, Cin: 17, H: 4, W: 16, Cout: 15, k: 3, s: 2 }, // 16 + 1 input channels for grad x
    { B: 2, Cin: 4, H: 9, W: 15, Cout: 8, k: 1, s: 1 }, // 1x1 (default padding 0)
    { B: 2, Cin: 7, H: 5, W: 6, Cout: 16, k: 3, s: 1 }, // 8-channel weight-gradient tile - 1
    { B: 1, Cin: 9, H: 6, W: 5, Cout: 9, k: 3, s: 2 }, // 8-channel tile + 1
    { B: 1, Cin: 3, H: 10, W: 10, Cout: 2, k: 3, s: 2, pad: 0 },
    { B: 1, Cin: 2, H: 6, W: 11, Cout: 3, k: 5, s: 1 },
    { B: 1, Cin: 2, H: 9, W: 6, Cout: 3, k: 5, s: 2, pad: 1 },
  ];
  for (const c of cases) await check(c);
  printWorst("conv2d ");
});

Deno.test("conv2d GPU at a UNet size: 3x3 32->48 on 2x32x16x16 and its stride-2 downsample", async () => {
  await check({ B: 2, Cin: 32, H: 16, W: 16, Cout: 48, k: 3, s: 1 });
  await check({ B: 2, Cin: 32, H: 16, W: 16, Cout: 32, k: 3, s: 2 });
  printWorst("conv2d ");
});

Deno.test("conv2d weight gradient: row chunks, passes adding into partial sums, one part", async () => {
  const ctx = await gpu();
  const c = { B: 3, Cin: 9, H: 13, W: 11, Cout: 17, k: 3 };
  const x = randNd([c.B, c.Cin, c.H, c.W], 21), w = randNd([c.Cout, c.Cin, c.k, c.k], 22);
  for (const s of [1, 2] as const) {
    const o = { stride: s };
    const want = conv2dRef(x, w, null, o);
    const g = randNd(want.shape, 23);
    const [, gw] = conv2dRefBackward(x, w, g, o);
    const splits: WeightGradSplit[] = [
      { kMax: 2 * 11, minInvocations: 1e6, partFloats: 1 << 20 }, // 2-row chunks, rows inside an image
      { kMax: 5 * 11, minInvocations: 1e6, partFloats: 3 * 17 * 81 }, // 3 partial sums, several passes
      { kMax: 11, minInvocations: 1, partFloats: 10 }, // one sum, one row per pass
      { kMax: 4096, minInvocations: 1, partFloats: 1 << 20 }, // everything in one chunk
    ];
    for (const split of splits) {
      await ctx.scope(async () => {
        const tx = upload(ctx, x), tw = upload(ctx, w), tg = upload(ctx, g);
        const got = convBackwardWeight(ctx, tx, tg, convGeometry(tx, tw, o), split);
        assertClose(await got.read(), gw.data, `conv2d wgrad s${s} ${JSON.stringify(split)}`, 1e-5, 1e-4);
      });
    }
  }
  printWorst("conv2d wgrad");
});

Deno.test("conv2d weight gradient at real sizes: a 16-image batch, and 16,384-pixel loops per invocation", async () => {
  const ctx = await gpu();
  const cases: [number[], number[], 1 | 2, WeightGradSplit | undefined][] = [
    [[16, 64, 8, 8], [64, 64, 3, 3], 1, undefined], // the base model's 8x8 level at batch 16
    [[16, 32, 16, 16], [32, 32, 3, 3], 2, undefined], // its downsampler
    [[1, 3, 128, 128], [8, 3, 3, 3], 1, { kMax: 16384, minInvocations: 1, partFloats: 1 << 20 }],
  ];
  for (const [xs, ws, s, split] of cases) {
    const x = randNd(xs, 31), w = randNd(ws, 32);
    const want = conv2dRef(x, w, null, { stride: s });
    const g = randNd(want.shape, 33);
    const [, gw] = conv2dRefBackward(x, w, g, { stride: s });
    const P = want.shape[0] * want.shape[2] * want.shape[3];
    await ctx.scope(async () => {
      const tx = upload(ctx, x), tw = upload(ctx, w), tg = upload(ctx, g);
      const got = convBackwardWeight(ctx, tx, tg, convGeometry(tx, tw, { stride: s }), split);
      assertClose(await got.read(), gw.data, `conv2d wgrad real x[${xs}] s${s}`, 2e-6 * P, 1e-4);
    });
  }
  printWorst("conv2d wgrad real");
});

Deno.test("conv2d weight gradient from uniform windows of gy: whole and shifted windows, channel tiles +1, stride 2, 1x1, 5x5", async () => {
  const ctx = await gpu();
  // [x shape, w shape, stride, padding]: gy at least one 64 KiB window (else the storage path)
  const cases: [number[], number[], 1 | 2, number | undefined][] = [
    [[16, 32, 16, 16], [32, 32, 3, 3], 1, undefined], // the base model's 16x16 level: 2 images a window
    [[12, 9, 8, 12], [17, 9, 3, 3], 1, undefined], // 1,632-float images (not 64-aligned): shifted windows
    [[8, 5, 17, 24], [20, 5, 3, 3], 2, undefined], // stride 2, 9 x 12 output
    [[8, 13, 8, 8], [36, 13, 1, 1], 1, undefined], // 1x1: 2 x 16 + 4 output channels
    [[4, 3, 16, 16], [18, 3, 5, 5], 1, 2], // 5x5
    [[24, 8, 16, 16], [3, 8, 3, 3], 1, undefined], // a conv_out: 3 channels, 21 images a window
  ];
  for (const [xs, ws, s, padding] of cases) {
    const label = `conv2d wgrad uniform x[${xs}] w[${ws}] s${s}`;
    const o = { stride: s, padding };
    const x = randNd(xs, 51), w = randNd(ws, 52);
    const want = conv2dRef(x, w, null, o);
    const g = randNd(want.shape, 53);
    const [, gw] = conv2dRefBackward(x, w, g, o);
    const P = want.shape[0] * want.shape[2] * want.shape[3];
    await ctx.scope(async () => {
      const tx = upload(ctx, x), tw = upload(ctx, w), tg = upload(ctx, g);
      const geo = convGeometry(tx, tw, o);
      if (!uniformWeightGrad(geo)) throw new Error(`${label}: not a uniform-window case`);
      const windows = rowWindows(geo.B, geo.Cout * geo.Ho * geo.Wo, 0, tg.buffer.size / 4);
      const d0 = ctx.stats.dispatches;
      const got = convBackwardWeight(ctx, tx, tg, geo);
      if (ctx.stats.dispatches - d0 !== windows.length) {
        throw new Error(
          `${label}: ${ctx.stats.dispatches - d0} dispatches, want one per window (${windows.length})`,
        );
      }
      assertClose(await got.read(), gw.data, label, 2e-6 * P, 1e-4);
      const storage = convBackwardWeight(ctx, tx, tg, geo, { ...WGRAD_SPLIT, uniform: false });
      assertClose(await storage.read(), gw.data, `${label} (storage)`, 2e-6 * P, 1e-4);
    });
  }
  printWorst("conv2d wgrad uniform");
});

Deno.test("conv2d epilogues: per-(image, channel) bias and residual, forward and their gradients", async () => {
  const ctx = await gpu();
  const cases: [number[], number, 1 | 2, boolean][] = [
    [[1, 1, 1, 1], 1, 1, false],
    [[2, 3, 5, 7], 5, 1, true],
    [[2, 4, 9, 8], 17, 2, true],
    [[16, 32, 16, 16], 32, 1, true], // the base model's 16x16 ResNet convs at batch 16
  ];
  for (const [xs, Cout, s, withBias] of cases) {
    const label = `conv2d epilogue x[${xs}] -> ${Cout} s${s}`;
    const x = randNd(xs, 41), w = randNd([Cout, xs[1], 3, 3], 42), b = randNd([Cout], 43);
    const o = { stride: s };
    const plain = conv2dRef(x, w, withBias ? b : null, o);
    const [B, , Ho, Wo] = plain.shape, P = Ho * Wo;
    const cb = randNd([B, Cout], 44), res = randNd(plain.shape, 45), g = randNd(plain.shape, 46);
    const want = plain.data.map((v, i) => v + cb.data[Math.floor(i / P)] + res.data[i]);
    const [gx, gw, gb] = conv2dRefBackward(x, w, g, o);
    const gcb = new Float64Array(B * Cout);
    g.data.forEach((v, i) => gcb[Math.floor(i / P)] += v);
    await ctx.scope(async () => {
      const [tx, tw, tb, tcb, tres] = [x, w, b, cb, res].map((t) => upload(ctx, t, true));
      const y = conv2d(ctx, tx, tw, withBias ? tb : null, { ...o, channelBias: tcb, residual: tres });
      const atol = 2e-6 * Math.max(8, xs[1] * 9);
      assertClose(await y.read(), want, `${label} forward`, atol, 1e-4);
      backward(ctx, y, { grad: upload(ctx, g) });
      assertClose(await tx.grad!.read(), gx.data, `${label} grad x`, 2e-6 * Math.max(8, Cout * 9), 1e-4);
      assertClose(await tw.grad!.read(), gw.data, `${label} grad w`, 2e-6 * Math.max(8, B * P), 1e-4);
      if (withBias) {
        assertClose(await tb.grad!.read(), gb.data, `${label} grad b`, 2e-6 * Math.max(8, B * P), 1e-4);
      }
      assertClose(await tcb.grad!.read(), gcb, `${label} grad channelBias`, 2e-6 * Math.max(8, P), 1e-4);
      assertClose(await tres.grad!.read(), g.data, `${label} grad residual`, 1e-7, 1e-6);
    });
  }
  printWorst("conv2d epilogue");
});

Deno.test("conv2d forward: storage path, one uniform window, and blocks x input-channel chunks, with every epilogue", async () => {
  const ctx = await gpu();
  // [x shape, Cout, k, stride, windows, want (blocks, chunks) or null: the storage path]
  const cases: [number[], number, number, 1 | 2, UniformWindows, [number, number] | null][] = [
    [[2, 5, 7, 9], 17, 3, 1, { floats: 16384, max: 0 }, null],
    [[2, 5, 7, 9], 17, 3, 1, { floats: 16384, max: 8 }, [2, 1]],
    [[2, 5, 7, 9], 17, 3, 2, { floats: 16 * 9 * 2, max: 8 }, [2, 3]], // chunks of 2, 2, 1 input channels
    [[2, 5, 7, 9], 6, 3, 1, { floats: 16384, max: 8 }, [1, 1]], // 3x3 stride 1 in an 8-channel block
    [[1, 3, 5, 10], 2, 3, 1, { floats: 4 * 9 * 2, max: 8 }, [1, 2]], // 3x3 stride 1, 4-channel block, 2 chunks
    [[1, 7, 6, 17], 3, 5, 1, { floats: 4 * 25 * 3, max: 8 }, [1, 3]], // Cout 3 in a 4-channel block, 5x5
    [[3, 11, 8, 8], 6, 1, 1, { floats: 8 * 4, max: 8 }, [1, 3]], // 1x1, 8-channel block
    [[4, 128, 8, 8], 64, 3, 1, { floats: 16384, max: 8 }, [4, 2]], // a UNet up-block conv: 2 chunks of 64
  ];
  for (const [xs, Cout, k, s, windows, want] of cases) {
    const label = `conv2d forward x[${xs}] -> ${Cout} k${k} s${s} windows ${windows.floats}/${windows.max}`;
    const x = randNd(xs, 51), w = randNd([Cout, xs[1], k, k], 52), b = randNd([Cout], 53);
    const o = { stride: s };
    const plain = conv2dRef(x, w, b, o);
    const [B, , Ho, Wo] = plain.shape, P = Ho * Wo;
    const cb = randNd([B, Cout], 54), res = randNd(plain.shape, 55);
    const full = plain.data.map((v, i) => v + cb.data[Math.floor(i / P)] + res.data[i]);
    await ctx.scope(async () => {
      const [tx, tw, tb, tcb, tres] = [x, w, b, cb, res].map((t) => upload(ctx, t));
      const g = convGeometry(tx, tw, o);
      const plan = uniformPlan(g, windows);
      if (JSON.stringify(plan && [plan.blocks, plan.chunks]) !== JSON.stringify(want)) {
        throw new Error(`${label}: plan ${JSON.stringify(plan)}, want ${want}`);
      }
      const atol = 2e-6 * Math.max(8, xs[1] * k * k);
      const y1 = empty(ctx, plain.shape);
      convForward(ctx, tx, tw, tb, y1, g, null, null, windows);
      assertClose(await y1.read(), plain.data, `${label} bias`, atol, 1e-4);
      const y2 = empty(ctx, plain.shape);
      convForward(ctx, tx, tw, null, y2, g, tcb, tres, windows);
      const noBias = full.map((v, i) => v - b.data[Math.floor(i / P) % Cout]);
      assertClose(await y2.read(), noBias, `${label} channel bias + residual`, atol, 1e-4);
      const y3 = empty(ctx, plain.shape);
      convForward(ctx, tx, tw, tb, y3, g, tcb, tres, windows);
      assertClose(await y3.read(), full, `${label} all`, atol, 1e-4);
    });
  }
  printWorst("conv2d forward");
});

Deno.test("conv2d input gradient as a flipped uniform forward (stride 1), and the storage path", async () => {
  const ctx = await gpu();
  // [x shape, Cout, k, padding, windows, uniform path expected]
  const cases: [number[], number, number, number, UniformWindows, boolean][] = [
    [[2, 17, 7, 9], 5, 3, 1, { floats: 16384, max: 8 }, true],
    [[2, 17, 7, 9], 5, 3, 1, { floats: 16384, max: 0 }, false],
    [[2, 6, 7, 9], 11, 3, 1, { floats: 8 * 9 * 4, max: 8 }, true], // 3 chunks of output channels
    [[2, 5, 7, 9], 6, 3, 0, { floats: 16384, max: 8 }, true], // padding 0: a 3x3 forward with padding 2
    [[2, 5, 7, 10], 6, 3, 2, { floats: 16384, max: 8 }, true], // padding 2: a 3x3 forward with padding 0
    [[1, 3, 6, 11], 7, 5, 2, { floats: 4 * 25 * 2, max: 8 }, true], // 5x5
    [[1, 3, 6, 11], 7, 5, 1, { floats: 16384, max: 8 }, true], // padding 1 of a 5x5: output 2 smaller
    [[3, 9, 8, 8], 4, 1, 0, { floats: 16384, max: 8 }, true], // 1x1
    [[4, 64, 8, 8], 128, 3, 1, { floats: 16384, max: 8 }, true], // a UNet up-block conv's gradient
  ];
  for (const [xs, Cout, k, pad, windows, uniform] of cases) {
    const label = `conv2d grad x x[${xs}] -> ${Cout} k${k} p${pad} windows ${windows.floats}/${windows.max}`;
    const x = randNd(xs, 61), w = randNd([Cout, xs[1], k, k], 62);
    const o = { stride: 1 as const, padding: pad };
    const y = conv2dRef(x, w, null, o);
    const g = randNd(y.shape, 63);
    const [gx] = conv2dRefBackward(x, w, g, o);
    await ctx.scope(async () => {
      const [tx, tw, tg] = [x, w, g].map((t) => upload(ctx, t));
      const geo = convGeometry(tx, tw, o);
      const t = transposedGeometry(geo);
      if (Boolean(t && uniformPlan(t, windows)) !== uniform) throw new Error(`${label}: path`);
      const got = convBackwardInput(ctx, tg, tw, geo, windows);
      assertClose(await got.read(), gx.data, label, 2e-6 * Math.max(8, Cout * k * k), 1e-4);
    });
  }
  printWorst("conv2d grad x");
});
