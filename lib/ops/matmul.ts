// Batched matmul with transpose options (kernels/matmul.wgsl).
// a: [..., M, K] (or [..., K, M] with transA), b: [..., K, N] (or [..., N, K] with transB);
// the batch part is the product of leading axes; one side may have batch 1 (broadcast).
// `gemm` is the strided engine underneath, also used by conv2d's weight gradient.
import { groups1d, MAX_GROUPS } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, record } from "./util.ts";
import { sumToShape } from "./reduce.ts";

const kernel = new KernelFile("matmul.wgsl");
const WX = 8; // lanes along columns (llvmpipe's SIMD width): A loads stay uniform across them
const COLS = 8; // columns per invocation (two vec4), fixed in the kernel
const PACK_WG = 256;
/** Longest K range one dispatch loops over (llvmpipe cuts loops at 65,535 iterations). */
export const K_CHUNK = 8192;

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * out[z, m, n] = sum_k A(z, m, k) * B(z, k, n) for z < batch, out contiguous [batch, M, N].
 * Element strides (in floats) place each operand: A(z, m, k) = a[(z / nc) * sa1 + (z % nc) * sa2 +
 * m * sam + k * sak], B likewise with sb1, sb2, sbk, sbn. Stride 0 broadcasts.
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
  /** Where out[0] starts (floats); out[z] follows at z * M * N. */
  outOffset?: number;
  /** Add to out instead of overwriting it. */
  accumulate?: boolean;
}

/** Rows per invocation and workgroup height for a shape (small M keeps lanes busy). */
export function tileFor(M: number): { TM: number; WY: number } {
  if (M >= 64) return { TM: 16, WY: 4 };
  if (M >= 16) return { TM: 8, WY: Math.min(8, Math.ceil(M / 8)) };
  const TM = M <= 1 ? 1 : M <= 2 ? 2 : 4;
  return { TM, WY: Math.max(1, Math.ceil(M / TM)) };
}

/** Encodes out = A @ B as described by `s` (see GemmSpec). */
export function gemm(ctx: GpuContext, a: Tensor, b: Tensor, out: Tensor, s: GemmSpec) {
  const nc = s.nc ?? 1, sa2 = s.sa2 ?? 0, sb2 = s.sb2 ?? 0;
  const { batch, M, N, K } = s;
  if (out.size < (s.outOffset ?? 0) + batch * M * N) {
    throw new Error(`gemm: output ${out.describe()} < ${batch}x${M}x${N}`);
  }
  if (!batch || !M || !N) return;
  // The kernel reads B as vec4 rows with an even vec4 count per row: use B in place when it already
  // is, else pack it (transposed or ragged B) into a zero-padded row-major copy.
  const direct = s.sbn === 1 && s.sbk % 8 === 0 && s.sbk >= Math.ceil(N / 8) * 8 && s.sb1 % 4 === 0 &&
    sb2 % 4 === 0;
  let bv = b, n4 = s.sbk / 4, sb1 = s.sb1 / 4, sb2v = sb2 / 4;
  if (!direct) {
    const np = Math.ceil(N / 8) * 8;
    const distinct = s.sb1 === 0 && sb2 === 0 ? 1 : batch;
    bv = empty(ctx, [distinct, K, np]);
    const total = distinct * K * np;
    ctx.run(kernel, "pack", {
      buffers: [b, bv],
      params: [total, K, N, np, s.sbk, s.sbn, nc, s.sb1, sb2],
      groups: groups1d(Math.ceil(total / PACK_WG)),
      overrides: { WG: PACK_WG },
    });
    n4 = np / 4;
    sb1 = distinct === 1 ? 0 : (nc * K * np) / 4;
    sb2v = distinct === 1 ? 0 : (K * np) / 4;
  }
  const { TM, WY } = tileFor(M);
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
        label: ctx.profiler ? `${batch}x${M}x${K}x${N}` : undefined,
        buffers: [a, bv, out],
        params: [
          M,
          N,
          k0,
          k1,
          s.sam,
          s.sak,
          n4,
          nc,
          s.sa1,
          sa2,
          sb1,
          sb2v,
          M * N,
          k0 > 0 || s.accumulate ? 1 : 0,
          s.outOffset ?? 0,
          s.aOffset ?? 0,
          z0,
        ],
        groups,
        overrides: { TM, WX, WY },
        flops: 2 * M * N * (k1 - k0) * groups[2],
      });
    }
  }
  if (bv !== b) bv.dispose();
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
