// Softmax over the last axis (kernels/softmax.wgsl), plus the scaled and masked variant that
// attention uses (lib/ops/attention.ts) without a tape node of its own.
import { f32bits, groups1d, MAX_GROUPS } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext, record } from "./util.ts";

const kernel = new KernelFile("softmax.wgsl");
const WG = 64;
/**
 * Rows up to this length get one thread each (no barriers); longer rows get a workgroup each.
 * Measured on llvmpipe: the thread-per-row kernels are 2-4x faster up to N = 1024 and beyond.
 */
export const ROW_MAX = 1024;

export interface SoftmaxMask {
  /** Multiplies the logits before the softmax. */
  scale?: number;
  /** [R / rowsPerBatch, N]: 1 = keep, 0 = masked; row r uses mask row floor(r / rowsPerBatch). */
  keyMask?: Tensor;
  rowsPerBatch?: number;
  /** Masks j > (r mod Lq): causal attention over rows that are query positions. */
  causal?: boolean;
  Lq?: number;
}

/** Softmax over the last axis of x: [..., N] -> same shape. Numerically stable (max subtracted). */
export function softmax(ctx: GpuContext, x: Tensor): Tensor {
  const y = softmaxRaw(ctx, x);
  return record(ctx, "softmax", [x], y, (gy) => [softmaxBackwardRaw(ctx, y, gy)]);
}

function params(x: Tensor, m: SoftmaxMask): number[] {
  const N = x.shape[x.shape.length - 1];
  const R = x.size / N;
  if (N / WG >= MAX_GROUPS) throw new Error(`softmax: rows of ${N} exceed the per-invocation loop cap`);
  const rpb = m.rowsPerBatch ?? R;
  if (m.keyMask && m.keyMask.size !== (R / rpb) * N) {
    throw new Error(`softmax: key mask ${m.keyMask.describe()} does not give [${R / rpb}, ${N}] for rows`);
  }
  return [R, N, f32bits(m.scale ?? 1), m.keyMask ? 1 : 0, m.causal ? 1 : 0, rpb, m.Lq ?? 1, 0];
}

/** y = softmax(scale * x) with masking, not recorded. x: [..., N]. */
export function softmaxRaw(ctx: GpuContext, x: Tensor, m: SoftmaxMask = {}): Tensor {
  const y = empty(ctx, x.shape);
  const ps = params(x, m);
  const rowwise = ps[1] <= ROW_MAX;
  ctx.run(kernel, rowwise ? "forwardRow" : "forward", {
    buffers: [x, m.keyMask ?? x, y],
    params: ps,
    groups: groups1d(rowwise ? elementGroups(ps[0], WG) : ps[0]),
    overrides: { WG },
  });
  return y;
}

/** gx = scale * y * (gy - rowsum(gy * y)) from the softmax output y, not recorded. */
export function softmaxBackwardRaw(ctx: GpuContext, y: Tensor, gy: Tensor, m: SoftmaxMask = {}): Tensor {
  const gx = empty(ctx, y.shape);
  const ps = params(y, { scale: m.scale });
  const rowwise = ps[1] <= ROW_MAX;
  ctx.run(kernel, rowwise ? "backwardRow" : "backward", {
    buffers: [null, null, y, gy, gx],
    params: ps,
    groups: groups1d(rowwise ? elementGroups(ps[0], WG) : ps[0]),
    overrides: { WG },
  });
  return gx;
}
