// conv2d, NCHW (kernels/conv2d.wgsl): x [B, Cin, H, W], w [Cout, Cin, KH, KW], b [Cout] | null
// -> y [B, Cout, Ho, Wo], Ho = floor((H + 2 pad - KH) / s) + 1. Gradients for x, w and b.
// Forward and input gradient are implicit GEMMs; the weight gradient is a GEMM over pixels
// (gy [Cout, pixels] @ patches [pixels, Cin*KH*KW]) split into chunks whose partial sums are added
// at the end, so no invocation loops long (llvmpipe cuts loops at 65,535) and the work spreads.
import { groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, record } from "./util.ts";
import { gemm, tileFor } from "./matmul.ts";
import { sum } from "./reduce.ts";

const kernel = new KernelFile("conv2d.wgsl");
const WX = 8;
const WG = 256;
/** Budget (floats) for one im2col block of the weight gradient; larger inputs go in segments. */
const COL_FLOATS = 4 << 20;
/** Budget (floats) for the weight gradient's partial sums. */
const PART_FLOATS = 4 << 20;
/** Most partial sums the weight gradient splits its pixel reduction into. */
const MAX_PARTS = 32;

export interface Conv2dOptions {
  stride?: 1 | 2;
  /** Zero padding on every side; default floor(k / 2). */
  padding?: number;
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
    np: 0,
    total: 0,
    parts: 0,
    b0: 0,
    q0: 0,
    q: 0,
    qp: 0,
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
    e.np,
    e.total,
    e.parts,
    e.b0,
    e.q0,
    e.q,
    e.qp,
  ];
}
type ExtraKey = "tiles" | "tilesRow" | "hasBias" | "np" | "total" | "parts" | "b0" | "q0" | "q" | "qp";

/** y = conv2d(x, w) + b. */
export function conv2d(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  const g = convGeometry(x, w, opts);
  if (b && b.size !== g.Cout) throw new Error(`conv2d: bias ${b.describe()} for ${g.Cout} channels`);
  const y = empty(ctx, [g.B, g.Cout, g.Ho, g.Wo]);
  convForward(ctx, x, w, b, y, g);
  const inputs = b ? [x, w, b] : [x, w];
  return record(ctx, "conv2d", inputs, y, (gy) => {
    const gx = x.requiresGrad ? convBackwardInput(ctx, gy, w, g) : null;
    const gw = w.requiresGrad ? convBackwardWeight(ctx, x, gy, g) : null;
    const gb = b?.requiresGrad ? sum(ctx, gy, [0, 2, 3]) : null;
    return b ? [gx, gw, gb] : [gx, gw];
  });
}

/** y [B, Cout, Ho, Wo] = conv(x, w) + bias (implicit GEMM: Cout rows x 8-pixel row tiles). */
export function convForward(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  y: Tensor,
  g: ConvGeometry,
) {
  const tilesRow = Math.ceil(g.Wo / 8), tiles = g.Ho * tilesRow;
  const { TM, WY } = tileFor(g.Cout);
  ctx.run(kernel, "forward", {
    buffers: [x, w, b ?? w, y],
    params: params(g, { tiles, tilesRow, hasBias: b ? 1 : 0 }),
    groups: [Math.ceil(tiles / WX), Math.ceil(g.Cout / (TM * WY)), g.B],
    overrides: { TM, WX, WY },
    flops: convFlops(g),
  });
}

/** gx [B, Cin, H, W] from gy [B, Cout, Ho, Wo] (exact for stride 2: tiles of one pixel parity). */
export function convBackwardInput(ctx: GpuContext, gy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  const gx = empty(ctx, [g.B, g.Cin, g.H, g.W]);
  const tilesRow = Math.ceil(Math.ceil(g.W / g.s) / 8), tiles = g.H * g.s * tilesRow;
  const { TM, WY } = tileFor(g.Cin);
  ctx.run(kernel, "backward_input", {
    buffers: [gy, w, null, gx],
    params: params(g, { tiles, tilesRow }),
    groups: [Math.ceil(tiles / WX), Math.ceil(g.Cin / (TM * WY)), g.B],
    overrides: { TM, WX, WY },
    flops: convFlops(g),
  });
  return gx;
}

/**
 * gw [Cout, Cin, KH, KW] = sum over images and pixels of gy[b, co, q] * patch[b, q, (ci, i, j)].
 * Pixels go in segments of whole images (or of rows of one image when an image's patches exceed
 * COL_FLOATS); each segment is split into `nc` chunks per image, and chunk z of every segment adds
 * into partial sum z; the partials are summed at the end.
 */
export function convBackwardWeight(
  ctx: GpuContext,
  x: Tensor,
  gy: Tensor,
  g: ConvGeometry,
  budget = { colFloats: COL_FLOATS, partFloats: PART_FLOATS },
): Tensor {
  const N = g.Cin * g.KH * g.KW, np = Math.ceil(N / 8) * 8, P = g.Ho * g.Wo;
  const gw = empty(ctx, [g.Cout, g.Cin, g.KH, g.KW]);
  const maxRows = Math.max(8, Math.floor(budget.colFloats / np)); // patch rows per im2col block
  const Q = Math.min(P, maxRows); // pixels per segment of one image
  const nb = Q === P ? Math.max(1, Math.min(g.B, Math.floor(maxRows / P))) : 1; // images per block
  const maxParts = Math.max(1, Math.min(MAX_PARTS, Math.floor(budget.partFloats / (g.Cout * N))));
  const nc = Math.max(1, Math.min(Math.floor(maxParts / nb), Math.ceil(Q / 64))); // chunks per image
  const Pc = Math.ceil(Q / nc), qp = Pc * nc;
  const parts = nb * nc;
  const out = parts === 1 ? gw : empty(ctx, [parts, g.Cout, N]);
  const col = empty(ctx, [nb, qp, np]);
  let first = true;
  for (let b0 = 0; b0 < g.B; b0 += nb) {
    const nbHere = Math.min(nb, g.B - b0);
    for (let q0 = 0; q0 < P; q0 += Q) {
      const q = Math.min(Q, P - q0);
      const total = nbHere * qp * np;
      ctx.run(kernel, "im2col", {
        buffers: [x, null, null, col],
        params: params(g, { np, total, b0, q0, q, qp }),
        groups: groups1d(Math.ceil(total / WG)),
        overrides: { WG },
      });
      // Rows past q in a chunk are zero in col, so the gy values read there (the next pixels) drop out.
      gemm(ctx, gy, col, out, {
        batch: nbHere * nc,
        nc,
        M: g.Cout,
        N,
        K: Pc,
        sam: P,
        sak: 1,
        sa1: g.Cout * P,
        sa2: Pc,
        sbk: np,
        sbn: 1,
        sb1: qp * np,
        sb2: Pc * np,
        accumulate: !first,
        aOffset: b0 * g.Cout * P + q0,
      });
      first = false;
    }
  }
  col.dispose();
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
