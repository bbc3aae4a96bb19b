// conv2d, NCHW (kernels/conv2d.wgsl): x [B, Cin, H, W], w [Cout, Cin, KH, KW], b [Cout] | null
// -> y [B, Cout, Ho, Wo], Ho = floor((H + 2 pad - KH) / s) + 1. Gradients for x, w and b.
// Forward, input gradient and weight gradient are implicit GEMMs (no patch buffer). The forward reads
// its weights from uniform-buffer windows where they fit a few (llvmpipe turns a uniform load into one
// vector gather, a storage load into a branchy loop over lanes: 1.5x faster for the UNets' 3x3 convs),
// else from storage. The weight gradient reduces over output pixels: where an image's gy fits one, it
// reads gy from uniform windows of whole images, one dispatch per window adding into the gradient
// (1.1-1.7x the storage path for the UNets' 3x3 convs); else split into chunks of pixel rows whose
// partial sums are added at the end, so no invocation loops long (llvmpipe cuts loops at 65,535) and
// the work spreads.
import type { Prior } from "../autograd/tape.ts";
import { groups1d, MAX_GROUPS } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, packedWeight, record } from "./util.ts";
import { rowWindows, tileFor, WIN_ALIGN } from "./matmul.ts";
import { sum } from "./reduce.ts";

const kernel = new KernelFile("conv2d.wgsl");
const WX = 8;
const WG = 256;
/** Weight gradient: how it splits its reduction over output pixels (tests pass small values). */
export interface WeightGradSplit {
  /** Most output pixels one invocation sums over per pass (far below llvmpipe's 65,535 loop cap). */
  kMax: number;
  /** Split into partial sums until about this many invocations run (both software cores busy). */
  minInvocations: number;
  /** Budget (floats) for the partial sums. */
  partFloats: number;
  /** false: never the uniform-window path (backwardWeightUniform), which needs no split. */
  uniform?: boolean;
}
/** The weight gradient's default split. */
export const WGRAD_SPLIT: WeightGradSplit = { kMax: 4096, minInvocations: 512, partFloats: 4 << 20 };

export interface Conv2dOptions {
  stride?: 1 | 2;
  /** Zero padding on every side; default floor(k / 2). */
  padding?: number;
  /** [B, Cout]: added to every pixel of channel co of image b (a ResNet block's time embedding). */
  channelBias?: Tensor | null;
  /** [B, Cout, Ho, Wo]: added to the output (a residual connection). */
  residual?: Tensor | null;
}

export interface ConvGeometry {
  B: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  KH: number;
  KW: number;
  s: number;
  pad: number;
  Ho: number;
  Wo: number;
}

export function convGeometry(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): ConvGeometry {
  if (x.shape.length !== 4 || w.shape.length !== 4) {
    throw new Error(
      `conv2d: want x [B, Cin, H, W] and w [Cout, Cin, KH, KW], got ${x.describe()}, ${w.describe()}`,
    );
  }
  const [B, Cin, H, W] = x.shape;
  const [Cout, Cin2, KH, KW] = w.shape;
  if (Cin !== Cin2) {
    throw new Error(`conv2d: ${x.describe()} has ${Cin} channels, ${w.describe()} wants ${Cin2}`);
  }
  const s = opts.stride ?? 1;
  if (s !== 1 && s !== 2) throw new Error(`conv2d: stride ${s} (1 or 2)`);
  const pad = opts.padding ?? Math.floor(KH / 2);
  if (!(pad >= 0 && Number.isInteger(pad))) throw new Error(`conv2d: padding ${pad}`);
  const Ho = Math.floor((H + 2 * pad - KH) / s) + 1, Wo = Math.floor((W + 2 * pad - KW) / s) + 1;
  if (Ho < 1 || Wo < 1) throw new Error(`conv2d: ${x.describe()} too small for ${w.describe()} pad ${pad}`);
  if (B > 65535) throw new Error(`conv2d: batch ${B} exceeds 65535`);
  return { B, Cin, H, W, Cout, KH, KW, s, pad, Ho, Wo };
}

/** 2 x multiply-adds of one pass (forward, input gradient and weight gradient each do this many). */
export function convFlops(g: ConvGeometry): number {
  return 2 * g.B * g.Cout * g.Cin * g.KH * g.KW * g.Ho * g.Wo;
}

/** Uniform words shared by every entry point (see Params in the WGSL). */
function params(g: ConvGeometry, extra: Partial<Record<ExtraKey, number>> = {}): number[] {
  const e = {
    tiles: 0,
    tilesRow: 0,
    hasBias: 0,
    total: 0,
    parts: 0,
    rows: 0,
    nrows: 0,
    cblocks: 0,
    z0: 0,
    acc: 0,
    ci0: 0,
    cn: 0,
    ...extra,
  };
  return [
    g.Cin,
    g.H,
    g.W,
    g.Cout,
    g.Ho,
    g.Wo,
    g.KH,
    g.KW,
    g.s,
    g.pad,
    e.tiles,
    e.tilesRow,
    e.hasBias,
    e.total,
    e.parts,
    e.rows,
    e.nrows,
    e.cblocks,
    e.z0,
    e.acc,
    e.ci0,
    e.cn,
  ];
}
type ExtraKey =
  | "tiles"
  | "tilesRow"
  | "hasBias"
  | "total"
  | "parts"
  | "rows"
  | "nrows"
  | "cblocks"
  | "z0"
  | "acc"
  | "ci0"
  | "cn";

/** y = conv2d(x, w) + b (+ channelBias[b, co]) (+ residual), the adds in the conv's epilogue. */
export function conv2d(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  const g = convGeometry(x, w, opts);
  const cb = opts.channelBias ?? null, res = opts.residual ?? null;
  if (b && b.size !== g.Cout) throw new Error(`conv2d: bias ${b.describe()} for ${g.Cout} channels`);
  if (cb && cb.size !== g.B * g.Cout) {
    throw new Error(`conv2d: channelBias ${cb.describe()} is not [${g.B}, ${g.Cout}]`);
  }
  const y = empty(ctx, [g.B, g.Cout, g.Ho, g.Wo]);
  if (res && res.size !== y.size) {
    throw new Error(`conv2d: residual ${res.describe()} is not ${y.describe()}`);
  }
  convForward(ctx, x, w, b, y, g, cb, res);
  const inputs = [x, w, ...[b, cb, res].filter((t): t is Tensor => t !== null)];
  return record(ctx, "conv2d", inputs, y, (gy, prior) => {
    const grads: (Tensor | null)[] = [
      x.requiresGrad ? convBackwardInput(ctx, gy, w, g, UNIFORM_WINDOWS, prior) : null,
      w.requiresGrad ? convBackwardWeight(ctx, x, gy, g) : null,
    ];
    if (b) grads.push(b.requiresGrad ? sum(ctx, gy, [0, 2, 3]) : null);
    if (cb) grads.push(cb.requiresGrad ? asShape(sum(ctx, gy, [2, 3]), cb.shape) : null);
    if (res) grads.push(res.requiresGrad ? gy.view(res.shape) : null);
    return grads;
  });
}

/** t viewed as `shape` (t itself when it already has it; else t is released to the view). */
function asShape(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  const v = t.view(shape);
  t.dispose();
  return v;
}

/**
 * y [B, Cout, Ho, Wo] = conv(x, w) + bias [+ channelBias [B, Cout]] [+ residual like y] (implicit
 * GEMM: Cout rows x 8-pixel row tiles).
 */
export function convForward(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  y: Tensor,
  g: ConvGeometry,
  channelBias: Tensor | null = null,
  residual: Tensor | null = null,
  windows: UniformWindows = UNIFORM_WINDOWS,
) {
  const plan = uniformPlan(g, windows);
  if (plan) return forwardUniform(ctx, x, w, b, y, g, channelBias, residual, plan, false);
  const tilesRow = Math.ceil(g.Wo / 8), tiles = g.Ho * tilesRow;
  const { TM, WY } = tileFor(g.Cout);
  const hasBias = (b ? 1 : 0) | (channelBias ? 2 : 0) | (residual ? 4 : 0);
  ctx.run(kernel, "forward", {
    buffers: [x, w, b ?? w, y, channelBias ?? w, residual ?? w],
    params: params(g, { tiles, tilesRow, hasBias }),
    groups: [Math.ceil(tiles / WX), Math.ceil(g.Cout / (TM * WY)), g.B],
    overrides: { TM, WX, WY },
    flops: convFlops(g),
  });
}

/**
 * gx [B, Cin, H, W] from gy [B, Cout, Ho, Wo] (exact for stride 2: tiles of one pixel parity). With
 * `prior` (the autograd's, for input 0: x's gradient so far), the uniform path adds that gradient in
 * its epilogue and marks it used.
 */
export function convBackwardInput(
  ctx: GpuContext,
  gy: Tensor,
  w: Tensor,
  g: ConvGeometry,
  windows: UniformWindows = UNIFORM_WINDOWS,
  prior?: Prior,
): Tensor {
  const gx = empty(ctx, [g.B, g.Cin, g.H, g.W]);
  const t = transposedGeometry(g);
  const plan = t && uniformPlan(t, windows);
  if (t && plan) {
    const sofar = prior?.grads[0] ?? null;
    forwardUniform(ctx, gy, w, null, gx, t, null, sofar, plan, true);
    if (sofar) prior!.used[0] = true;
    return gx;
  }
  // per parity (ry, rx): ceil(H / s) rows of ceil(ceil(W / s) / 8) 8-pixel tiles
  const tilesRow = Math.ceil(Math.ceil(g.W / g.s) / 8), tiles = g.s * g.s * Math.ceil(g.H / g.s) * tilesRow;
  const { TM, WY } = tileFor(g.Cin);
  ctx.run(kernel, "backward_input", {
    buffers: [gy, w, null, gx, null, w], // binding 6: the forward's residual, unread here
    params: params(g, { tiles, tilesRow }),
    groups: [Math.ceil(tiles / WX), Math.ceil(g.Cin / (TM * WY)), g.B],
    overrides: { TM, WX, WY },
    flops: convFlops(g),
  });
  return gx;
}

/**
 * gw [Cout, Cin, KH, KW] = sum over images and output pixels of gy[b, co, q] * x[b, ci, patch(q, i, j)].
 * The B * Ho pixel rows are split into `parts` chunks of `rows` rows (partial sums, summed at the end)
 * and, when one chunk would loop over more than kMax pixels, into several passes that add into them.
 */
export function convBackwardWeight(
  ctx: GpuContext,
  x: Tensor,
  gy: Tensor,
  g: ConvGeometry,
  split: WeightGradSplit = WGRAD_SPLIT,
): Tensor {
  const N = g.Cin * g.KH * g.KW, nrows = g.B * g.Ho;
  if (g.Wo > split.kMax) {
    throw new Error(`conv2d: weight gradient of ${g.Wo}-pixel rows exceeds ${split.kMax}`);
  }
  const gw = empty(ctx, [g.Cout, g.Cin, g.KH, g.KW]);
  const cblocks = Math.ceil(g.Cin / 8), tiles = g.KH * g.KW * cblocks;
  const { TM, WY } = tileFor(g.Cout);
  if (split.uniform !== false && uniformWeightGrad(g) && gy.buffer.size >= WIN * 4) {
    // gy from uniform windows of whole images, one dispatch per window, each adding into gw
    const windows = rowWindows(g.B, g.Cout * g.Ho * g.Wo, 0, gy.buffer.size / 4);
    windows.forEach(({ r0, rows, offset }, k) => {
      ctx.run(kernel, "backward_weight_uniform", {
        buffers: [x, null, null, gw, null, null, {
          buffer: gy.buffer,
          window: { offset: offset * 4, size: WIN * 4 },
        }],
        params: params(g, { tiles, cblocks, z0: r0, nrows: rows, total: offset, acc: k > 0 ? 1 : 0 }),
        // one TM-channel block per workgroup: its window index is the same in all its invocations
        // (with 2-4 blocks in a workgroup, llvmpipe ran the 64-channel convs 1.5-40x slower)
        groups: [Math.ceil(tiles / WX), Math.ceil(g.Cout / TM), 1],
        overrides: { TM, WX, WY: 1 },
        flops: k === 0 ? convFlops(g) : 0,
      });
    });
    return gw;
  }
  const invocations = tiles * Math.ceil(g.Cout / TM);
  const maxParts = Math.max(1, Math.min(MAX_GROUPS, Math.floor(split.partFloats / (g.Cout * N))));
  // rows per chunk: at most kMax pixels, and small enough that the chunks fill minInvocations
  const wantParts = Math.min(maxParts, Math.ceil(split.minInvocations / invocations));
  const rows = Math.max(1, Math.min(Math.floor(split.kMax / g.Wo), Math.ceil(nrows / wantParts)));
  const chunks = Math.ceil(nrows / rows), parts = Math.min(chunks, maxParts);
  const out = parts === 1 ? gw : empty(ctx, [parts, g.Cout, N]);
  for (let z0 = 0; z0 < chunks; z0 += parts) {
    ctx.run(kernel, "backward_weight", {
      buffers: [x, gy, null, out],
      params: params(g, { tiles, cblocks, rows, nrows, z0, acc: z0 > 0 ? 1 : 0 }),
      groups: [Math.ceil(tiles / WX), Math.ceil(g.Cout / (TM * WY)), Math.min(parts, chunks - z0)],
      overrides: { TM, WX, WY },
      flops: z0 === 0 ? convFlops(g) : 0,
    });
  }
  if (out !== gw) {
    const total = g.Cout * N;
    ctx.run(kernel, "sum_parts", {
      buffers: [null, out, null, gw],
      params: params(g, { total, parts }),
      groups: groups1d(Math.ceil(total / WG)),
      overrides: { WG },
    });
    out.dispose();
  }
  return gw;
}

/**
 * Whether the weight gradient can read gy from uniform windows of whole images (backward_weight_uniform):
 * an image's gy fits a window with room for the alignment slack, 4-pixel steps along its rows.
 */
export function uniformWeightGrad(g: ConvGeometry): boolean {
  const image = g.Cout * g.Ho * g.Wo;
  return g.Wo % 4 === 0 && (image <= WIN - WIN_ALIGN || (image <= WIN && image % WIN_ALIGN === 0));
}

/** How the forward may use uniform-buffer weight windows (tests pass small values). */
export interface UniformWindows {
  /** Floats per window (kernels/conv2d.wgsl WIN: 64 KiB, WebGPU's default uniform binding limit). */
  floats: number;
  /** Most windows (one dispatch each) per conv; a conv that needs more reads its weights as storage. */
  max: number;
}
const WIN = 16384;
const UNIFORM_WINDOWS: UniformWindows = { floats: WIN, max: 8 };

/** forward_uniform's split: blocks of TM output channels x chunks of cn input channels, one window each. */
export interface UniformPlan {
  TM: number;
  blocks: number;
  cn: number;
  chunks: number;
}

/** The uniform forward's split of this conv, or null when it needs more windows than allowed. */
export function uniformPlan(g: ConvGeometry, win: UniformWindows = UNIFORM_WINDOWS): UniformPlan | null {
  const kk = g.KH * g.KW;
  const TM = g.Cout >= 16 ? 16 : g.Cout > 4 ? 8 : 4;
  const most = Math.min(g.Cin, Math.floor(Math.min(win.floats, WIN) / (TM * kk)));
  if (most < 1) return null;
  const chunks = Math.ceil(g.Cin / most), blocks = Math.ceil(g.Cout / TM);
  if (blocks * chunks > win.max) return null;
  return { TM, blocks, cn: Math.ceil(g.Cin / chunks), chunks };
}

/**
 * The stride-1 conv whose forward is g's input gradient: gx = conv(gy, w transposed to [Cin, Cout] and
 * flipped, padding K - 1 - pad); null for stride 2 and non-square kernels.
 */
export function transposedGeometry(g: ConvGeometry): ConvGeometry | null {
  if (g.s !== 1 || g.KH !== g.KW || g.pad > g.KH - 1) return null;
  const pad = g.KH - 1 - g.pad;
  return { ...g, Cin: g.Cout, Cout: g.Cin, H: g.Ho, W: g.Wo, pad, Ho: g.H, Wo: g.W };
}

/**
 * y = conv(x, w) with g's geometry through forward_uniform: pack_weights writes the windows, Cout *
 * Cin * KK floats (weights change every training step, so they are packed per call, or once per
 * sampling loop: packedWeight; `flip`: w is the [Cin, Cout] weight of the conv whose input gradient
 * this is), then one dispatch per (block, chunk).
 */
function forwardUniform(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  y: Tensor,
  g: ConvGeometry,
  channelBias: Tensor | null,
  residual: Tensor | null,
  plan: UniformPlan,
  flip: boolean,
) {
  const { TM, blocks, cn, chunks } = plan;
  const tilesRow = Math.ceil(g.Wo / 8), tiles = g.Ho * tilesRow;
  const { pack: packed, owned } = packedWeight(ctx, w, `conv2d ${TM} ${cn} ${flip}`, () => {
    const packed = empty(ctx, [blocks * chunks * WIN]);
    const total = blocks * g.Cin * g.KH * g.KW * TM;
    ctx.run(kernel, "pack_weights", {
      buffers: [null, w, null, packed],
      params: params(g, { total, cn }),
      groups: groups1d(Math.ceil(total / WG)),
      overrides: { WG, TM, FLIP: flip ? 1 : 0 },
    });
    return packed;
  });
  const hasBias = (b ? 1 : 0) | (channelBias ? 2 : 0) | (residual ? 4 : 0);
  // forward_uniform's written-out shapes (the UNets' convs); 0: loops over the taps
  const KSHAPE = g.KH === 3 && g.KW === 3
    ? (g.s === 1 ? 1 : 3)
    : g.KH === 1 && g.KW === 1 && g.s === 1 && g.pad === 0
    ? 2
    : 0;
  for (let k = 0; k < blocks; k++) {
    for (let c = 0; c < chunks; c++) {
      const window = { offset: (k * chunks + c) * WIN * 4, size: WIN * 4 };
      const ci0 = c * cn;
      ctx.run(kernel, "forward_uniform", {
        label: ctx.profiler
          ? `${g.B}x${g.Cin}x${g.H}x${g.W} -> ${g.Cout} k${g.KH}s${g.s}${flip ? " gx" : ""}`
          : undefined,
        buffers: [x, null, b ?? x, y, channelBias ?? x, residual ?? x, { buffer: packed.buffer, window }],
        params: params(g, {
          tiles,
          tilesRow,
          hasBias,
          rows: g.B,
          z0: k,
          acc: c > 0 ? 1 : 0,
          ci0,
          cn: Math.min(cn, g.Cin - ci0),
        }),
        groups: groups1d(Math.ceil(g.B * tiles / UNIFORM_WG)),
        overrides: { TM, WG: UNIFORM_WG, KSHAPE },
        flops: k === 0 && c === 0 ? convFlops(g) : 0,
      });
    }
  }
  if (owned) packed.dispose();
}
const UNIFORM_WG = 64;
