// Reductions (kernels/reduce.wgsl): sum / mean over axes, per-example mean squared error,
// sum of squares, and sumToShape (the backward of broadcasting). Reductions that keep one block of
// adjacent axes (all of these in the UNet: bias gradients, per-example errors, full sums) take the
// chunked barrier-free path; others the workgroup-tree kernel.
import { f32bits, groups1d, MAX_GROUPS } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Shape, shapeStr, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, normAxes, record, sameShape, stridesOf, vec8 } from "./util.ts";
import { expand } from "./copy.ts";
import { mul, sub } from "./binary.ts";
import { scale } from "./scale.ts";

const kernel = new KernelFile("reduce.wgsl");
const WG = 128;
const CHUNK_WG = 64;
const MODES = { sum: 0, sqdiff: 1, sumsq: 2 } as const;
/** Chunked reductions: elements per invocation (loops far below llvmpipe's 65,535 cap) ... */
const CHUNK_MIN = 64, CHUNK_MAX = 4096;
/** ... and about this many invocations in flight, so both software cores get work. */
const CHUNK_THREADS = 512;

/**
 * The [A, C, S] view of reducing a contiguous `shape` over `axes` when the kept axes are one block
 * of adjacent axes (size-1 axes ignored): A = reduced axes before it, C = kept, S = reduced after.
 * null when kept axes are separated by reduced ones.
 */
export function reduceAsACS(shape: Shape, axes: number[]): { A: number; C: number; S: number } | null {
  let A = 1, C = 1, S = 1, seen = 0; // seen: 0 before the kept block, 1 inside, 2 after
  for (let k = 0; k < shape.length; k++) {
    const d = shape[k];
    if (d === 1) continue;
    if (axes.includes(k)) {
      if (seen === 0) A *= d;
      else {
        seen = 2;
        S *= d;
      }
    } else {
      if (seen === 2) return null;
      seen = 1;
      C *= d;
    }
  }
  return { A, C, S };
}

/** out[dstOffset + c] = scale * sum over (a, s) of term(a[(a * C + c) * S + s]) without barriers. */
function reduceChunked(
  ctx: GpuContext,
  mode: keyof typeof MODES,
  a: Tensor,
  b: Tensor | null,
  { A, C, S }: { A: number; C: number; S: number },
  out: Tensor,
  scaleBy: number,
  dstOffset: number,
) {
  const n = A * S;
  const nChunks = Math.max(
    Math.ceil(n / CHUNK_MAX),
    Math.min(Math.ceil(CHUNK_THREADS / C), Math.ceil(n / CHUNK_MIN)),
    1,
  );
  const chunk = Math.ceil(n / nChunks), k = Math.ceil(n / chunk);
  const direct = k === 1 ? 1 : 0;
  // One chunk writes out directly; `part` is then a placeholder (binding out twice would alias a
  // writable buffer, which WebGPU forbids).
  const part = empty(ctx, direct ? [1] : [k, C]);
  const q = [A, C, S, chunk, k, f32bits(scaleBy), dstOffset, direct];
  const overrides = { MODE: MODES[mode], WG: CHUNK_WG };
  ctx.run(kernel, "chunked", {
    buffers: [a, b ?? a, out, null, part],
    params: q,
    paramsBinding: 4,
    label: ctx.profiler ? `[${A},${C},${S}]/${k}` : undefined,
    groups: groups1d(Math.ceil((C * k) / CHUNK_WG)),
    overrides,
  });
  if (direct) {
    part.dispose();
    return;
  }
  ctx.run(kernel, "chunkedFinish", {
    buffers: [null, null, out, null, part],
    params: q,
    paramsBinding: 4,
    groups: groups1d(Math.ceil(C / CHUNK_WG)),
    overrides,
  });
  part.dispose();
}

/**
 * Low-level reduction of `a` (and `b` for sqdiff) over `axes`, written to out[dstOffset + o].
 * Output element o enumerates the kept axes in order.
 */
export function reduceInto(
  ctx: GpuContext,
  mode: keyof typeof MODES,
  a: Tensor,
  b: Tensor | null,
  axes: number[],
  out: Tensor,
  scaleBy = 1,
  dstOffset = 0,
) {
  const st = stridesOf(a.shape);
  const kept = a.shape.map((_, k) => k).filter((k) => !axes.includes(k));
  const nOut = kept.reduce((p, k) => p * a.shape[k], 1);
  const nRed = axes.reduce((p, k) => p * a.shape[k], 1);
  if (dstOffset + nOut > out.size) throw new Error(`reduce: output ${out.describe()} too small`);
  const acs = reduceAsACS(a.shape, axes);
  if (acs && Math.ceil(nRed / CHUNK_MAX) <= MAX_GROUPS) {
    return reduceChunked(ctx, mode, a, b, acs, out, scaleBy, dstOffset);
  }
  if (nRed / WG > MAX_GROUPS) throw new Error(`reduce: ${nRed} elements per output exceed the loop cap`);
  ctx.run(kernel, "forward", {
    buffers: [a, b ?? a, out],
    params: [
      nOut,
      nRed,
      kept.length,
      axes.length,
      f32bits(scaleBy),
      dstOffset,
      0,
      0,
      ...vec8(kept.map((k) => a.shape[k]), "reduce"),
      ...vec8(kept.map((k) => st[k]), "reduce"),
      ...vec8(axes.map((k) => a.shape[k]), "reduce"),
      ...vec8(axes.map((k) => st[k]), "reduce"),
    ],
    groups: groups1d(Math.max(1, nOut)),
    overrides: { MODE: MODES[mode] },
  });
}

function reducedShape(shape: Shape, axes: number[], keepDims: boolean): number[] {
  return keepDims
    ? shape.map((d, k) => (axes.includes(k) ? 1 : d))
    : shape.filter((_, k) => !axes.includes(k));
}

/** Sum over `axes` (all when omitted). */
export function sum(ctx: GpuContext, x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  return sumScaled(ctx, x, normAxes(axes, x.shape.length, "sum"), keepDims, 1, "sum");
}

/** Mean over `axes` (all when omitted). */
export function mean(ctx: GpuContext, x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const ax = normAxes(axes, x.shape.length, "mean");
  const n = ax.reduce((p, k) => p * x.shape[k], 1);
  return sumScaled(ctx, x, ax, keepDims, 1 / n, "mean");
}

function sumScaled(
  ctx: GpuContext,
  x: Tensor,
  ax: number[],
  keepDims: boolean,
  s: number,
  op: string,
): Tensor {
  const y = empty(ctx, reducedShape(x.shape, ax, keepDims));
  reduceInto(ctx, "sum", x, null, ax, y, s);
  return record(ctx, op, [x], y, (gy) => {
    const g = gy.view(reducedShape(x.shape, ax, true));
    const e = expand(ctx, g, x.shape);
    g.dispose();
    if (s === 1) return [e];
    const r = scale(ctx, e, s);
    e.dispose();
    return [r];
  });
}

/** Per-example mean squared error: [B, ...] x [B, ...] -> [B], mean over all but axis 0. */
export function mseRows(ctx: GpuContext, a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) throw new Error(`mseRows: ${a.describe()} vs ${b.describe()}`);
  const axes = a.shape.map((_, k) => k).slice(1);
  const n = axes.reduce((p, k) => p * a.shape[k], 1);
  const y = empty(ctx, [a.shape[0]]);
  reduceInto(ctx, "sqdiff", a, b, axes, y, 1 / n);
  return record(ctx, "mseRows", [a, b], y, (gy) => {
    // d/da = 2 (a - b) / n * gy[row]
    const d = sub(ctx, a, b);
    const g = gy.view([a.shape[0], ...a.shape.slice(1).map(() => 1)]);
    const gd = mul(ctx, d, g);
    const ga = scale(ctx, gd, 2 / n);
    const gb = scale(ctx, gd, -2 / n);
    d.dispose();
    g.dispose();
    gd.dispose();
    return [ga, gb];
  });
}

/** Sums a broadcast gradient back to `shape` (the inverse of NumPy broadcasting). */
export function sumToShape(ctx: GpuContext, g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g.view(shape);
  const off = g.shape.length - shape.length;
  if (off < 0) throw new Error(`sumToShape: ${g.describe()} cannot reduce to ${shapeStr(shape)}`);
  const axes = g.shape.map((_, k) => k).filter((k) => k < off || (shape[k - off] === 1 && g.shape[k] !== 1));
  const y = empty(ctx, shape);
  reduceInto(ctx, "sum", g, null, axes, y);
  return y;
}
