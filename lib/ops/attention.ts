// Multi-head scaled-dot-product attention, composed of matmul (lib/ops/matmul.ts) and the masked
// softmax kernel (kernels/softmax.wgsl, which holds attention's WGSL: scale, key mask and causal
// masking are fused into it), recorded on the tape as one op with an exact backward.
//
// Forward, per batch b and head h (heads split out of the last axis, as diffusers' Attention):
//   S = Q K^T            [B*H, Lq, Lk]
//   P = softmax(S / sqrt(Dh), masked)
//   O = P V              [B*H, Lq, Dh]  -> merged back to [B, Lq, H*Dh]
// Backward (P and the split heads are saved, so it costs 4 matmuls against the forward's 2):
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)) / sqrt(Dh),  dQ = dS K,  dK = dS^T Q
import { empty, type Tensor } from "../tensor/tensor.ts";
import { stridedCopy } from "./copy.ts";
import { matmul } from "./matmul.ts";
import { softmaxBackwardRaw, type SoftmaxMask, softmaxRaw } from "./softmax.ts";
import { type GpuContext, record, stridesOf } from "./util.ts";

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
  const split = (x: Tensor, L: number) => splitHeads(ctx, x, B, L, heads, Dh);
  const { qh, kh, vh, p, out } = ctx.noGrad(() => {
    const qh = split(q, Lq), kh = split(k, Lk), vh = split(v, Lk);
    const s = matmul(ctx, qh, kh, { transB: true }); // [B*H, Lq, Lk]
    const p = softmaxRaw(ctx, s, mask);
    s.dispose();
    const oh = matmul(ctx, p, vh); // [B*H, Lq, Dh]
    const out = mergeHeads(ctx, oh, B, Lq, heads, Dh);
    oh.dispose();
    return { qh, kh, vh, p, out };
  });
  const saved = [qh, kh, vh, p];
  const y = record(ctx, "attention", [q, k, v], out, (gOut) => {
    const go = split(gOut, Lq);
    const gv = v.requiresGrad ? merge(matmul(ctx, p, go, { transA: true }), Lk) : null;
    let gq: Tensor | null = null, gk: Tensor | null = null;
    if (q.requiresGrad || k.requiresGrad) {
      const gp = matmul(ctx, go, vh, { transB: true }); // [B*H, Lq, Lk]
      const gs = softmaxBackwardRaw(ctx, p, gp, mask);
      gp.dispose();
      if (q.requiresGrad) gq = merge(matmul(ctx, gs, kh), Lq);
      if (k.requiresGrad) gk = merge(matmul(ctx, gs, qh, { transA: true }), Lk);
      gs.dispose();
    }
    go.dispose();
    for (const t of saved) t.dispose();
    return [gq, gk, gv];
  });
  // Not recorded: nothing will read the saved tensors again.
  if (!y.creator) { for (const t of saved) t.dispose(); }
  return y;

  function merge(h: Tensor, L: number): Tensor {
    const m = mergeHeads(ctx, h, B, L, heads, Dh);
    h.dispose();
    return m;
  }
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
