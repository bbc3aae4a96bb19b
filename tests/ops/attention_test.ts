// Multi-head attention: float64 reference vs finite differences (plain, masked, causal), GPU vs
// reference forward and the q, k, v gradients for self and cross attention, key padding masks
// (including a fully masked batch row, which must give 0 and no NaN), causal, and realistic sizes,
// through the fused kernels (kernels/attention.wgsl) and the composed GEMM + softmax path.
import { backward } from "../../lib/autograd/backward.ts";
import assert from "node:assert/strict";
import { attention, batchWindows, fusedFits } from "../../lib/ops/attention.ts";
import { reshape } from "../../lib/ops/copy.ts";
import { groupNorm, layerNorm } from "../../lib/ops/norm.ts";
import type { Nd } from "../../lib/ref/nd.ts";
import { attentionRef, attentionRefBackward, type AttentionRefOptions } from "../../lib/ref/layers.ts";
import { assertClose, checkVjp, gpu, randNd, upload, worstErrors } from "../_helpers.ts";

/** A [B, Lk] mask of 0/1 with roughly `keep` of the keys kept; batch rows in `empty` fully masked. */
function makeMask(B: number, Lk: number, seed: number, keep: number, empty: number[] = []): Nd {
  const m = randNd([B, Lk], seed, 0, 1);
  m.data = m.data.map((v, i) => (empty.includes(Math.floor(i / Lk)) ? 0 : v < keep ? 1 : 0));
  return m;
}

Deno.test("attentionRef VJP matches finite differences (cross, masked, causal)", () => {
  const cases: [number, number, number, number, AttentionRefOptions][] = [
    [2, 3, 4, 2, {}],
    [2, 3, 5, 1, { keyMask: makeMask(2, 5, 3, 0.6, [1]) }],
    [1, 4, 4, 2, { causal: true }],
    [2, 4, 4, 2, { causal: true, keyMask: makeMask(2, 4, 4, 0.7) }],
  ];
  for (const [B, Lq, Lk, H, opts] of cases) {
    const HD = H * 3;
    checkVjp(
      `attentionRef B=${B} Lq=${Lq} Lk=${Lk} H=${H} ${Object.keys(opts)}`,
      [randNd([B, Lq, HD], 1, -2, 2), randNd([B, Lk, HD], 2, -2, 2), randNd([B, Lk, HD], 3)],
      ([q, k, v]) => attentionRef(q, k, v, H, opts),
      ([q, k, v], g) => attentionRefBackward(q, k, v, H, g, opts),
    );
  }
});

interface Case {
  B: number;
  Lq: number;
  Lk: number;
  H: number;
  Dh: number;
  mask?: Nd;
  causal?: boolean;
}

/**
 * Forward and q, k, v gradients against the float64 reference, through the fused kernels where the case
 * fits them (checked: the forward is then one dispatch per window) and, with `composed`, through the
 * GEMM + softmax path (chunked when `budgetBytes` is small).
 */
async function checkAttention(
  c: Case,
  tol = { atol: 1e-5, rtol: 1e-4 },
  budgetBytes?: number,
  composed = false,
) {
  const ctx = await gpu();
  const { B, Lq, Lk, H, Dh } = c;
  const fused = !composed && fusedFits(Lk, H * Dh, Dh, B) && fusedFits(Lq, H * Dh, Dh, B);
  const label = `attention B=${B} Lq=${Lq} Lk=${Lk} H=${H} Dh=${Dh}${c.mask ? " mask" : ""}${
    c.causal ? " causal" : ""
  }${budgetBytes ? ` budget ${budgetBytes}` : ""}${fused ? " fused" : ""}`;
  const seed = B + 3 * Lq + 5 * Lk + 7 * H + 11 * Dh;
  const q = randNd([B, Lq, H * Dh], seed, -2, 2), k = randNd([B, Lk, H * Dh], seed + 1, -2, 2);
  const v = randNd([B, Lk, H * Dh], seed + 2);
  const opts: AttentionRefOptions = { keyMask: c.mask, causal: c.causal };
  const want = attentionRef(q, k, v, H, opts);
  const go = randNd(want.shape, seed + 3);
  const [gq, gk, gv] = attentionRefBackward(q, k, v, H, go, opts);
  await ctx.scope(async () => {
    const [tq, tk, tv] = [upload(ctx, q, true), upload(ctx, k, true), upload(ctx, v, true)];
    const keyMask = c.mask ? upload(ctx, c.mask) : undefined;
    const d0 = ctx.stats.dispatches;
    const y = attention(ctx, tq, tk, tv, H, { keyMask, causal: c.causal, budgetBytes, fused: !composed });
    if (fused) {
      const windows = batchWindows(B, Lk * H * Dh, Math.max(tk.buffer.size / 4, 16384)).length;
      assert.equal(
        ctx.stats.dispatches - d0,
        windows,
        `${label}: the fused forward, one dispatch per window`,
      );
    }
    const got = await y.read();
    if (got.some(Number.isNaN)) throw new Error(`${label}: NaN in output`);
    assertClose(got, want.data, `${label} forward`, tol.atol, tol.rtol);
    backward(ctx, y, { grad: upload(ctx, go) });
    assertClose(await tq.grad!.read(), gq.data, `${label} grad q`, tol.atol, tol.rtol);
    assertClose(await tk.grad!.read(), gk.data, `${label} grad k`, tol.atol, tol.rtol);
    assertClose(await tv.grad!.read(), gv.data, `${label} grad v`, tol.atol, tol.rtol);
  });
}

function printWorst() {
  for (const [k, v] of worstErrors) {
    if (k.startsWith("attention ")) console.log(`${k}: ${v.toExponential(2)}`);
  }
}

/** Each case through the fused kernels (where it fits) and through the composed path. */
async function checkBoth(c: Case) {
  await checkAttention(c);
  await checkAttention(c, undefined, undefined, true);
}

Deno.test("attention GPU matches reference: self, cross, awkward sizes (fused and composed)", async () => {
  await checkBoth({ B: 1, Lq: 1, Lk: 1, H: 1, Dh: 1 });
  await checkBoth({ B: 1, Lq: 1, Lk: 1, H: 1, Dh: 4 });
  await checkBoth({ B: 2, Lq: 7, Lk: 5, H: 3, Dh: 5 }); // cross, odd sizes
  await checkBoth({ B: 2, Lq: 7, Lk: 5, H: 3, Dh: 4 }); // the same, fused: an odd Lq (a query pair of one)
  await checkBoth({ B: 1, Lq: 9, Lk: 9, H: 1, Dh: 7 }); // single head: views, no head copies
  await checkBoth({ B: 1, Lq: 63, Lk: 65, H: 2, Dh: 8 });
  await checkBoth({ B: 2, Lq: 65, Lk: 1, H: 2, Dh: 3 }); // one key: P = 1
  await checkBoth({ B: 2, Lq: 65, Lk: 1, H: 2, Dh: 12 });
  await checkBoth({ B: 2, Lq: 16, Lk: 16, H: 1, Dh: 64 }); // the fused kernels' largest head dim
  // 40 batch elements of 1040 floats: 3 windows for K / V and for Q / dO, starts off the alignment
  await checkBoth({ B: 40, Lq: 65, Lk: 65, H: 2, Dh: 8 });
  // 16 of them in a buffer of 20,480 floats (its size class): the second window is shifted back
  await checkBoth({ B: 16, Lq: 65, Lk: 65, H: 2, Dh: 8 });
  printWorst();
});

Deno.test("attention GPU matches reference: key padding mask and causal (fused and composed)", async () => {
  // batch row 1 fully masked: its output and gradients are 0
  await checkBoth({ B: 3, Lq: 6, Lk: 11, H: 2, Dh: 4, mask: makeMask(3, 11, 5, 0.6, [1]) });
  await checkBoth({ B: 2, Lq: 9, Lk: 9, H: 2, Dh: 6, causal: true });
  await checkBoth({ B: 2, Lq: 9, Lk: 9, H: 2, Dh: 8, causal: true });
  await checkBoth({ B: 2, Lq: 77, Lk: 77, H: 3, Dh: 5, causal: true, mask: makeMask(2, 77, 6, 0.8) });
  await checkBoth({ B: 2, Lq: 77, Lk: 77, H: 3, Dh: 4, causal: true, mask: makeMask(2, 77, 6, 0.8, [1]) });
  await checkBoth({ B: 2, Lq: 5, Lk: 8, H: 1, Dh: 4, causal: true }); // Lq < Lk, top-left aligned
  printWorst();
});

Deno.test("attention GPU matches reference at realistic sizes (fused and composed)", async () => {
  // UNet cross-attention on a 16x16 latent against 77 text tokens, 8 heads of 40 (too big to fuse)
  await checkAttention({ B: 2, Lq: 256, Lk: 77, H: 8, Dh: 40, mask: makeMask(2, 77, 7, 0.9) });
  // self-attention over a 32x32 latent
  await checkAttention({ B: 1, Lq: 1024, Lk: 1024, H: 2, Dh: 32 });
  // the base model's 8x8 level at batch 16: self-attention and cross-attention to 16 masked tokens
  await checkBoth({ B: 16, Lq: 64, Lk: 64, H: 4, Dh: 16 });
  await checkBoth({ B: 16, Lq: 64, Lk: 16, H: 4, Dh: 16, mask: makeMask(16, 16, 8, 0.5) });
  // its 16x16 level: 256 tokens of 64 channels, one batch element per window
  await checkBoth({ B: 4, Lq: 256, Lk: 256, H: 4, Dh: 16 });
  printWorst();
});

/** The fused forward (nothing recorded) against the float64 reference; it must be the path taken. */
async function checkFused(c: Case, tol = { atol: 1e-5, rtol: 1e-4 }) {
  const ctx = await gpu();
  const { B, Lq, Lk, H, Dh } = c;
  const label = `fused attention B=${B} Lq=${Lq} Lk=${Lk} H=${H} Dh=${Dh}${c.mask ? " mask" : ""}${
    c.causal ? " causal" : ""
  }`;
  if (!fusedFits(Lk, H * Dh, Dh, B)) throw new Error(`${label}: the fused kernel does not take this case`);
  const seed = 2 * B + 3 * Lq + 5 * Lk + 7 * H + 11 * Dh;
  const q = randNd([B, Lq, H * Dh], seed, -2, 2), k = randNd([B, Lk, H * Dh], seed + 1, -2, 2);
  const v = randNd([B, Lk, H * Dh], seed + 2);
  const want = attentionRef(q, k, v, H, { keyMask: c.mask, causal: c.causal });
  await ctx.scope(async () => {
    const [tq, tk, tv] = [upload(ctx, q), upload(ctx, k), upload(ctx, v)];
    const keyMask = c.mask ? upload(ctx, c.mask) : undefined;
    const d0 = ctx.stats.dispatches;
    const y = attention(ctx, tq, tk, tv, H, { keyMask, causal: c.causal });
    // one dispatch per window of batch elements (windows over the copied 64 KiB buffer when k is smaller)
    const bufFloats = Math.max(tk.buffer.size / 4, 16384);
    const windows = batchWindows(B, Lk * H * Dh, bufFloats).length;
    if (ctx.stats.dispatches - d0 !== windows) {
      throw new Error(`${label}: ${ctx.stats.dispatches - d0} dispatches, want ${windows} (fused)`);
    }
    const got = await y.read();
    if (got.some(Number.isNaN)) throw new Error(`${label}: NaN in output`);
    assertClose(got, want.data, label, tol.atol, tol.rtol);
    // the composed path on the same inputs
    const composed = await attention(ctx, tq, tk, tv, H, { keyMask, causal: c.causal, fused: false }).read();
    assertClose(got, composed, `${label} vs composed`, tol.atol, tol.rtol);
  });
}

Deno.test("fused attention forward (nothing recorded) matches reference: awkward sizes, masks, causal, windows", async () => {
  await checkFused({ B: 1, Lq: 1, Lk: 1, H: 1, Dh: 4 });
  await checkFused({ B: 2, Lq: 7, Lk: 5, H: 3, Dh: 4 }); // cross, odd lengths
  await checkFused({ B: 1, Lq: 63, Lk: 65, H: 2, Dh: 8 });
  await checkFused({ B: 2, Lq: 65, Lk: 1, H: 2, Dh: 12 }); // one key: P = 1
  await checkFused({ B: 2, Lq: 16, Lk: 16, H: 1, Dh: 64 }); // the largest head dim
  // batch row 1 fully masked: its output is 0
  await checkFused({ B: 3, Lq: 6, Lk: 11, H: 2, Dh: 4, mask: makeMask(3, 11, 5, 0.6, [1]) });
  await checkFused({ B: 2, Lq: 9, Lk: 9, H: 2, Dh: 8, causal: true });
  await checkFused({ B: 2, Lq: 77, Lk: 77, H: 3, Dh: 4, causal: true, mask: makeMask(2, 77, 6, 0.8) });
  await checkFused({ B: 2, Lq: 5, Lk: 8, H: 1, Dh: 4, causal: true }); // Lq < Lk, top-left aligned
  // 40 batch elements of 1040 floats: 3 windows, starts off the 64-float alignment
  await checkFused({ B: 40, Lq: 3, Lk: 65, H: 2, Dh: 8, mask: makeMask(40, 65, 9, 0.7, [17]) });
  // 16 of them in a buffer of 20,480 floats (its size class): the second window is shifted back
  await checkFused({ B: 16, Lq: 3, Lk: 65, H: 2, Dh: 8, mask: makeMask(16, 65, 10, 0.7) });
  // 48 x 1024 floats fill their buffer exactly: three whole windows
  await checkFused({ B: 48, Lq: 3, Lk: 64, H: 2, Dh: 8 });
  // the base model's 8x8 level at batch 16: self-attention (4 windows) and cross-attention to 16 masked tokens
  await checkFused({ B: 16, Lq: 64, Lk: 64, H: 4, Dh: 16 });
  await checkFused({ B: 16, Lq: 64, Lk: 16, H: 4, Dh: 16, mask: makeMask(16, 16, 8, 0.5) });
  for (const [k, v] of worstErrors) if (k.startsWith("fused ")) console.log(`${k}: ${v.toExponential(2)}`);
});

Deno.test("batchWindows (rowWindows over batch elements): every group inside its aligned window, the last ones shifted back", () => {
  for (
    const [B, rowFloats, bufFloats] of [[40, 1040, 41600], [16, 1040, 20480], [48, 1024, 49152], [
      3,
      60,
      16384,
    ], [16, 4096, 65536]]
  ) {
    const wins = batchWindows(B, rowFloats, bufFloats);
    let next = 0;
    for (const w of wins) {
      const start = w.r0 * rowFloats, end = start + w.rows * rowFloats;
      const ok = w.r0 === next && w.rows >= 1 && w.offset % 64 === 0 && w.offset >= 0 &&
        w.offset + 16384 <= bufFloats &&
        w.offset <= start && end <= w.offset + 16384;
      if (!ok) {
        throw new Error(`batchWindows(${B}, ${rowFloats}, ${bufFloats}): bad window ${JSON.stringify(w)}`);
      }
      next = w.r0 + w.rows;
    }
    if (next !== B) throw new Error(`batchWindows(${B}, ${rowFloats}, ${bufFloats}) covers ${next} of ${B}`);
  }
  const last = batchWindows(40, 1040, 41600).at(-1)!;
  if (last.offset !== Math.floor((41600 - 16384) / 64) * 64) throw new Error(`last window at ${last.offset}`);
  // the GPU tests' 16 x 1040 floats in a 20,480-float buffer
  const second = batchWindows(16, 1040, 20480)[1];
  if (second.offset !== 4096) throw new Error(`second window at ${second.offset}`);
});

Deno.test("fusedFits: head dims, window size and the cap on windows per pass", () => {
  assert.ok(fusedFits(64, 64, 16, 16)); // the base's 8x8 level at batch 16: 4 windows
  assert.ok(!fusedFits(64, 64, 6, 16)); // Dh not a multiple of 4
  assert.ok(!fusedFits(16, 128, 128, 1)); // Dh over 64
  assert.ok(!fusedFits(77, 320, 40, 2)); // SD's cross-attention: 24,640 floats per batch element
  assert.ok(fusedFits(8, 32, 4, 64 * 64)); // a motion module's frames: 64 batch elements a window, 64 windows
  assert.ok(!fusedFits(8, 32, 4, 64 * 64 + 1)); // one window more: the composed path
  // rows of 60 floats, off the alignment: 272 a window (273 would fit without the alignment's slack)
  assert.ok(fusedFits(5, 12, 4, 272 * 64));
  assert.ok(!fusedFits(5, 12, 4, 272 * 64 + 1));
});

Deno.test("attention and the norms release their saved tensors (no grad, and after backward)", async () => {
  const ctx = await gpu();
  await ctx.sync();
  const before = ctx.pool.inUse;
  const x = randNd([2, 6, 8], 1);
  const run = (requiresGrad: boolean, fused: boolean) => {
    // no scope: every buffer must come back through dispose() and backward's clean-up alone
    const t = upload(ctx, x, requiresGrad);
    const g = upload(ctx, randNd([6], 2), requiresGrad), b = upload(ctx, randNd([6], 3), requiresGrad);
    const a = attention(ctx, t, t, t, 2, { causal: true, fused });
    const n1 = groupNorm(ctx, a, g, b, 3, 1e-5);
    const n1v = reshape(ctx, n1, [2, 8, 6]);
    const n2 = layerNorm(ctx, n1v, g, b, 1e-5);
    const gy = upload(ctx, randNd([2, 8, 6], 4));
    if (requiresGrad) backward(ctx, n2, { grad: gy });
    if (requiresGrad && !t.grad) throw new Error("no gradient reached the attention input");
    for (const z of [t, g, b, a, n1, n1v, n2, gy]) z.dispose();
  };
  for (const fused of [true, false]) {
    const path = fused ? "fused" : "composed";
    run(false, fused);
    await ctx.sync();
    if (ctx.pool.inUse !== before) {
      throw new Error(`${path} no-grad forward leaked ${ctx.pool.inUse - before} bytes`);
    }
    run(true, fused);
    await ctx.sync();
    if (ctx.pool.inUse !== before) {
      throw new Error(`${path} forward + backward leaked ${ctx.pool.inUse - before} bytes`);
    }
  }
});

Deno.test("chunked attention (scores over the budget): heads or query rows at a time, masks, gradients", async () => {
  const ctx = await gpu();
  // budgets that force runs of heads (with and without a key mask) and query chunks within one head
  const cases: [Case, number][] = [
    [{ B: 2, Lq: 7, Lk: 5, H: 3, Dh: 5 }, 7 * 5 * 4 * 2], // 2 heads per chunk: chunks straddle batch rows
    [{ B: 3, Lq: 6, Lk: 11, H: 2, Dh: 4, mask: makeMask(3, 11, 5, 0.6, [1]) }, 6 * 11 * 4 * 5], // 4 heads
    [{ B: 2, Lq: 9, Lk: 4, H: 3, Dh: 3, mask: makeMask(2, 4, 8, 0.7) }, 9 * 4 * 4 * 2], // 1 head (3 has no divisor 2)
    [{ B: 2, Lq: 33, Lk: 17, H: 2, Dh: 6, mask: makeMask(2, 17, 9, 0.8) }, 17 * 4 * 5], // 5 query rows at a time
    [{ B: 1, Lq: 65, Lk: 64, H: 1, Dh: 7 }, 64 * 4 * 64], // single head, query chunks of 64 and 1
  ];
  for (const [c, budget] of cases) await checkAttention(c, { atol: 1e-5, rtol: 1e-4 }, budget, true);
  printWorst();
  await ctx.sync();
  const before = ctx.pool.inUse;
  const x = upload(ctx, randNd([2, 9, 6], 3), true);
  const y = attention(ctx, x, x, x, 2, { budgetBytes: 9 * 9 * 4 });
  const gy = upload(ctx, randNd([2, 9, 6], 4));
  backward(ctx, y, { grad: gy });
  for (const t of [x, y, gy]) t.dispose();
  await ctx.sync();
  if (ctx.pool.inUse !== before) throw new Error(`chunked attention leaked ${ctx.pool.inUse - before} bytes`);
});
