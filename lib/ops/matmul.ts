// Batched matmul with transpose options (kernels/matmul.wgsl).
// a: [..., M, K] (or [..., K, M] with transA), b: [..., K, N] (or [..., N, K] with transB);
// the batch part is the product of leading axes; one side may have batch 1 (broadcast).
// `gemm` is the strided engine underneath (attention reads and writes heads through it).
import { MAX_GROUPS } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, packedWeight, record } from "./util.ts";
import { sum, sumToShape } from "./reduce.ts";

const kernel = new KernelFile("matmul.wgsl");
const WX = 8; // lanes along columns (llvmpipe's SIMD width): A loads stay uniform across them
const COLS = 8; // columns per invocation (two vec4), fixed in the kernel
/** Longest K range one dispatch loops over (llvmpipe cuts loops at 65,535 iterations). */
export const K_CHUNK = 8192;

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * out(z, m, n) = sum_k A(z, m, k) * B(z, k, n) for z < batch. Element strides (in floats) place each
 * operand, with z split as (z / nc, z % nc):
 *   A(z, m, k) = a[aOffset + (z / nc) * sa1 + (z % nc) * sa2 + m * sam + k * sak]
 *   B(z, k, n) = b[(z / nc) * sb1 + (z % nc) * sb2 + k * sbk + n * sbn]
 *   out(z, m, n) = out[outOffset + (z / nc) * sc1 + (z % nc) * sc2 + m * scm + n]
 * Stride 0 broadcasts. The output defaults to contiguous [batch, M, N]; nc with the z strides lets
 * one call read and write the heads of [B, L, H * Dh] tensors in place (attention).
 */
export interface GemmSpec {
  batch: number;
  nc?: number;
  M: number;
  N: number;
  K: number;
  sam: number;
  sak: number;
  sa1: number;
  sa2?: number;
  sbk: number;
  sbn: number;
  sb1: number;
  sb2?: number;
  /** Where A(0, 0, 0) is (floats). */
  aOffset?: number;
  /** Where out(0, 0, 0) is (floats). */
  outOffset?: number;
  /** Output strides (floats); default contiguous: scm = N, sc2 = M * N, sc1 = nc * M * N. */
  scm?: number;
  sc1?: number;
  sc2?: number;
  /** Add to out instead of overwriting it. */
  accumulate?: boolean;
  /** Epilogue (not with accumulate): out(z, m, n) += bias[n]. */
  bias?: Tensor | null;
  /** Epilogue (not with accumulate): out += residual at out's own index (laid out like out). */
  residual?: Tensor | null;
}

/** Rows per invocation and workgroup height for a shape (small M keeps lanes busy). */
export function tileFor(M: number): { TM: number; WY: number } {
  if (M >= 64) return { TM: 16, WY: 4 };
  // 16 rows from 32 on: measured 10-20% faster than 8 for 32-64 channel convolutions (llvmpipe)
  if (M >= 32) return { TM: 16, WY: Math.ceil(M / 16) };
  if (M >= 16) return { TM: 8, WY: Math.min(8, Math.ceil(M / 8)) };
  const TM = M <= 1 ? 1 : M <= 2 ? 2 : 4;
  return { TM, WY: Math.max(1, Math.ceil(M / TM)) };
}

/**
 * Whether B can be read as vec4 rows in place: unit column stride, rows and batch offsets on vec4
 * boundaries (else the kernel reads 8 scalars per k: BT = 1). A tile's columns past N may read the
 * next row or past the buffer's end (bounds-checked); they are never stored.
 */
export function bAsVec4(s: GemmSpec): boolean {
  return s.sbn === 1 && s.sbk % 4 === 0 && s.sb1 % 4 === 0 && (s.sb2 ?? 0) % 4 === 0;
}

/** Encodes out = A @ B as described by `s` (see GemmSpec). */
export function gemm(ctx: GpuContext, a: Tensor, b: Tensor, out: Tensor, s: GemmSpec) {
  const nc = s.nc ?? 1, sa2 = s.sa2 ?? 0, sb2 = s.sb2 ?? 0;
  const { batch, M, N, K } = s;
  if (!batch || !M || !N) return;
  const scm = s.scm ?? N, sc2 = s.sc2 ?? M * N, sc1 = s.sc1 ?? nc * M * N, c0 = s.outOffset ?? 0;
  const zl = batch - 1;
  const last = c0 + Math.floor(zl / nc) * sc1 + (zl % nc) * sc2 + (M - 1) * scm + N - 1;
  if (last >= out.size) throw new Error(`gemm: output ${out.describe()} too small for ${batch}x${M}x${N}`);
  const BT = bAsVec4(s) ? 0 : 1;
  if (s.accumulate && (s.bias || s.residual)) throw new Error("gemm: bias / residual with accumulate");
  if (s.bias && s.bias.size !== N) throw new Error(`gemm: bias ${s.bias.describe()} for ${N} columns`);
  if (s.residual && s.residual.size <= last) {
    throw new Error(`gemm: residual ${s.residual.describe()} smaller than the output`);
  }
  const epi = (s.bias ? 1 : 0) | (s.residual ? 2 : 0);
  if (uniformFits(a, s)) return gemmUniform(ctx, a, b, out, s, epi);
  if (weightGradFits(a, s)) return gemmWeightGrad(ctx, a, b, out, s);
  const tile = tileFor(M);
  // A grid of fewer than 4 workgroups (a small Linear's weight gradient: 64 x 64 over 1024 rows is
  // one) runs on one core: one row of lanes per workgroup then (the same invocations, so the same
  // bits) spreads it over more; 1.3x for that shape.
  const TM = tile.TM,
    WY = Math.ceil(N / (COLS * WX)) * Math.ceil(M / (TM * tile.WY)) * batch < 4 ? 1 : tile.WY;
  // At most MAX_GROUPS batches per dispatch (the z dimension's limit); the kernel adds z0.
  for (let z0 = 0; z0 < batch; z0 += MAX_GROUPS) {
    const groups: [number, number, number] = [
      Math.ceil(N / (COLS * WX)),
      Math.ceil(M / (TM * WY)),
      Math.min(MAX_GROUPS, batch - z0),
    ];
    for (let k0 = 0; k0 < Math.max(K, 1); k0 += K_CHUNK) {
      const k1 = Math.min(K, k0 + K_CHUNK);
      ctx.run(kernel, "forward", {
        label: ctx.profiler ? `${batch}x${M}x${K}x${N}${BT ? " BT" : ""}` : undefined,
        buffers: [a, b, out, b, s.bias ?? a, s.residual ?? a],
        params: kernelParams({
          m: M,
          n: N,
          k0,
          k1,
          sam: s.sam,
          sak: s.sak,
          nc,
          a0: s.aOffset ?? 0,
          sa1: s.sa1,
          sa2,
          z0,
          acc: k0 > 0 || s.accumulate ? 1 : 0,
          sbk: s.sbk,
          sbn: s.sbn,
          sb1: s.sb1,
          sb2,
          c0,
          sc1,
          sc2,
          scm,
          epi,
        }),
        groups,
        overrides: { TM, WX, WY, BT },
        flops: 2 * M * N * (k1 - k0) * groups[2],
      });
    }
  }
}

/** kernels/matmul.wgsl's Params, in its field order (fields not given are 0). */
interface KernelParams {
  m: number;
  n: number;
  k0: number;
  k1: number;
  sam: number;
  sak: number;
  nc: number;
  a0: number;
  sa1: number;
  sa2: number;
  z0: number;
  acc: number;
  sbk: number;
  sbn: number;
  sb1: number;
  sb2: number;
  c0: number;
  sc1: number;
  sc2: number;
  scm: number;
  epi: number;
}
const PARAM_FIELDS: (keyof KernelParams)[] = [
  "m",
  "n",
  "k0",
  "k1",
  "sam",
  "sak",
  "nc",
  "a0",
  "sa1",
  "sa2",
  "z0",
  "acc",
  "sbk",
  "sbn",
  "sb1",
  "sb2",
  "c0",
  "sc1",
  "sc2",
  "scm",
  "epi",
];

function kernelParams(q: Partial<KernelParams>): number[] {
  return PARAM_FIELDS.map((f) => q[f] ?? 0);
}

// ---- forward_uniform: both operands through 64 KiB uniform windows (kernels/matmul.wgsl) ----
/** Floats per uniform window (64 KiB: WebGPU's default uniform binding limit). */
export const WIN = 16384;
/** Window offsets must be multiples of this many floats (minUniformBufferOffsetAlignment 256 B). */
export const WIN_ALIGN = 64;
/**
 * Largest inner dimension forward_uniform takes (a window then holds 127 rows of A). At K = 256 (63
 * rows a window) the dispatches per GEMM outweigh the faster loads: 1x2048x256x64 took 42.5 ms in
 * 132 dispatches against 40.1 ms in 4 for the storage kernel (a sampling step's profile).
 */
export const UNIFORM_MAX_K = 128;

/**
 * Whether `gemm` takes forward_uniform for this spec: one batch, A's rows contiguous (a Linear's input
 * or output gradient), K <= UNIFORM_MAX_K, at least 64 rows, no accumulation, and A's buffer at least
 * one window long (a window is bound whole). Measured on llvmpipe: 1.2-1.7x the storage kernel for
 * the UNets' Linear shapes (docs/ENGINE.md).
 */
export function uniformFits(a: Tensor, s: GemmSpec): boolean {
  return s.batch === 1 && (s.nc ?? 1) === 1 && s.sak === 1 && s.sam === s.K && s.K >= 1 &&
    s.K <= UNIFORM_MAX_K && s.M >= 64 && !s.accumulate && a.buffer.size >= WIN * 4;
}

/**
 * The windows of A's rows for forward_uniform (A(m, k) at aOffset + m * K + k of a buffer of bufFloats
 * floats): rows [r0, r0 + rows) in the WIN floats from `offset`, which is aligned and at or before
 * the first row's start, or the buffer's last aligned window when a window from there would run past
 * the buffer's end. 2048 rows of K = 64 take 8 windows.
 */
export function rowWindows(
  M: number,
  K: number,
  aOffset: number,
  bufFloats: number,
): { r0: number; rows: number; offset: number }[] {
  // Whole windows of rows when every window then starts aligned (K = 32, 64, 128 with A at an aligned
  // offset), else room for the alignment slack.
  const whole = Math.floor(WIN / K);
  const aligned = aOffset % WIN_ALIGN === 0 && (whole * K) % WIN_ALIGN === 0;
  const rowsPer = aligned ? whole : Math.floor((WIN - WIN_ALIGN) / K), out = [];
  for (let r0 = 0; r0 < M; r0 += rowsPer) {
    const start = aOffset + r0 * K;
    let offset = Math.floor(start / WIN_ALIGN) * WIN_ALIGN;
    if (offset + WIN > bufFloats) offset = Math.floor((bufFloats - WIN) / WIN_ALIGN) * WIN_ALIGN;
    out.push({ r0, rows: Math.min(rowsPer, M - r0), offset });
  }
  return out;
}

/**
 * out = A @ B through forward_uniform: pack_b lays B out in blocks of floor(WIN / K) columns (one
 * window each; B changes every training step, so it is packed per call, or once per sampling loop:
 * packedWeight; K * N floats written), then one dispatch per
 * (window of A's rows, block). A row window starts on an aligned offset at or before its first row,
 * or ends at the buffer's end when a whole window would run past it.
 */
function gemmUniform(ctx: GpuContext, a: Tensor, b: Tensor, out: Tensor, s: GemmSpec, epi: number) {
  const { M, N, K } = s;
  const cols = Math.floor(WIN / K), blocks = Math.ceil(N / cols);
  // B(k, n) = b[n * K + k] with K dividing WIN is already pack_b's layout (a Linear's forward: its
  // weight [out, in]); bound in place when its buffer holds every block's whole window.
  const inPlace = s.sbk === 1 && s.sbn === K && WIN % K === 0 && b.buffer.size >= blocks * WIN * 4;
  const { pack: packed, owned } = inPlace
    ? { pack: b, owned: false }
    : packedWeight(ctx, b, `gemm ${K} ${N} ${s.sbk} ${s.sbn}`, () => {
      const packed = empty(ctx, [blocks * WIN]);
      const packGroups = Math.ceil((N * K) / 64);
      ctx.run(kernel, "pack_b", {
        buffers: [null, null, packed, b],
        params: kernelParams({ m: N * K, n: N, sbk: s.sbk, sbn: s.sbn }),
        groups: [Math.min(packGroups, MAX_GROUPS), Math.ceil(packGroups / MAX_GROUPS), 1],
        overrides: { KC: K },
      });
      return packed;
    });
  const c0 = s.outOffset ?? 0, scm = s.scm ?? N;
  let first = true;
  for (const { r0, rows, offset: o } of rowWindows(M, K, s.aOffset ?? 0, a.buffer.size / 4)) {
    const start = (s.aOffset ?? 0) + r0 * K;
    const { TM, WY } = tileFor(rows);
    for (let j = 0; j < blocks; j++) {
      const n0 = j * cols, ncols = Math.min(cols, N - n0);
      ctx.run(kernel, "forward_uniform", {
        label: ctx.profiler ? `${M}x${K}x${N} uniform` : undefined,
        buffers: [
          null,
          null,
          out,
          null,
          s.bias ?? a,
          s.residual ?? a,
          { buffer: a.buffer, window: { offset: o * 4, size: WIN * 4 } },
          { buffer: packed.buffer, window: { offset: j * WIN * 4, size: WIN * 4 } },
        ],
        // columns are global (the bias and the store read them so): this block's are [n0, n0 + ncols)
        params: kernelParams({ m: rows, n: n0 + ncols, a0: start - o, z0: n0, c0: c0 + r0 * scm, scm, epi }),
        groups: [Math.ceil(ncols / (COLS * WX)), Math.ceil(rows / (TM * WY)), 1],
        overrides: { TM, WX, WY, KC: K },
        flops: first ? 2 * M * N * K : 0,
      });
      first = false;
    }
  }
  if (owned) packed.dispose();
}

/**
 * Most rows (a Linear's output features) weight_grad_uniform takes. Side by side (llvmpipe, the UNets'
 * shapes, 2-3 rounds): M = 64 1.1-1.6x the storage kernel (64x64 over 1024 rows 1.0-1.5x, 64x256 1.5-1.8x,
 * 64x64 and 64x256 over 256 rows 1.35x and 1.7-3.0x); M = 128 0.77-0.88x, 256 0.9-1.0x, 512 0.6-0.85x
 * (16,384 / M rows a window: the dispatches outweigh the loads).
 */
export const WEIGHT_GRAD_MAX_M = 64;

/**
 * Whether `gemm` takes weight_grad_uniform: C = A^T B for one batch with A(m, k) = a[aOffset + k * M + m]
 * (a Linear's output gradient g [R, M], transposed: its weight gradient g^T x), M a multiple of 4 from 16
 * to WEIGHT_GRAD_MAX_M, B's rows as vec4 in place, nothing added, and A's buffer at least one window long.
 */
export function weightGradFits(a: Tensor, s: GemmSpec): boolean {
  const aOffset = s.aOffset ?? 0;
  return s.batch === 1 && (s.nc ?? 1) === 1 && s.sam === 1 && s.sak === s.M && s.M % 4 === 0 && s.M >= 16 &&
    s.M <= WEIGHT_GRAD_MAX_M && aOffset % 4 === 0 && s.K >= 1 && !s.accumulate && !s.bias && !s.residual &&
    bAsVec4(s) && a.buffer.size >= WIN * 4;
}

/**
 * out = A^T B through weight_grad_uniform: one dispatch per window of A's rows (K of them; rowWindows,
 * as forward_uniform's A), each adding into out after the first. B is read from storage in place.
 */
function gemmWeightGrad(ctx: GpuContext, a: Tensor, b: Tensor, out: Tensor, s: GemmSpec) {
  const { M, N, K } = s, aOffset = s.aOffset ?? 0;
  rowWindows(K, M, aOffset, a.buffer.size / 4).forEach(({ r0, rows, offset }, i) => {
    ctx.run(kernel, "weight_grad_uniform", {
      label: ctx.profiler ? `${M}x${K}x${N} weight grad uniform` : undefined,
      // bindings 5 and 6 (bias, residual) are declared by store and unread here (acc or epi 0)
      buffers: [null, b, out, null, a, a, {
        buffer: a.buffer,
        window: { offset: offset * 4, size: WIN * 4 },
      }],
      params: kernelParams({
        m: M,
        n: N,
        k0: r0,
        k1: r0 + rows,
        sak: M,
        a0: aOffset + r0 * M - offset,
        acc: i > 0 ? 1 : 0,
        sbk: s.sbk,
        c0: s.outOffset ?? 0,
        scm: s.scm ?? N,
      }),
      groups: [Math.ceil(N / (COLS * WX)), Math.ceil(M / 16), 1],
      overrides: { WX },
      flops: i === 0 ? 2 * M * N * K : 0,
    });
  });
}

/**
 * y = x W^T + bias (+ residual): x [R, in], w [out, in] (or [out, in, 1, 1]), bias [out] | null,
 * residual [R, out] | null -> [R, out]. One GEMM with the adds in its epilogue (a Linear, and the
 * residual stream's add after an output projection). Gradients: gx = g W, gw = g^T x, gbias = column
 * sums of g (chunked reduction), gresidual = g.
 */
export function linear(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  residual: Tensor | null = null,
): Tensor {
  const [R, I] = x.shape, O = w.shape[0];
  if (x.shape.length !== 2 || w.size !== O * I) {
    throw new Error(`linear: x ${x.describe()} is not [R, in] for weight ${w.describe()} [out, in]`);
  }
  if (bias && bias.size !== O) throw new Error(`linear: bias ${bias.describe()} for ${O} outputs`);
  if (residual && residual.size !== R * O) {
    throw new Error(`linear: residual ${residual.describe()} is not [${R}, ${O}]`);
  }
  const y = empty(ctx, [R, O]);
  const rows = { batch: 1, sa1: 0, sb1: 0 };
  gemm(ctx, x, w, y, { ...rows, M: R, N: O, K: I, sam: I, sak: 1, sbk: 1, sbn: I, bias, residual });
  const inputs = [x, w, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  return record(ctx, "linear", inputs, y, (g, prior) => {
    let gx: Tensor | null = null, gw: Tensor | null = null;
    if (x.requiresGrad) {
      gx = empty(ctx, [R, I]); // g [R, out] @ w [out, in] (+ x's gradient so far, in the epilogue)
      const sofar = prior?.grads[0] ?? null;
      gemm(ctx, g, w, gx, { ...rows, M: R, N: I, K: O, sam: O, sak: 1, sbk: I, sbn: 1, residual: sofar });
      if (sofar) prior!.used[0] = true;
    }
    if (w.requiresGrad) {
      gw = empty(ctx, w.shape); // g^T [out, R] @ x [R, in]
      gemm(ctx, g, x, gw, { ...rows, M: O, N: I, K: R, sam: 1, sak: O, sbk: I, sbn: 1 });
    }
    const grads = [gx, gw];
    if (bias) grads.push(bias.requiresGrad ? sum(ctx, g, 0) : null);
    if (residual) grads.push(residual.requiresGrad ? g.view(residual.shape) : null);
    return grads;
  });
}

function dims(t: Tensor, trans: boolean): { batch: number; rows: number; cols: number } {
  if (t.shape.length < 2) throw new Error(`matmul: ${t.describe()} needs rank >= 2`);
  const r = t.shape[t.shape.length - 2];
  const c = t.shape[t.shape.length - 1];
  return { batch: t.size / (r * c), rows: trans ? c : r, cols: trans ? r : c };
}

/** C = op(A) @ op(B), batched. Output shape: batch axes of the larger side, then [M, N]. */
export function matmul(ctx: GpuContext, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const ta = !!opts.transA, tb = !!opts.transB;
  const da = dims(a, ta), db = dims(b, tb);
  if (da.cols !== db.rows) {
    throw new Error(
      `matmul: inner sizes differ: ${a.describe()}${ta ? "^T" : ""} @ ${b.describe()}${tb ? "^T" : ""}`,
    );
  }
  if (da.batch !== db.batch && da.batch !== 1 && db.batch !== 1) {
    throw new Error(`matmul: batch ${da.batch} vs ${db.batch} (${a.describe()} @ ${b.describe()})`);
  }
  const batch = Math.max(da.batch, db.batch);
  const M = da.rows, K = da.cols, N = db.cols;
  const lead = (da.batch >= db.batch ? a : b).shape.slice(0, -2);
  const c = empty(ctx, [...lead, M, N]);
  matmulRaw(ctx, a, b, ta, tb, batch, M, K, N, c);
  return record(ctx, "matmul", [a, b], c, (gc) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      // dA = gC @ op(B)^T  (or its transpose when A was transposed)
      const full = ta
        ? matmulRaw(ctx, b, gc, tb, true, batch, K, N, M) // [K, M]
        : matmulRaw(ctx, gc, b, false, !tb, batch, M, N, K); // [M, K]
      ga = full.size === a.size ? full.view(a.shape) : reduceBatch(ctx, full, a);
      full.dispose();
    }
    if (b.requiresGrad) {
      const full = tb
        ? matmulRaw(ctx, gc, a, true, ta, batch, N, M, K) // [N, K]
        : matmulRaw(ctx, a, gc, !ta, false, batch, K, M, N); // [K, N]
      gb = full.size === b.size ? full.view(b.shape) : reduceBatch(ctx, full, b);
      full.dispose();
    }
    return [ga, gb];
  });
}

function reduceBatch(ctx: GpuContext, full: Tensor, like: Tensor): Tensor {
  const r = like.shape[like.shape.length - 2], c = like.shape[like.shape.length - 1];
  const v = full.view([full.size / (r * c), r, c]);
  const s = sumToShape(ctx, v, [1, r, c]);
  v.dispose();
  const out = s.view(like.shape);
  s.dispose();
  return out;
}

/**
 * out[batch, m, n] = op(x) @ op(y) with x stored [xb, m, k] (or [xb, k, m] when tx) and y stored
 * [yb, k, n] (or [yb, n, k] when ty), xb and yb each 1 (broadcast) or `batch`.
 */
function matmulRaw(
  ctx: GpuContext,
  x: Tensor,
  y: Tensor,
  tx: boolean,
  ty: boolean,
  batch: number,
  m: number,
  k: number,
  n: number,
  out = empty(ctx, [batch, m, n]),
): Tensor {
  const xb = x.size / (m * k), yb = y.size / (k * n);
  gemm(ctx, x, y, out, {
    batch,
    M: m,
    N: n,
    K: k,
    sam: tx ? 1 : k,
    sak: tx ? m : 1,
    sa1: xb === 1 ? 0 : m * k,
    sbk: ty ? 1 : n,
    sbn: ty ? k : 1,
    sb1: yb === 1 ? 0 : k * n,
  });
  return out;
}
