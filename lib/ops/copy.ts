// Data movement (kernels/copy.wgsl): reshape (a view), permute, expand, slice, concat, fill.
import { f32bits, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, numel, type Shape, shapeStr, type Tensor } from "../tensor/tensor.ts";
import {
  assertRank,
  broadcastStrides,
  coalesce,
  elementGroups,
  elementwisePlan,
  type GpuContext,
  record,
  stridesOf,
  vec8,
} from "./util.ts";

const kernel = new KernelFile("copy.wgsl");

/** Low-level strided copy over `dims`: dst[dOff + idx.ds] = src[sOff + idx.ss]. */
export function stridedCopy(
  ctx: GpuContext,
  src: Tensor,
  dst: Tensor,
  dims: readonly number[],
  ss: readonly number[],
  ds: readonly number[],
  srcOffset = 0,
  dstOffset = 0,
) {
  const n = numel(dims);
  if (!n) return;
  const c = coalesce(dims, [ss, ds]);
  const plan = elementwisePlan(c.dims);
  const front = (xs: number[], v: number) => [...new Array(plan.pad).fill(v), ...xs];
  ctx.run(kernel, plan.kind === "loop" ? "forward" : plan.kind, {
    buffers: [src, dst],
    params: [
      n,
      c.dims.length,
      srcOffset,
      dstOffset,
      ...vec8(front(c.dims, 1), "copy"),
      ...vec8(front(c.strides[0], 0), "copy"),
      ...vec8(front(c.strides[1], 0), "copy"),
    ],
    groups: plan.groups,
    label: ctx.profiler ? `[${c.dims}]` : undefined,
  });
}

/** Writes `value` into the whole tensor (in place, not recorded). */
export function fill(ctx: GpuContext, t: Tensor, value: number) {
  if (!t.size) return;
  ctx.run(kernel, "fill", {
    buffers: [null, t],
    params: [t.size, 0, f32bits(value), 0, ...new Array(24).fill(0)],
    groups: groups1d(elementGroups(t.size)),
  });
}

/** A new tensor filled with a value, without a host upload. */
export function filled(ctx: GpuContext, shape: Shape, value: number): Tensor {
  const t = empty(ctx, shape);
  fill(ctx, t, value);
  return t;
}

/** Same data, new shape (-1 infers one axis); shares storage. */
export function reshape(ctx: GpuContext, x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const s = shape.map((d) => (d === -1 ? x.size / known : d));
  if (numel(s) !== x.size) throw new Error(`reshape: cannot view ${x.describe()} as ${shapeStr(shape)}`);
  const y = x.view(s);
  return record(ctx, "reshape", [x], y, (gy) => [gy.view(x.shape)]);
}

/** Permutes axes: y.shape[k] = x.shape[perm[k]]. */
export function permute(ctx: GpuContext, x: Tensor, perm: readonly number[]): Tensor {
  assertRank(x.shape, "permute");
  if (perm.length !== x.shape.length || [...perm].sort().some((p, i) => p !== i)) {
    throw new Error(`permute: [${perm}] is not a permutation of the axes of ${x.describe()}`);
  }
  const shape = perm.map((p) => x.shape[p]);
  const xs = stridesOf(x.shape);
  const y = empty(ctx, shape);
  stridedCopy(ctx, x, y, shape, perm.map((p) => xs[p]), stridesOf(shape));
  const inv = perm.map((_, i) => perm.indexOf(i));
  return record(ctx, "permute", [x], y, (gy) => [permute(ctx, gy, inv)]);
}

/** Broadcasts x to `shape` (materialised). Backward sums over the broadcast axes. */
export function expand(ctx: GpuContext, x: Tensor, shape: readonly number[]): Tensor {
  assertRank(shape, "expand");
  const ss = broadcastStrides(x.shape, shape);
  const y = empty(ctx, shape);
  stridedCopy(ctx, x, y, shape, ss, stridesOf(shape));
  return record(ctx, "expand", [x], y, (gy) => [sumToShape(ctx, gy, x.shape)]);
}

/** Slices [start, end) along `axis`. */
export function slice(ctx: GpuContext, x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  const d = x.shape[ax];
  if (!(0 <= start && start <= end && end <= d)) {
    throw new Error(`slice: [${start}, ${end}) out of range for axis ${ax} of ${x.describe()}`);
  }
  const shape = x.shape.map((s, k) => (k === ax ? end - start : s));
  const xs = stridesOf(x.shape);
  const y = empty(ctx, shape);
  stridedCopy(ctx, x, y, shape, xs, stridesOf(shape), start * xs[ax]);
  return record(ctx, "slice", [x], y, (gy) => {
    const gx = filled(ctx, x.shape, 0);
    stridedCopy(ctx, gy, gx, shape, stridesOf(shape), xs, 0, start * xs[ax]);
    return [gx];
  });
}

/** Concatenates along `axis`. */
export function concat(ctx: GpuContext, xs: Tensor[], axis: number): Tensor {
  if (!xs.length) throw new Error("concat: no tensors");
  const rank = xs[0].shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  for (const t of xs) {
    if (t.shape.length !== rank || t.shape.some((d, k) => k !== ax && d !== xs[0].shape[k])) {
      throw new Error(`concat: ${t.describe()} does not match ${xs[0].describe()} off axis ${ax}`);
    }
  }
  const shape = xs[0].shape.map((d, k) => (k === ax ? xs.reduce((a, t) => a + t.shape[ax], 0) : d));
  const ys = stridesOf(shape);
  const y = empty(ctx, shape);
  let at = 0;
  const starts: number[] = [];
  for (const t of xs) {
    starts.push(at);
    stridedCopy(ctx, t, y, t.shape, stridesOf(t.shape), ys, 0, at * ys[ax]);
    at += t.shape[ax];
  }
  return record(
    ctx,
    "concat",
    xs,
    y,
    (gy) => xs.map((t, i) => slice(ctx, gy, ax, starts[i], starts[i] + t.shape[ax])),
  );
}

// Late import to avoid a cycle: reduce.ts uses expand for its backward.
import { sumToShape } from "./reduce.ts";
