// Float64 reference of AnimateDiff's motion module (diffusers' AnimateDiffTransformer3D with its
// BasicTransformerBlock: double self-attention over frames, sinusoidal frame positions, GEGLU
// feed-forward), composed on the RefTape of lib/ref/unet.ts and written from diffusers' forward code,
// independently of lib/nn. Parameters are looked up by their diffusers names.
import type { Nd } from "./nd.ts";
import type { RefTape, RV } from "./unet.ts";

/** Parameter lookup by dotted name (tests/nn/_ref_model.ts's RefParams fits this). */
export interface RefLookup {
  readonly T: RefTape;
  get(name: string): RV;
  maybe(name: string): RV | null;
}

/** diffusers' SinusoidalPositionalEmbedding.pe[0, :frames]: [frames, dim]. */
export function sinusoidalPositionsRef(frames: number, dim: number): Nd {
  const data = new Float64Array(frames * dim);
  // div_term = exp(arange(0, dim, 2) * (-ln(10000) / dim)); pe[:, 0::2] = sin, pe[:, 1::2] = cos
  for (let p = 0; p < frames; p++) {
    for (let k = 0; k < dim; k += 2) {
      const w = Math.exp(k * (-Math.log(10000) / dim));
      data[p * dim + k] = Math.sin(p * w);
      if (k + 1 < dim) data[p * dim + k + 1] = Math.cos(p * w);
    }
  }
  return { data, shape: [frames, dim] };
}

function lin(P: RefLookup, name: string, x: RV): RV {
  return P.T.linear(x, P.get(`${name}.weight`), P.maybe(`${name}.bias`));
}

function ln(P: RefLookup, name: string, x: RV): RV {
  return P.T.layerNorm(x, P.get(`${name}.weight`), P.get(`${name}.bias`), 1e-5);
}

function selfAttention(P: RefLookup, name: string, x: RV, heads: number): RV {
  const q = lin(P, `${name}.to_q`, x), k = lin(P, `${name}.to_k`, x), v = lin(P, `${name}.to_v`, x);
  return lin(P, `${name}.to_out.0`, P.T.attention(q, k, v, heads));
}

/** BasicTransformerBlock (pos_embed sinusoidal, double_self_attention): x [N, F, D] -> [N, F, D]. */
export function refTemporalBlock(P: RefLookup, name: string, x: RV, heads: number): RV {
  const T = P.T;
  const [N, F, D] = x.shape;
  // The [F, D] table tiled over N (pe is a constant: its gradient is never read).
  const pe = sinusoidalPositionsRef(F, D);
  const tiled = new Float64Array(N * F * D);
  for (let i = 0; i < N; i++) tiled.set(pe.data, i * F * D);
  const pos = T.leaf({ data: tiled, shape: [N, F, D] });
  let h = T.add(selfAttention(P, `${name}.attn1`, T.add(ln(P, `${name}.norm1`, x), pos), heads), x);
  h = T.add(selfAttention(P, `${name}.attn2`, T.add(ln(P, `${name}.norm2`, h), pos), heads), h);
  const ff = lin(P, `${name}.ff.net.2`, T.geglu(lin(P, `${name}.ff.net.0.proj`, ln(P, `${name}.norm3`, h))));
  return T.add(ff, h);
}

/**
 * AnimateDiffTransformer3D.forward: x [B*F, C, H, W] (hidden_states with num_frames = F) -> same.
 *   [B, F, C, H, W] -> [B, C, F, H, W] -> GroupNorm(groups, eps 1e-6) -> [B*H*W, F, C] -> proj_in
 *   -> transformer blocks -> proj_out -> [B, F, C, H, W] -> + x
 */
export function refMotionModule(
  P: RefLookup,
  name: string,
  x: RV,
  frames: number,
  heads: number,
  groups: number,
): RV {
  const T = P.T;
  const [BF, C, H, W] = x.shape;
  const B = BF / frames;
  let h = T.permute(T.reshape(x, [B, frames, C, H, W]), [0, 2, 1, 3, 4]);
  h = T.groupNorm(h, P.get(`${name}.norm.weight`), P.get(`${name}.norm.bias`), groups, 1e-6);
  h = T.reshape(T.permute(h, [0, 3, 4, 2, 1]), [B * H * W, frames, C]);
  h = lin(P, `${name}.proj_in`, h);
  for (let i = 0; P.maybe(`${name}.transformer_blocks.${i}.norm1.weight`); i++) {
    h = refTemporalBlock(P, `${name}.transformer_blocks.${i}`, h, heads);
  }
  h = lin(P, `${name}.proj_out`, h);
  h = T.permute(T.reshape(h, [B, H, W, frames, C]), [0, 3, 4, 1, 2]);
  return T.add(T.reshape(h, [BF, C, H, W]), x);
}
