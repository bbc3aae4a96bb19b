// Float64 reference modules, composed on lib/ref/unet.ts's tape from parameters looked up by their
// diffusers / transformers names (independently of lib/nn, so naming mistakes show up as missing keys).
import type { Nd } from "../../lib/ref/nd.ts";
import { RefTape, type RV } from "../../lib/ref/unet.ts";

export class RefParams {
  readonly leaves = new Map<string, RV>();
  readonly used = new Set<string>();
  constructor(readonly T: RefTape, values: Map<string, Nd>) {
    for (const [k, v] of values) this.leaves.set(k, T.leaf(v));
  }
  get(name: string): RV {
    const r = this.leaves.get(name);
    if (!r) throw new Error(`reference model: no parameter ${name}`);
    this.used.add(name);
    return r;
  }
  maybe(name: string): RV | null {
    return this.leaves.has(name) ? this.get(name) : null;
  }
}

export function refLinear(P: RefParams, name: string, x: RV): RV {
  return P.T.linear(x, P.get(`${name}.weight`), P.maybe(`${name}.bias`));
}

export function refLayerNorm(P: RefParams, name: string, x: RV, eps = 1e-5): RV {
  return P.T.layerNorm(x, P.get(`${name}.weight`), P.get(`${name}.bias`), eps);
}

export function refGroupNorm(P: RefParams, name: string, x: RV, groups: number, eps: number): RV {
  return P.T.groupNorm(x, P.get(`${name}.weight`), P.get(`${name}.bias`), groups, eps);
}

export function refAttention(P: RefParams, name: string, x: RV, c: RV | null, heads: number, mask?: Nd): RV {
  const src = c ?? x;
  const q = refLinear(P, `${name}.to_q`, x), k = refLinear(P, `${name}.to_k`, src);
  const v = refLinear(P, `${name}.to_v`, src);
  return refLinear(P, `${name}.to_out.0`, P.T.attention(q, k, v, heads, mask ? { keyMask: mask } : {}));
}

export function refBasicBlock(P: RefParams, name: string, x: RV, c: RV, heads: number, mask?: Nd): RV {
  const T = P.T;
  let h = T.add(refAttention(P, `${name}.attn1`, refLayerNorm(P, `${name}.norm1`, x), null, heads), x);
  h = T.add(refAttention(P, `${name}.attn2`, refLayerNorm(P, `${name}.norm2`, h), c, heads, mask), h);
  const ff = refLinear(
    P,
    `${name}.ff.net.2`,
    T.geglu(refLinear(P, `${name}.ff.net.0.proj`, refLayerNorm(P, `${name}.norm3`, h))),
  );
  return T.add(ff, h);
}

/** x: [B, C, H, W]; proj_in/out either Linear or 1x1 conv weights (both reshape to [O, I]). */
export function refTransformer2D(
  P: RefParams,
  name: string,
  x: RV,
  c: RV,
  heads: number,
  groups: number,
  mask?: Nd,
): RV {
  const T = P.T;
  const [B, C, H, W] = x.shape;
  const n = refGroupNorm(P, `${name}.norm`, x, groups, 1e-6);
  let h = refLinear(P, `${name}.proj_in`, T.reshape(T.permute(n, [0, 2, 3, 1]), [B, H * W, C]));
  h = refBasicBlock(P, `${name}.transformer_blocks.0`, h, c, heads, mask);
  h = refLinear(P, `${name}.proj_out`, h);
  return T.add(T.permute(T.reshape(h, [B, H, W, C]), [0, 3, 1, 2]), x);
}

export interface RefTextConfig {
  layers: number;
  heads: number;
  eps: number;
}

/** CLIP-like encoder from one-hot ids: ids [B][L] -> [B, L, D]. */
export function refTextEncoder(P: RefParams, ids: number[][], c: RefTextConfig): RV {
  const T = P.T;
  const table = P.get("text_model.embeddings.token_embedding.weight");
  const [V, D] = table.shape;
  const B = ids.length, L = ids[0].length;
  const oh = new Float64Array(B * L * V);
  ids.forEach((row, b) => row.forEach((id, j) => oh[(b * L + j) * V + id] = 1));
  const tok = T.matmul(T.leaf({ data: oh, shape: [B * L, V] }), table);
  const pos = T.slice(P.get("text_model.embeddings.position_embedding.weight"), 0, 0, L);
  let h = T.add(T.reshape(tok, [B, L, D]), pos);
  for (let i = 0; i < c.layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    const n = refLayerNorm(P, `${p}.layer_norm1`, h, c.eps);
    const q = refLinear(P, `${p}.self_attn.q_proj`, n), k = refLinear(P, `${p}.self_attn.k_proj`, n);
    const v = refLinear(P, `${p}.self_attn.v_proj`, n);
    h = T.add(refLinear(P, `${p}.self_attn.out_proj`, T.attention(q, k, v, c.heads, { causal: true })), h);
    const m = refLinear(P, `${p}.mlp.fc1`, refLayerNorm(P, `${p}.layer_norm2`, h, c.eps));
    h = T.add(refLinear(P, `${p}.mlp.fc2`, T.unary("gelu", m)), h);
  }
  return refLayerNorm(P, "text_model.final_layer_norm", h, c.eps);
}

export { RefTape };
