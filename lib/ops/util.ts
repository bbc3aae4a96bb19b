// Shared helpers for op wrappers: recording on the tape, shapes, strides, dispatch sizes.
import { type GpuContext, groups1d, MAX_GROUPS } from "../gpu/context.ts";
import type { BackwardRule } from "../autograd/tape.ts";
import { type Shape, shapeStr, type Tensor } from "../tensor/tensor.ts";

/** Records `out = op(inputs)` on the tape when gradients are on and an input requires them. */
export function record(ctx: GpuContext, op: string, inputs: Tensor[], out: Tensor, backward?: BackwardRule) {
  if (!ctx.gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  ctx.tape.record({ op, inputs, output: out, backward });
  return out;
}

/**
 * A packed layout of weight `w` made by `make` (conv2d's and gemm's uniform windows). Inside
 * ctx.withFrozenWeights a persistent weight's pack is made once per key and kept (owned: false);
 * otherwise it is made anew and the caller disposes it (owned: true).
 */
export function packedWeight(
  ctx: GpuContext,
  w: Tensor,
  key: string,
  make: () => Tensor,
): { pack: Tensor; owned: boolean } {
  const cache = ctx.packCache;
  if (!cache || !w.persistent) return { pack: make(), owned: true };
  let packs = cache.get(w);
  if (!packs) cache.set(w, packs = new Map());
  let pack = packs.get(key);
  if (!pack) {
    pack = make().keep();
    packs.set(key, pack);
  }
  return { pack, owned: false };
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= shape[k];
  }
  return s;
}

/** NumPy broadcast of two shapes; throws naming both. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < r; k++) {
    const da = a[a.length - r + k] ?? 1;
    const db = b[b.length - r + k] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Strides that read `shape` as if broadcast to `target` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const own = stridesOf(shape);
  const off = target.length - shape.length;
  return target.map((_, k) => (k < off || shape[k - off] === 1 ? 0 : own[k - off]));
}

/** Packs up to 8 numbers into 8 u32 words (two vec4u in WGSL). */
export function vec8(xs: readonly number[], what: string): number[] {
  if (xs.length > 8) throw new Error(`${what}: rank ${xs.length} exceeds 8`);
  const out = new Array<number>(8).fill(0);
  xs.forEach((x, i) => out[i] = x);
  return out;
}

/** Drops size-1 axes from the front so rank fits the kernels (<= 8). */
export function assertRank(shape: Shape, what: string) {
  if (shape.length > 8) throw new Error(`${what}: rank of ${shapeStr(shape)} exceeds 8`);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalises axes (negative counts from the end) and checks them. */
export function normAxes(axes: number | number[] | undefined, rank: number, what: string): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : Array.isArray(axes) ? axes : [axes];
  const out = list.map((a) => (a < 0 ? a + rank : a));
  for (const a of out) {
    if (a < 0 || a >= rank) throw new Error(`${what}: axis ${a} out of range for rank ${rank}`);
  }
  return [...new Set(out)].sort((x, y) => x - y);
}

export const WG = 64;

/** Workgroups for one thread per element. */
export function elementGroups(n: number, wg = WG): number {
  return Math.ceil(n / wg);
}

export type { GpuContext, Tensor };

/**
 * Merges adjacent axes that every stride list walks as one (stride[k] = stride[k + 1] * dims[k + 1]
 * in each list) and drops size-1 axes: the same iteration with the fewest axes (at least one).
 */
export function coalesce(dims: readonly number[], lists: readonly (readonly number[])[]) {
  const d: number[] = [];
  const s: number[][] = lists.map(() => []);
  for (let k = 0; k < dims.length; k++) {
    if (dims[k] === 1) continue;
    const last = d.length - 1;
    if (last >= 0 && lists.every((l, j) => s[j][last] === l[k] * dims[k])) {
      d[last] *= dims[k];
      lists.forEach((l, j) => s[j][last] = l[k]);
    } else {
      d.push(dims[k]);
      lists.forEach((l, j) => s[j].push(l[k]));
    }
  }
  if (!d.length) return { dims: [1], strides: lists.map(() => [0]) };
  return { dims: d, strides: s };
}

/**
 * How an elementwise kernel walks `dims` (coalesced): "flat" for one axis (linear id, folded into y
 * past 65,535 workgroups), "grid" for 2-4 axes that fit a grid [ceil(d3 / wg), d2, d0 * d1] (indices
 * from the grid, one division per workgroup), else "loop" (div/mod per axis per element). Grid dims
 * come back padded to 4 at the front.
 */
export function elementwisePlan(
  dims: readonly number[],
  wg = WG,
): { kind: "flat" | "grid" | "loop"; groups: [number, number, number]; pad: number } {
  const n = numelOf(dims);
  if (dims.length === 1) return { kind: "flat", groups: groups1d(elementGroups(n, wg)), pad: 0 };
  if (dims.length <= 4) {
    const d = [...new Array(4 - dims.length).fill(1), ...dims];
    const groups: [number, number, number] = [Math.ceil(d[3] / wg), d[2], d[0] * d[1]];
    if (groups.every((g) => g <= MAX_GROUPS)) return { kind: "grid", groups, pad: 4 - dims.length };
  }
  return { kind: "loop", groups: groups1d(elementGroups(n, wg)), pad: 0 };
}

function numelOf(dims: readonly number[]) {
  return dims.reduce((a, b) => a * b, 1);
}
