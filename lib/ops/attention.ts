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
import { empty, type Tensor } from "../tensor/tensor.ts";
import { gemm } from "./matmul.ts";
import { softmaxBackwardRaw, type SoftmaxMask, softmaxRaw } from "./softmax.ts";
import { type GpuContext, record } from "./util.ts";

export interface AttentionOptions {
  /** [B, Lk]: 1 = attend, 0 = masked (padding). Keys masked for every query give an output of 0. */
  keyMask?: Tensor;
  /** Query i attends keys j <= i (top-left aligned, as torch's is_causal); for the text encoder. */
  causal?: boolean;
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
