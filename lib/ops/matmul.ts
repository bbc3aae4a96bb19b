// Batched matmul with transpose options (kernels/matmul.wgsl).
// a: [..., M, K] (or [..., K, M] with transA), b: [..., K, N] (or [..., N, K] with transB);
// the batch part is the product of leading axes; one side may have batch 1 (broadcast).
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, record } from "./util.ts";
import { sumToShape } from "./reduce.ts";

const kernel = new KernelFile("matmul.wgsl");
const WG = 8;

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
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
  launch(ctx, a, b, c, batch, M, N, K, ta, tb, da.batch === 1 ? 0 : M * K, db.batch === 1 ? 0 : K * N);
  return record(ctx, "matmul", [a, b], c, (gc) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      // dA = gC @ op(B)^T  (or its transpose when A was transposed)
      const full = ta
        ? matmulRaw(ctx, b, gc, tb, true, batch, db.batch, K, N, M) // [K, M]
        : matmulRaw(ctx, gc, b, false, !tb, batch, db.batch, M, N, K); // [M, K]
      ga = full.size === a.size ? full.view(a.shape) : reduceBatch(ctx, full, a);
      if (ga !== full) full.dispose();
    }
    if (b.requiresGrad) {
      const full = tb
        ? matmulRaw(ctx, gc, a, true, ta, batch, da.batch, N, M, K) // [N, K]
        : matmulRaw(ctx, a, gc, !ta, false, batch, da.batch, K, M, N); // [K, N]
      gb = full.size === b.size ? full.view(b.shape) : reduceBatch(ctx, full, b);
      if (gb !== full) full.dispose();
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
 * out[batch, m, n] = op(x) @ op(y) where x is the batch-`batch` operand and y has `yBatch`
 * (1 or batch); the shapes are given explicitly (backward helper).
 */
function matmulRaw(
  ctx: GpuContext,
  x: Tensor,
  y: Tensor,
  tx: boolean,
  ty: boolean,
  batch: number,
  _yBatch: number,
  m: number,
  k: number,
  n: number,
): Tensor {
  const xb = x.size / (m * k), yb = y.size / (k * n);
  const out = empty(ctx, [batch, m, n]);
  launch(ctx, x, y, out, batch, m, n, k, tx, ty, xb === 1 ? 0 : m * k, yb === 1 ? 0 : k * n);
  return out;
}

function launch(
  ctx: GpuContext,
  a: Tensor,
  b: Tensor,
  c: Tensor,
  batch: number,
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
  strideA: number,
  strideB: number,
) {
  if (K > 65535) throw new Error(`matmul: K=${K} exceeds the per-invocation loop cap`);
  ctx.run(kernel, "forward", {
    buffers: [a, b, c],
    params: [batch, M, N, K, strideA, strideB],
    groups: [Math.ceil(N / WG), Math.ceil(M / WG), batch],
    overrides: { TA: ta ? 1 : 0, TB: tb ? 1 : 0 },
  });
}
