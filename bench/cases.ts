// The kernel-lab cases: each op and pass at a UNet-like shape, set up on our engine and (when it
// loads) on TensorFlow.js's WebGPU backend with the same input numbers, in each side's own layout.
import { conv2d, convBackwardInput, convBackwardWeight, convGeometry } from "../lib/ops/conv2d.ts";
import { matmul } from "../lib/ops/matmul.ts";
import { type Tensor, tensor } from "../lib/tensor/tensor.ts";
import type { GpuContext } from "../lib/ops/util.ts";

// deno-lint-ignore no-explicit-any
export type Tf = any;

export interface Side {
  /** Encodes (ours) or runs (tfjs, inside tidy) one evaluation; returns the checked output. */
  run(): unknown;
  /** One evaluation read back in our layout, for the agreement check. */
  output(): Promise<Float32Array>;
  dispose(): void;
}

export interface Case {
  op: string;
  shape: string;
  pass: string;
  /** Floating-point work per run (null where it does not apply). */
  flops: number | null;
  /** Least bytes a run must move (inputs read once, outputs written once). */
  bytes: number;
  /** Whether the op is compute-bound (peak fraction vs the FMA probe) or memory-bound (vs copy). */
  bound: "compute" | "memory";
  ours(ctx: GpuContext): Side | null;
  tfjs(tf: Tf): Side | null;
}

/** Deterministic data in [-1, 1) (bench-local LCG; lib/util/rng is for training). */
export function seeded(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = 2 * (s / 4294967296) - 1;
  }
  return out;
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Permutes a host array of `shape` by `perm` (layout conversion for the agreement check). */
export function permuteHost(x: Float32Array, shape: number[], perm: number[]): Float32Array {
  const out = new Float32Array(x.length);
  const st = shape.map((_, k) => numel(shape.slice(k + 1)));
  const oshape = perm.map((p) => shape[p]);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < perm.length; k++) src += idx[k] * st[perm[k]];
    out[o] = x[src];
    for (let k = oshape.length - 1; k >= 0; k--) {
      if (++idx[k] < oshape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

function oursSide(ctx: GpuContext, inputs: Tensor[], run: () => Tensor): Side {
  return {
    run,
    output: () => ctx.scope(() => run().read()),
    dispose: () => inputs.forEach((t) => t.dispose()),
  };
}

function tfSide(tf: Tf, inputs: Tf[], run: () => Tf, toOurs = (x: Float32Array) => x): Side {
  return {
    run,
    output: async () => {
      const y = run();
      const d = toOurs(new Float32Array(await y.data()));
      y.dispose();
      return d;
    },
    dispose: () => {
      for (const t of inputs) tf.dispose(t);
    },
  };
}

// ---- matmul -------------------------------------------------------------------------------------

/** C [b, M, N] = A [b, M, K] @ B [b, K, N]; backward_input dA = dC @ B^T, backward_weight dB = A^T @ dC. */
function matmulCases(b: number, M: number, K: number, N: number, op: string): Case[] {
  const shape = b > 1 ? `${b} x (${M}x${K} @ ${K}x${N})` : `${M}x${K} @ ${K}x${N}`;
  const sa = b > 1 ? [b, M, K] : [M, K], sb = b > 1 ? [b, K, N] : [K, N], sc = b > 1 ? [b, M, N] : [M, N];
  const A = seeded(numel(sa), 1), B = seeded(numel(sb), 2), G = seeded(numel(sc), 3);
  const flops = 2 * b * M * K * N;
  const passes: {
    pass: string;
    x: [Float32Array, number[]];
    y: [Float32Array, number[]];
    ta: boolean;
    tb: boolean;
    out: number;
  }[] = [
    { pass: "forward", x: [A, sa], y: [B, sb], ta: false, tb: false, out: b * M * N },
    { pass: "backward_input", x: [G, sc], y: [B, sb], ta: false, tb: true, out: b * M * K },
    { pass: "backward_weight", x: [A, sa], y: [G, sc], ta: true, tb: false, out: b * K * N },
  ];
  return passes.map((p) => ({
    op,
    shape,
    pass: p.pass,
    flops,
    bytes: 4 * (p.x[0].length + p.y[0].length + p.out),
    bound: "compute",
    ours: (ctx) => {
      const x = tensor(ctx, p.x[0], p.x[1]), y = tensor(ctx, p.y[0], p.y[1]);
      return oursSide(ctx, [x, y], () => matmul(ctx, x, y, { transA: p.ta, transB: p.tb }));
    },
    tfjs: (tf) => {
      const x = tf.tensor(p.x[0], p.x[1]), y = tf.tensor(p.y[0], p.y[1]);
      return tfSide(tf, [x, y], () => tf.matMul(x, y, p.ta, p.tb));
    },
  }));
}

// ---- conv2d -------------------------------------------------------------------------------------

/** 3x3 stride-1 conv, NCHW here and NHWC in TensorFlow.js (its native layout). */
function convCases(B: number, Cin: number, H: number, W: number, Cout: number): Case[] {
  const k = 3;
  const shape = `${B}x${Cin}x${H}x${W}, ${k}x${k} ${Cin}->${Cout}`;
  const X = seeded(B * Cin * H * W, 4), Wt = seeded(Cout * Cin * k * k, 5), Bi = seeded(Cout, 6);
  const G = seeded(B * Cout * H * W, 7);
  const flops = 2 * B * Cout * H * W * Cin * k * k;
  const xs = [B, Cin, H, W], ws = [Cout, Cin, k, k], ys = [B, Cout, H, W];
  const nhwc = (s: number[]) => [s[0], s[2], s[3], s[1]];
  const toNhwc = (a: Float32Array, s: number[]) => permuteHost(a, s, [0, 2, 3, 1]);
  const fromNhwc = (s: number[]) => (a: Float32Array) => permuteHost(a, nhwc(s), [0, 3, 1, 2]);
  const hwio = (a: Float32Array) => permuteHost(a, ws, [2, 3, 1, 0]); // [kh, kw, Cin, Cout]
  const fromHwio = (a: Float32Array) => permuteHost(a, [k, k, Cin, Cout], [3, 2, 0, 1]);
  const nX = X.length, nW = Wt.length, nY = G.length;
  return [
    {
      op: "conv2d",
      shape,
      pass: "forward",
      flops,
      bytes: 4 * (nX + nW + Cout + nY),
      bound: "compute",
      ours: (ctx) => {
        const x = tensor(ctx, X, xs), w = tensor(ctx, Wt, ws), b = tensor(ctx, Bi, [Cout]);
        return oursSide(ctx, [x, w, b], () => conv2d(ctx, x, w, b));
      },
      tfjs: (tf) => {
        const x = tf.tensor(toNhwc(X, xs), nhwc(xs)), w = tf.tensor(hwio(Wt), [k, k, Cin, Cout]);
        const b = tf.tensor(Bi, [Cout]);
        return tfSide(tf, [x, w, b], () => tf.add(tf.conv2d(x, w, 1, "same"), b), fromNhwc(ys));
      },
    },
    {
      op: "conv2d",
      shape,
      pass: "backward_input",
      flops,
      bytes: 4 * (nY + nW + nX),
      bound: "compute",
      ours: (ctx) => {
        const x = tensor(ctx, X, xs), w = tensor(ctx, Wt, ws), g = tensor(ctx, G, ys);
        const geo = convGeometry(x, w);
        return oursSide(ctx, [x, w, g], () => convBackwardInput(ctx, g, w, geo));
      },
      tfjs: (tf) => {
        const w = tf.tensor(hwio(Wt), [k, k, Cin, Cout]), g = tf.tensor(toNhwc(G, ys), nhwc(ys));
        return tfSide(tf, [w, g], () => tf.conv2dTranspose(g, w, nhwc(xs), 1, "same"), fromNhwc(xs));
      },
    },
    {
      op: "conv2d",
      shape,
      pass: "backward_weight",
      flops,
      bytes: 4 * (nY + nX + nW),
      bound: "compute",
      ours: (ctx) => {
        const x = tensor(ctx, X, xs), w = tensor(ctx, Wt, ws), g = tensor(ctx, G, ys);
        const geo = convGeometry(x, w);
        return oursSide(ctx, [x, w, g], () => convBackwardWeight(ctx, x, g, geo));
      },
      tfjs: (tf) => {
        const x = tf.tensor(toNhwc(X, xs), nhwc(xs)), g = tf.tensor(toNhwc(G, ys), nhwc(ys));
        const attrs = { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [k, k, Cin, Cout] };
        return tfSide(
          tf,
          [x, g],
          () => tf.engine().runKernel("Conv2DBackpropFilter", { x, dy: g }, attrs),
          fromHwio,
        );
      },
    },
  ];
}

export { convCases, matmulCases };
