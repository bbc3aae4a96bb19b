// Batched matmul: GPU forward and both gradients vs the float64 reference (lib/ref/ops.ts, itself
// checked against finite differences in tests/ref/ops_ref_test.ts) at awkward sizes around the
// register tiles (8 columns per invocation, 64 columns / 16-64 rows per workgroup), all transposes,
// batch broadcast on either side, K past one dispatch's K chunk, the attention shape and a batch past
// the 65,535 workgroups one dispatch can have along z.
import assert from "node:assert/strict";
import { backward } from "../../lib/autograd/backward.ts";
import {
  gemm,
  K_CHUNK,
  linear,
  matmul,
  rowWindows,
  tileFor,
  UNIFORM_MAX_K,
  uniformFits,
  WEIGHT_GRAD_MAX_M,
  weightGradFits,
} from "../../lib/ops/matmul.ts";
import { empty, parameter, type Tensor, WEIGHT_WINDOW_BYTES } from "../../lib/tensor/tensor.ts";
import { linearRef, linearRefBackward, matmulRef, matmulRefBackward } from "../../lib/ref/ops.ts";
import { assertClose, checkVjp, gpu, randNd, upload, worstErrors } from "../_helpers.ts";

interface Case {
  ba: number;
  bb: number;
  M: number;
  K: number;
  N: number;
}

function printWorst(prefix: string) {
  for (const [k, v] of worstErrors) {
    if (k.startsWith(prefix)) console.log(`${k}: ${v.toExponential(2)}`);
    worstErrors.delete(k);
  }
}

async function check(c: Case, ta: boolean, tb: boolean, grads = true) {
  const ctx = await gpu();
  const { ba, bb, M, K, N } = c;
  const label = `matmul ${ba}x${M}x${K} @ ${bb}x${K}x${N} ta=${+ta} tb=${+tb}`;
  const a = randNd(ta ? [ba, K, M] : [ba, M, K], M * 7 + K);
  const b = randNd(tb ? [bb, N, K] : [bb, K, N], N * 5 + K + 1);
  const want = matmulRef(a, b, ta, tb);
  // f32 sums of K products of values in [-1, 1]: error grows about linearly with K at worst.
  const atol = 2e-6 * Math.max(8, K), rtol = 1e-4;
  await ctx.scope(async () => {
    const ta_ = upload(ctx, a, grads), tb_ = upload(ctx, b, grads);
    const y = matmul(ctx, ta_, tb_, { transA: ta, transB: tb });
    if (y.shape.join() !== want.shape.join()) throw new Error(`${label}: shape ${y.shape} vs ${want.shape}`);
    assertClose(await y.read(), want.data, `${label} forward`, atol, rtol);
    if (!grads) return;
    const g = randNd(want.shape, 3);
    backward(ctx, y, { grad: upload(ctx, g) });
    const [ga, gb] = matmulRefBackward(a, b, g, ta, tb);
    const gtol = 2e-6 * Math.max(8, M, N) * Math.max(1, Math.max(ba, bb) / Math.min(ba, bb));
    assertClose(await ta_.grad!.read(), ga.data, `${label} grad A`, gtol, rtol);
    assertClose(await tb_.grad!.read(), gb.data, `${label} grad B`, gtol, rtol);
  });
}

Deno.test("matmulRef VJP matches finite differences (odd sizes)", () => {
  const a = randNd([3, 5, 7], 1), b = randNd([1, 7, 9], 2);
  checkVjp(
    "matmulRef 3x5x7 @ 1x7x9",
    [a, b],
    ([x, y]) => matmulRef(x, y),
    ([x, y], g) => matmulRefBackward(x, y, g),
  );
});

Deno.test("tile choice covers every M with rows per invocation <= 16", () => {
  for (const M of [1, 2, 3, 4, 7, 15, 16, 17, 63, 127, 128, 129, 4096]) {
    const { TM, WY } = tileFor(M);
    if (!(TM >= 1 && TM <= 16 && WY >= 1 && WY * 8 <= 256)) throw new Error(`M=${M}: TM=${TM} WY=${WY}`);
  }
});

Deno.test("matmul GPU matches reference: awkward sizes, all transposes, gradients", async () => {
  const cases: Case[] = [
    { ba: 1, bb: 1, M: 1, K: 1, N: 1 },
    { ba: 1, bb: 1, M: 3, K: 5, N: 7 }, // N < one vec4 pair: packed B
    { ba: 2, bb: 2, M: 7, K: 3, N: 8 }, // one 8-column tile exactly, B used in place
    { ba: 1, bb: 3, M: 9, K: 4, N: 9 }, // tile + 1 column, A broadcast
    { ba: 3, bb: 1, M: 17, K: 33, N: 63 }, // B broadcast, workgroup - 1 columns
    { ba: 1, bb: 1, M: 15, K: 8, N: 65 }, // workgroup + 1 columns
    { ba: 2, bb: 1, M: 33, K: 6, N: 11 }, // 16-row tiles from 32 rows on: 3 tiles, one row over 32
    { ba: 1, bb: 1, M: 65, K: 9, N: 17 }, // 4 16-row tiles a workgroup, one row over 64
    { ba: 1, bb: 1, M: 127, K: 16, N: 64 },
    { ba: 1, bb: 1, M: 129, K: 7, N: 72 }, // 16-row tiles, one row over 128
  ];
  for (const c of cases) {
    for (const ta of [false, true]) for (const tb of [false, true]) await check(c, ta, tb);
  }
  printWorst("matmul ");
});

Deno.test("matmul GPU at real sizes: attention shape, K over the chunk, 256^3", async () => {
  await check({ ba: 16, bb: 16, M: 256, K: 32, N: 256 }, false, true); // Q @ K^T (batch cut to 16)
  await check({ ba: 16, bb: 16, M: 256, K: 256, N: 40 }, false, false); // P @ V, head size 40
  await check({ ba: 1, bb: 1, M: 5, K: K_CHUNK + 9, N: 12 }, false, false, false); // two K chunks
  await check({ ba: 1, bb: 1, M: 3, K: 3 * K_CHUNK + 1, N: 8 }, true, false, false); // four K chunks
  await check({ ba: 1, bb: 1, M: 256, K: 256, N: 256 }, false, false);
  printWorst("matmul ");
});

Deno.test("matmul GPU past 65,535 batches (two dispatches along z): temporal attention shape", async () => {
  // 32 clips x 16x16 positions x 8 heads = 65,536 frame-to-frame attention matrices (eval-t2v, batch 16 + CFG).
  await check({ ba: 65537, bb: 65537, M: 8, K: 4, N: 8 }, false, true); // Q @ K^T per position
  await check({ ba: 65537, bb: 1, M: 3, K: 5, N: 7 }, false, false); // B broadcast, packed B
  printWorst("matmul ");
});

Deno.test("linear (GEMM with bias and residual epilogues) vs float64: forward and every gradient", async () => {
  const ctx = await gpu();
  // [R, in, out]: 1 row, 1 input, tile +- 1, the base model's attention and feed-forward shapes
  const cases: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [17, 8, 9], [65, 33, 63], [1024, 64, 64], [
    512,
    64,
    512,
  ]];
  for (const [R, I, O] of cases) {
    // every epilogue combination at the small sizes, both adds at the real ones (the reference is slow)
    const combos = R * I * O > 1e5
      ? [[true, true]]
      : [[true, true], [true, false], [false, true], [false, false]];
    for (const [withBias, withRes] of combos) {
      const label = `linear [${R},${I}]->${O} bias ${+withBias} res ${+withRes}`;
      const x = randNd([R, I], R + I), w = randNd([O, I], O + 1), b = randNd([O], 2), r = randNd([R, O], 3);
      const want = linearRef(x, w, withBias ? b : null, withRes ? r : null).data;
      const g = randNd([R, O], 4);
      const [gx, gw, gbNd] = linearRefBackward(x, w, g);
      const gb = gbNd.data;
      await ctx.scope(async () => {
        const tx = upload(ctx, x, true),
          tw = upload(ctx, w, true),
          tb = upload(ctx, b, true),
          tr = upload(ctx, r, true);
        const out = linear(ctx, tx, tw, withBias ? tb : null, withRes ? tr : null);
        const atol = 2e-6 * Math.max(8, I);
        assertClose(await out.read(), want, `${label} forward`, atol, 1e-4);
        backward(ctx, out, { grad: upload(ctx, g) });
        assertClose(await tx.grad!.read(), gx.data, `${label} grad x`, 2e-6 * Math.max(8, O), 1e-4);
        assertClose(await tw.grad!.read(), gw.data, `${label} grad w`, 2e-6 * Math.max(8, R), 1e-4);
        if (withBias) {
          assertClose(await tb.grad!.read(), gb, `${label} grad bias`, 2e-6 * Math.max(8, R), 1e-4);
        }
        if (withRes) assertClose(await tr.grad!.read(), g.data, `${label} grad residual`, 1e-7, 1e-6); // g itself (f32)
      });
    }
  }
  printWorst("linear");
});

Deno.test("forward_uniform row windows: aligned, inside the buffer, covering every row once", () => {
  const WIN = 16384;
  let shifted = 0;
  // [M, K, A's offset, buffer floats]: exact fits, a last window shifted back to the buffer's end, K = 1
  const cases = [[16384, 1, 0, 16384], [16400, 1, 0, 20480], [1000, 37, 0, 40960], [300, 200, 0, 65536], [
    2048,
    64,
    0,
    131072,
  ], [
    1024,
    256,
    0,
    262144,
  ], [500, 33, 100, 16640 + 64 * 100]];
  for (const [M, K, aOff, buf] of cases) {
    const ws = rowWindows(M, K, aOff, buf);
    let next = 0;
    for (const w of ws) {
      const start = aOff + w.r0 * K, end = aOff + (w.r0 + w.rows) * K;
      const ok = w.r0 === next && w.rows > 0 && w.offset % 64 === 0 && w.offset >= 0 &&
        w.offset + WIN <= buf && w.offset <= start && end <= w.offset + WIN;
      if (!ok) throw new Error(`M ${M} K ${K}: window ${JSON.stringify(w)} (buffer ${buf})`);
      if (Math.floor(start / 64) * 64 !== w.offset) shifted++;
      next = w.r0 + w.rows;
    }
    if (next !== M) throw new Error(`M ${M} K ${K}: windows end at row ${next}`);
    // whole windows when every start is aligned: 2048 rows of 64 in 8, 1024 of 256 in 16
    if (K === 64 && ws.length !== Math.ceil(M / 256)) throw new Error(`M ${M} K 64: ${ws.length} windows`);
  }
  if (shifted < 2) {
    throw new Error(`only ${shifted} windows shifted back: the end-of-buffer case is untested`);
  }
});

Deno.test("linear through forward_uniform (windows of A, blocks of B) vs float64: awkward and real sizes", async () => {
  const ctx = await gpu();
  // [R, in, out]: K = 1 (two windows, the last shifted back), K = 37 and 127 (odd, several windows and
  // column blocks of 442 and 129), K = 96 (2 windows of 170 rows; grad x at K = 70), the UNets' Linear shapes.
  const cases: [number, number, number][] = [[16400, 1, 5], [1000, 37, 300], [300, 127, 600], [240, 96, 70], [
    2048,
    64,
    512,
  ], [1024, 128, 64]];
  for (const [R, I, O] of cases) {
    const label = `linear uniform [${R},${I}]->${O}`;
    const x = randNd([R, I], R + I), w = randNd([O, I], O + 1), b = randNd([O], 2), r = randNd([R, O], 3);
    const g = randNd([R, O], 4);
    await ctx.scope(async () => {
      const tx = upload(ctx, x, true), tw = upload(ctx, w, true), tb = upload(ctx, b, true);
      const tr = upload(ctx, r, true), tg = upload(ctx, g);
      // the specs `linear` gives gemm for its forward (A = x) and its input gradient (A = g)
      const spec = (M: number, N: number, K: number) => ({
        batch: 1,
        M,
        N,
        K,
        sam: K,
        sak: 1,
        sa1: 0,
        sbk: 1,
        sbn: K,
        sb1: 0,
      });
      if (!uniformFits(tx, spec(R, O, I))) {
        throw new Error(`${label}: the forward would not take forward_uniform`);
      }
      const gxUniform = O <= UNIFORM_MAX_K;
      if (uniformFits(tg, spec(R, I, O)) !== gxUniform) {
        throw new Error(`${label}: grad x path ${!gxUniform}`);
      }
      for (const [withBias, withRes] of [[true, true], [false, false], [true, false]]) {
        const want = linearRef(x, w, withBias ? b : null, withRes ? r : null).data;
        const out = linear(ctx, tx, tw, withBias ? tb : null, withRes ? tr : null);
        assertClose(
          await out.read(),
          want,
          `${label} bias ${+withBias} res ${+withRes} forward`,
          2e-6 * Math.max(8, I),
          1e-4,
        );
      }
      const out = linear(ctx, tx, tw, tb, tr);
      backward(ctx, out, { grad: tg });
      const [rgx, rgw] = linearRefBackward(x, w, g);
      assertClose(await tx.grad!.read(), rgx.data, `${label} grad x`, 2e-6 * Math.max(8, O), 1e-4);
      assertClose(await tw.grad!.read(), rgw.data, `${label} grad w`, 2e-6 * Math.max(8, R), 1e-4);
    });
  }
  printWorst("linear uniform");
});

Deno.test("linear: a weight whose buffer holds its whole windows is bound in place (no pack_b), same bits as packed", async () => {
  const ctx = await gpu();
  // [R, in, out]: one block (K = 64), two blocks of 256 and 44 columns (K = 64), of 512 and 88 columns
  // (K = 32), K = 128; x is at least one window (the uniform path). A parameter's buffer holds whole
  // 64 KiB windows; the uploaded weights' are one size class (under a window, or short of the last
  // block's).
  const cases: [number, number, number][] = [[1024, 64, 64], [512, 64, 300], [600, 32, 600], [200, 128, 70]];
  for (const [R, I, O] of cases) {
    const label = `linear in place [${R},${I}]->${O}`;
    const x = randNd([R, I], R + 7), w = randNd([O, I], O + 8), b = randNd([O], 9);
    await ctx.scope(async () => {
      const tx = upload(ctx, x), tb = upload(ctx, b);
      const packedW = upload(ctx, w); // its buffer is one size class: packed per call
      const ownW = parameter(ctx, Float32Array.from(w.data), w.shape, "w");
      assert.equal(ownW.buffer.size % WEIGHT_WINDOW_BYTES, 0);
      const run = async (tw: Tensor) => {
        const d0 = ctx.stats.dispatches;
        const y = linear(ctx, tx, tw, tb);
        return { dispatches: ctx.stats.dispatches - d0, out: await y.read() };
      };
      const packed = await run(packedW), own = await run(ownW);
      assert.equal(own.dispatches, packed.dispatches - 1, `${label}: no pack_b`);
      const differ = own.out.findIndex((v, i) => !Object.is(v, packed.out[i]));
      assert.equal(differ, -1, `${label}: in place and packed differ first at ${differ}`);
      assertClose(own.out, linearRef(x, w, b, null).data, label, 2e-6 * Math.max(8, I), 1e-4);
      ownW.persistent = false;
      ownW.dispose();
    });
  }
});

Deno.test("linear weight gradient g^T x through weight_grad_uniform (windows of g's rows) vs float64", async () => {
  const ctx = await gpu();
  // [R, in, out]: the UNets' shapes (64 -> 64 and a feed-forward's 256 -> 64 over 1024 tokens), awkward ones:
  // out = 36 (16-row blocks + 4), in = 68 (8-column tiles + 4), 600 rows of 36 (windows not 64-aligned:
  // shifted), out = 16 over 5,000 rows (5 windows); each g at least one 64 KiB window.
  const cases: [number, number, number][] = [[1024, 64, 64], [1024, 256, 64], [600, 68, 36], [5000, 20, 16]];
  for (const [R, I, O] of cases) {
    const label = `linear wgrad uniform [${R},${I}]->${O}`;
    const x = randNd([R, I], R + 3), w = randNd([O, I], O + 4), g = randNd([R, O], 5);
    const [, gw] = linearRefBackward(x, w, g);
    await ctx.scope(async () => {
      const tx = upload(ctx, x), tw = upload(ctx, w, true), tg = upload(ctx, g);
      const spec = { batch: 1, sa1: 0, sb1: 0, M: O, N: I, K: R, sam: 1, sak: O, sbk: I, sbn: 1 };
      assert.ok(weightGradFits(tg, spec), `${label}: takes the uniform path`);
      assert.ok(!weightGradFits(tg, { ...spec, M: 2 * WEIGHT_GRAD_MAX_M }), "wider g: the storage kernel");
      const out = empty(ctx, [O, I]);
      const d0 = ctx.stats.dispatches;
      gemm(ctx, tg, tx, out, spec);
      const windows = rowWindows(R, O, 0, tg.buffer.size / 4).length;
      assert.equal(ctx.stats.dispatches - d0, windows, `${label}: one dispatch per window of g`);
      assertClose(await out.read(), gw.data, label, 2e-6 * Math.max(8, R), 1e-4);
      // through linear's backward too
      const y = linear(ctx, tx, tw, null);
      backward(ctx, y, { grad: tg });
      assertClose(await tw.grad!.read(), gw.data, `${label} (backward)`, 2e-6 * Math.max(8, R), 1e-4);
    });
  }
  printWorst("linear wgrad uniform");
});
