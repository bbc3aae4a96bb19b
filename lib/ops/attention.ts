// Multi-head scaled-dot-product attention, composed of matmul (lib/ops/matmul.ts) and the masked
// softmax kernel (kernels/softmax.wgsl, which holds attention's WGSL: scale, key mask and causal
// masking are fused into it), recorded on the tape as one op with an exact backward.
//
// Forward, per batch b and head h (heads are slices of the last axis, as diffusers' Attention; the
// GEMMs read and write them in place through strides, so heads are never split or merged by copies):
//   S = Q K^T            [B*H, Lq, Lk]
//   P = softmax(S / sqrt(Dh), masked)
//   O = P V              written into [B, Lq, H*Dh]
// Backward (P is saved, so it costs 4 matmuls against the forward's 2):
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)) / sqrt(Dh),  dQ = dS K,  dK = dS^T Q
// When S would exceed `budgetBytes` (default: the adapter's storage binding limit, at most 256 MiB;
// e.g. SD-1.5's 4096-token self-attention at 64x64 latents is 64 MiB per head), the same math runs
// in chunks of heads (or of query rows within one head): nothing of size [B*H, Lq, Lk] is kept, and
// the backward recomputes each chunk's P instead of saving it (memory-efficient attention).
// Where a batch element's K rows (and, when recorded, its Q rows) fit a 64 KiB window and Dh is a
// multiple of 4 up to 64, fused kernels run instead (kernels/attention.wgsl: an online softmax with K and
// V through uniform windows, S and P never written; recorded, the forward saves each query's
// log-sum-exp and the backward recomputes P from it, as flash attention does).
import { f32bits, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { add } from "./binary.ts";
import { concat, slice, stridedCopy } from "./copy.ts";
import { gemm, matmul, rowWindows, WIN, WIN_ALIGN } from "./matmul.ts";
import { softmaxBackwardRaw, type SoftmaxMask, softmaxRaw } from "./softmax.ts";
import { type GpuContext, record, stridesOf } from "./util.ts";

export interface AttentionOptions {
  /** [B, Lk]: 1 = attend, 0 = masked (padding). Keys masked for every query give an output of 0. */
  keyMask?: Tensor;
  /** Query i attends keys j <= i (top-left aligned, as torch's is_causal); for the text encoder. */
  causal?: boolean;
  /** Largest score matrix (bytes) computed at once; larger problems run in chunks. */
  budgetBytes?: number;
  /** false: never the fused kernels (tests compare the two paths). Default: fused where it fits. */
  fused?: boolean;
}

/** The score-matrix budget: the binding limit (a buffer bigger than it cannot be bound), capped. */
export function attentionBudget(ctx: GpuContext, o: AttentionOptions = {}): number {
  return o.budgetBytes ?? Math.min(256 * 2 ** 20, ctx.limits.maxStorageBufferBindingSize);
}

/**
 * q: [B, Lq, H*Dh], k, v: [B, Lk, H*Dh] -> [B, Lq, H*Dh], scale 1 / sqrt(Dh). Self attention when
 * k, v come from the same sequence as q, cross attention otherwise (Lq != Lk allowed).
 */
export function attention(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  opts: AttentionOptions = {},
): Tensor {
  const [B, Lq, HD] = q.shape;
  const Lk = k.shape[1];
  const bad = q.shape.length !== 3 || k.shape.length !== 3 || v.shape.length !== 3 ||
    k.shape[0] !== B || v.shape[0] !== B || k.shape[2] !== HD || v.shape[2] !== HD || v.shape[1] !== Lk;
  if (bad) {
    throw new Error(
      `attention: q ${q.describe()}, k ${k.describe()}, v ${v.describe()} are not [B, L, H*Dh]`,
    );
  }
  if (!(heads >= 1 && HD % heads === 0)) {
    throw new Error(`attention: ${HD} channels not divisible by ${heads} heads`);
  }
  if (opts.keyMask && opts.keyMask.size !== B * Lk) {
    throw new Error(`attention: key mask ${opts.keyMask.describe()} is not [${B}, ${Lk}]`);
  }
  const Dh = HD / heads;
  const mask: SoftmaxMask = {
    scale: 1 / Math.sqrt(Dh),
    keyMask: opts.keyMask,
    rowsPerBatch: heads * Lq,
    causal: !!opts.causal,
    Lq,
  };
  const recorded = ctx.gradEnabled && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  if (opts.fused !== false && fusedFits(Lk, HD, Dh, B) && (!recorded || fusedFits(Lq, HD, Dh, B))) {
    return fusedAttention(ctx, q, k, v, { B, Lq, Lk, H: heads, Dh, mask }, recorded);
  }
  if (B * heads * Lq * Lk * 4 > attentionBudget(ctx, opts)) {
    return chunkedAttention(ctx, q, k, v, {
      B,
      Lq,
      Lk,
      H: heads,
      Dh,
      budget: attentionBudget(ctx, opts),
      mask,
    });
  }
  // Heads are read and written in place: for z = b * H + h, head h of x [B, L, H*Dh] row l is at
  // b * L * HD + l * HD + h * Dh (no split or merge copies; see GemmSpec in lib/ops/matmul.ts).
  const hq = head(Lq, heads, Dh), hk = head(Lk, heads, Dh);
  const BH = B * heads, nc = heads;
  const { p, out } = ctx.noGrad(() => {
    const s = empty(ctx, [BH, Lq, Lk]); // S = Q K^T
    gemm(ctx, q, k, s, { batch: BH, nc, M: Lq, N: Lk, K: Dh, ...headA(hq), ...headBT(hk) });
    const p = softmaxRaw(ctx, s, mask);
    s.dispose();
    const out = empty(ctx, [B, Lq, HD]); // O = P V
    gemm(ctx, p, v, out, {
      batch: BH,
      nc,
      M: Lq,
      N: Dh,
      K: Lk,
      ...scoresA(Lq, Lk, heads),
      ...headB(hk),
      ...headOut(hq),
    });
    return { p, out };
  });
  const y = record(ctx, "attention", [q, k, v], out, (gOut) => {
    let gq: Tensor | null = null, gk: Tensor | null = null, gv: Tensor | null = null;
    if (v.requiresGrad) {
      gv = empty(ctx, [B, Lk, HD]); // dV = P^T dO
      gemm(ctx, p, gOut, gv, {
        batch: BH,
        nc,
        M: Lk,
        N: Dh,
        K: Lq,
        ...scoresAT(Lq, Lk, heads),
        ...headB(hq),
        ...headOut(hk),
      });
    }
    if (q.requiresGrad || k.requiresGrad) {
      const gp = empty(ctx, [BH, Lq, Lk]); // dP = dO V^T
      gemm(ctx, gOut, v, gp, { batch: BH, nc, M: Lq, N: Lk, K: Dh, ...headA(hq), ...headBT(hk) });
      const gs = softmaxBackwardRaw(ctx, p, gp, mask);
      gp.dispose();
      if (q.requiresGrad) {
        gq = empty(ctx, [B, Lq, HD]); // dQ = dS K
        gemm(ctx, gs, k, gq, {
          batch: BH,
          nc,
          M: Lq,
          N: Dh,
          K: Lk,
          ...scoresA(Lq, Lk, heads),
          ...headB(hk),
          ...headOut(hq),
        });
      }
      if (k.requiresGrad) {
        gk = empty(ctx, [B, Lk, HD]); // dK = dS^T Q
        gemm(ctx, gs, q, gk, {
          batch: BH,
          nc,
          M: Lk,
          N: Dh,
          K: Lq,
          ...scoresAT(Lq, Lk, heads),
          ...headB(hq),
          ...headOut(hk),
        });
      }
      gs.dispose();
    }
    p.dispose();
    return [gq, gk, gv];
  });
  // Not recorded: nothing will read the probabilities again.
  if (!y.creator) p.dispose();
  return y;
}

// ---- the fused kernels (kernels/attention.wgsl) ----
const fusedKernel = new KernelFile("attention.wgsl");
const FUSED_WG = 64;
/** Largest head dim the fused kernels hold in registers. */
export const FUSED_MAX_DH = 64;

/** Most dispatches (windows) the fused kernels take per pass; beyond, the composed path's few win. */
export const FUSED_MAX_WINDOWS = 64;

/**
 * Whether the fused kernels take B batch elements of L tokens: Dh a multiple of 4 up to 64, a batch
 * element's L x HD floats in a window, at most FUSED_MAX_WINDOWS windows.
 */
export function fusedFits(L: number, HD: number, Dh: number, B = 1): boolean {
  if (!(Dh % 4 === 0 && Dh <= FUSED_MAX_DH && L * HD <= WIN - WIN_ALIGN)) return false;
  return batchWindows(B, L * HD, Infinity).length <= FUSED_MAX_WINDOWS;
}

/**
 * The windows over a [B, L, HD] buffer of bufFloats floats for groups of batch elements (rows of
 * rowFloats = L * HD floats): matmul's rowWindows with a batch element as the row.
 */
export const batchWindows = (B: number, rowFloats: number, bufFloats: number) =>
  rowWindows(B, rowFloats, 0, bufFloats);

/** A tensor whose buffer holds a whole window (a buffer-to-buffer copy into a fresh one if not). */
function windowable(ctx: GpuContext, t: Tensor): Tensor {
  if (t.buffer.size >= WIN * 4) return t;
  const c = empty(ctx, [WIN]);
  ctx.copyBuffer(t.buffer, 0, c.buffer, 0, t.size * 4);
  return c;
}

interface FusedGeometry {
  B: number;
  Lq: number;
  Lk: number;
  H: number;
  Dh: number;
  mask: SoftmaxMask;
}

/**
 * One dispatch of `entry` per group of batch elements whose rows of `a` and `b` ([B, L, HD], L * HD =
 * rowFloats) fit a window each: a and b are bound as the uniform windows ku and vu, `storage` gives
 * the storage bindings 1-3 and 6-10 in order (null: not bound); `perBatch` invocations per batch element.
 */
function runWindows(
  ctx: GpuContext,
  entry: string,
  g: FusedGeometry,
  a: Tensor,
  b: Tensor,
  rowFloats: number,
  perBatch: number,
  storage: (Tensor | null)[],
  overrides: Record<string, number>,
  flopsPerBatch = 0,
) {
  const { B, Lq, Lk, H, Dh, mask } = g;
  const aw = windowable(ctx, a), bw = windowable(ctx, b);
  const aWins = batchWindows(B, rowFloats, aw.buffer.size / 4);
  const bWins = batchWindows(B, rowFloats, bw.buffer.size / 4);
  aWins.forEach((aWin, n) => {
    const bWin = bWins[n], start = aWin.r0 * rowFloats;
    const [s1, s2, s3, ...rest] = storage;
    ctx.run(fusedKernel, entry, {
      buffers: [
        s1,
        s2,
        s3,
        { buffer: aw.buffer, window: { offset: aWin.offset * 4, size: WIN * 4 } },
        { buffer: bw.buffer, window: { offset: bWin.offset * 4, size: WIN * 4 } },
        ...rest,
      ],
      params: [
        H,
        Lq,
        Lk,
        H * Dh,
        f32bits(mask.scale ?? 1),
        mask.keyMask ? 1 : 0,
        mask.causal ? 1 : 0,
        aWin.r0,
        aWin.rows,
        (start - aWin.offset) / 4,
        (start - bWin.offset) / 4,
        0,
      ],
      groups: groups1d(Math.ceil((aWin.rows * perBatch) / FUSED_WG)),
      overrides: { DH: Dh, WG: FUSED_WG, ...overrides },
      flops: aWin.rows * flopsPerBatch,
    });
  });
  if (aw !== a) aw.dispose();
  if (bw !== b) bw.dispose();
}

/**
 * The fused forward; recorded (`record`), it also saves each query's log-sum-exp and its backward is
 * backwardQ (dQ, and D = rowsum(dO * O)) then backwardKV (dK, dV), recomputing P from the log-sum-exp.
 */
function fusedAttention(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  g: FusedGeometry,
  recorded: boolean,
): Tensor {
  const { B, Lq, Lk, H, Dh, mask } = g;
  const HD = H * Dh, keyMask = mask.keyMask ?? null;
  const out = empty(ctx, [B, Lq, HD]);
  const lse = empty(ctx, [recorded ? B * H * Lq : 1]);
  const pairs = H * Math.ceil(Lq / 2); // forward and backwardQ: query pairs per batch element
  runWindows(ctx, "forward", g, k, v, Lk * HD, pairs, [q, keyMask ?? q, out, lse], {
    SAVE: recorded ? 1 : 0,
  }, 4 * H * Lq * Lk * Dh);
  if (!recorded) {
    lse.dispose();
    return out;
  }
  return record(ctx, "attention", [q, k, v], out, (gOut) => {
    const gq = empty(ctx, q.shape), gk = empty(ctx, k.shape), gv = empty(ctx, v.shape);
    const dd = empty(ctx, [B * H * Lq]);
    // bindings 1-3, 6-10: q, mask, out, lse, go, dd, gx, gv
    // flops as the composed backward's GEMMs count them (dP and dQ; dV and dK), recomputation not counted
    const flops = 4 * H * Lq * Lk * Dh;
    runWindows(
      ctx,
      "backwardQ",
      g,
      k,
      v,
      Lk * HD,
      pairs,
      [q, keyMask ?? q, out, lse, gOut, dd, gq],
      {},
      flops,
    );
    runWindows(
      ctx,
      "backwardKV",
      g,
      q,
      gOut,
      Lq * HD,
      H * Math.ceil(Lk / 2),
      [k, keyMask ?? k, null, lse, v, dd, gk, gv],
      {},
      flops,
    );
    lse.dispose();
    dd.dispose();
    const keep = (t: Tensor, x: Tensor) => {
      if (x.requiresGrad) return t;
      t.dispose();
      return null;
    };
    return [keep(gq, q), keep(gk, k), keep(gv, v)];
  });
}

interface ChunkGeometry {
  B: number;
  Lq: number;
  Lk: number;
  H: number;
  Dh: number;
  budget: number;
  mask: SoftmaxMask;
}

/**
 * The chunks of a [B*H, Lq, Lk] score matrix that fit the budget: runs of heads with every query, or
 * (when one head's scores do not fit) query rows of one head. With a key mask a chunk never spans two
 * batch elements, so each chunk reads one contiguous block of mask rows.
 */
function chunksOf(g: ChunkGeometry): { z0: number; z1: number; q0: number; q1: number }[] {
  const Z = g.B * g.H, perHead = g.Lq * g.Lk * 4;
  const out: { z0: number; z1: number; q0: number; q1: number }[] = [];
  let zc = Math.floor(g.budget / perHead);
  if (zc >= 1) {
    if (g.mask.keyMask) zc = zc >= g.H ? Math.floor(zc / g.H) * g.H : largestDivisorAtMost(g.H, zc);
    for (let z0 = 0; z0 < Z; z0 += zc) out.push({ z0, z1: Math.min(Z, z0 + zc), q0: 0, q1: g.Lq });
    return out;
  }
  const qc = Math.max(1, Math.floor(g.budget / (g.Lk * 4)));
  for (let z = 0; z < Z; z++) {
    for (let q0 = 0; q0 < g.Lq; q0 += qc) out.push({ z0: z, z1: z + 1, q0, q1: Math.min(g.Lq, q0 + qc) });
  }
  return out;
}

function largestDivisorAtMost(n: number, m: number): number {
  for (let d = Math.min(n, m); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/** The mask of one chunk: the key-mask rows of its batch elements, rows counted within the chunk. */
function chunkMask(ctx: GpuContext, g: ChunkGeometry, c: { z0: number; z1: number; q0: number; q1: number }) {
  const m = g.mask;
  if (!m.keyMask) return { mask: { scale: m.scale } as SoftmaxMask, rows: null };
  const b0 = Math.floor(c.z0 / g.H), b1 = Math.floor((c.z1 - 1) / g.H) + 1;
  const view = m.keyMask.view([g.B, g.Lk]);
  const rows = slice(ctx, view, 0, b0, b1);
  view.dispose();
  const zc = c.z1 - c.z0, qc = c.q1 - c.q0;
  const rowsPerBatch = zc >= g.H ? g.H * qc : zc * qc; // whole batch elements, or a part of one
  return { mask: { scale: m.scale, keyMask: rows, rowsPerBatch } as SoftmaxMask, rows };
}

/**
 * attention() for problems whose scores exceed the budget: per chunk S = Q K^T, P = softmax, O = P V,
 * assembled into [B, Lq, H*Dh]; the backward recomputes each chunk's P (nothing big is saved).
 */
function chunkedAttention(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  g: ChunkGeometry,
): Tensor {
  if (g.mask.causal) {
    throw new Error(`attention: causal attention of ${g.Lq}x${g.Lk} exceeds the chunk budget`);
  }
  const { B, Lq, Lk, H, Dh } = g;
  const chunks = chunksOf(g);
  // [Z, L, Dh] inputs of chunk c: heads z0..z1, queries q0..q1.
  const part = (x: Tensor, c: { z0: number; z1: number }, rows?: [number, number]) => {
    const zs = slice(ctx, x, 0, c.z0, c.z1);
    if (!rows || (rows[0] === 0 && rows[1] === x.shape[1])) return zs;
    const r = slice(ctx, zs, 1, rows[0], rows[1]);
    zs.dispose();
    return r;
  };
  /** P of chunk c (softmax of the scaled, masked scores) [zc, qc, Lk]. */
  const probs = (qh: Tensor, kh: Tensor, c: (typeof chunks)[number]) => {
    const qc = part(qh, c, [c.q0, c.q1]), kc = part(kh, c);
    const s = matmul(ctx, qc, kc, { transB: true });
    const { mask, rows } = chunkMask(ctx, g, c);
    const p = softmaxRaw(ctx, s, mask);
    for (const t of [qc, kc, s]) t.dispose();
    rows?.dispose();
    return p;
  };
  /** Chunk results [zc, qc, Dh] (or [zc, Lk, Dh] summed over query chunks) -> [Z, L, Dh]. */
  const assemble = (pieces: Tensor[], byQuery: boolean) => {
    if (pieces.length === 1) return pieces[0];
    let out: Tensor;
    if (chunks[0].q1 - chunks[0].q0 === Lq || !byQuery) out = concat(ctx, pieces, 0);
    else {
      // Query chunks of one head at a time: join along the query axis, then the heads.
      const perHead: Tensor[] = [];
      for (let z = 0, i = 0; z < B * H; z++) {
        const mine: Tensor[] = [];
        while (i < chunks.length && chunks[i].z0 === z) mine.push(pieces[i++]);
        perHead.push(mine.length === 1 ? mine[0] : concat(ctx, mine, 1));
        if (mine.length > 1) { for (const t of mine) t.dispose(); }
      }
      out = concat(ctx, perHead, 0);
      for (const t of perHead) t.dispose();
      return out;
    }
    for (const t of pieces) t.dispose();
    return out;
  };
  const split = (x: Tensor, L: number) => splitHeads(ctx, x, B, L, H, Dh);
  const { qh, kh, vh, out } = ctx.noGrad(() => {
    const qh = split(q, Lq), kh = split(k, Lk), vh = split(v, Lk);
    const pieces = chunks.map((c) => {
      const p = probs(qh, kh, c), vc = part(vh, c);
      const o = matmul(ctx, p, vc); // [zc, qc, Dh]
      p.dispose();
      vc.dispose();
      return o;
    });
    const oh = assemble(pieces, true);
    const out = mergeHeads(ctx, oh, B, Lq, H, Dh);
    if (oh !== out) oh.dispose();
    return { qh, kh, vh, out };
  });
  const saved = [qh, kh, vh];
  const y = record(ctx, "attention", [q, k, v], out, (gOut) => {
    const go = split(gOut, Lq);
    const gqs: Tensor[] = [], gks: Tensor[] = [], gvs: Tensor[] = [];
    // dK, dV of a head sum over its query chunks.
    const sumInto = (list: Tensor[], c: (typeof chunks)[number], t: Tensor) => {
      if (c.q0 > 0) {
        const prev = list.pop()!;
        list.push(add(ctx, prev, t));
        prev.dispose();
        t.dispose();
      } else list.push(t);
    };
    for (const c of chunks) {
      const p = probs(qh, kh, c);
      const goc = part(go, c, [c.q0, c.q1]);
      if (v.requiresGrad) sumInto(gvs, c, matmul(ctx, p, goc, { transA: true })); // [zc, Lk, Dh]
      if (q.requiresGrad || k.requiresGrad) {
        const vc = part(vh, c);
        const gp = matmul(ctx, goc, vc, { transB: true }); // [zc, qc, Lk]
        const gs = softmaxBackwardRaw(ctx, p, gp, { scale: g.mask.scale });
        for (const t of [vc, gp]) t.dispose();
        if (q.requiresGrad) {
          const kc = part(kh, c);
          gqs.push(matmul(ctx, gs, kc));
          kc.dispose();
        }
        if (k.requiresGrad) {
          const qc = part(qh, c, [c.q0, c.q1]);
          sumInto(gks, c, matmul(ctx, gs, qc, { transA: true }));
          qc.dispose();
        }
        gs.dispose();
      }
      p.dispose();
      goc.dispose();
    }
    go.dispose();
    for (const t of saved) t.dispose();
    const merged = (list: Tensor[], byQuery: boolean, L: number) => {
      if (!list.length) return null;
      const h = assemble(list, byQuery);
      const m = mergeHeads(ctx, h, B, L, H, Dh);
      if (m !== h) h.dispose();
      return m;
    };
    return [merged(gqs, true, Lq), merged(gks, false, Lk), merged(gvs, false, Lk)];
  });
  if (!y.creator) { for (const t of saved) t.dispose(); }
  return y;
}

/** [B, L, H*Dh] -> [B*H, L, Dh] (a view when H = 1). */
function splitHeads(ctx: GpuContext, x: Tensor, B: number, L: number, H: number, Dh: number): Tensor {
  if (H === 1) return x.view([B, L, Dh]);
  const out = empty(ctx, [B * H, L, Dh]);
  // iterate the output [B, H, L, Dh]; read x as [B, L, H, Dh]
  const xs = stridesOf([B, L, H, Dh]);
  stridedCopy(ctx, x, out, [B, H, L, Dh], [xs[0], xs[2], xs[1], xs[3]], stridesOf([B, H, L, Dh]));
  return out;
}

/** [B*H, L, Dh] -> [B, L, H*Dh] (a view when H = 1). */
function mergeHeads(ctx: GpuContext, x: Tensor, B: number, L: number, H: number, Dh: number): Tensor {
  if (H === 1) return x.view([B, L, Dh]);
  const out = empty(ctx, [B, L, H * Dh]);
  const os = stridesOf([B, L, H, Dh]);
  stridedCopy(ctx, x, out, [B, H, L, Dh], stridesOf([B, H, L, Dh]), [os[0], os[2], os[1], os[3]]);
  return out;
}

/** Where the heads of a [B, L, H*Dh] tensor are: batch stride s1, head stride s2, row stride. */
interface Head {
  s1: number;
  s2: number;
  row: number;
}
const head = (L: number, H: number, Dh: number): Head => ({ s1: L * H * Dh, s2: Dh, row: H * Dh });

/** A(z, m = l, k = d) = head rows. */
const headA = (h: Head) => ({ sam: h.row, sak: 1, sa1: h.s1, sa2: h.s2 });
/** B(z, k = d, n = l): a head transposed (scalar loads). */
const headBT = (h: Head) => ({ sbk: 1, sbn: h.row, sb1: h.s1, sb2: h.s2 });
/** B(z, k = l, n = d): a head. */
const headB = (h: Head) => ({ sbk: h.row, sbn: 1, sb1: h.s1, sb2: h.s2 });
/** Output (z, m = l, n = d) into a head. */
const headOut = (h: Head) => ({ scm: h.row, sc1: h.s1, sc2: h.s2 });
/** A(z, m = query, k = key) of contiguous scores [B*H, Lq, Lk] (z = (z / H) * H + z % H). */
const scoresA = (Lq: number, Lk: number, H: number) => ({ sam: Lk, sak: 1, sa1: H * Lq * Lk, sa2: Lq * Lk });
/** A(z, m = key, k = query): the scores transposed. */
const scoresAT = (Lq: number, Lk: number, H: number) => ({ sam: 1, sak: Lk, sa1: H * Lq * Lk, sa2: Lq * Lk });
