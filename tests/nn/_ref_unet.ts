// Float64 reference UNet2DConditionModel, written from diffusers' forward code and looked up by
// diffusers parameter names; shares nothing with lib/nn except the config object.
import { timestepEmbeddingRef } from "../../lib/ref/layers.ts";
import type { Nd } from "../../lib/ref/nd.ts";
import type { RV } from "../../lib/ref/unet.ts";
import type { UNetConfig } from "../../lib/nn/unet_config.ts";
import { refGroupNorm, refLayerNorm, refLinear, type RefParams, refTransformer2D } from "./_ref_model.ts";

export function refConv(P: RefParams, name: string, x: RV, stride: 1 | 2 = 1): RV {
  const w = P.get(`${name}.weight`);
  return P.T.conv2d(x, w, P.maybe(`${name}.bias`), stride, Math.floor(w.shape[2] / 2));
}

export function refResnet(P: RefParams, name: string, x: RV, temb: RV, c: UNetConfig, outScale = 1): RV {
  const T = P.T;
  let h = refConv(
    P,
    `${name}.conv1`,
    T.unary("silu", refGroupNorm(P, `${name}.norm1`, x, c.norm_num_groups, c.norm_eps)),
  );
  const t = refLinear(P, `${name}.time_emb_proj`, T.unary("silu", temb));
  h = T.add(h, T.reshape(t, [t.shape[0], t.shape[1], 1, 1]));
  h = refConv(
    P,
    `${name}.conv2`,
    T.unary("silu", refGroupNorm(P, `${name}.norm2`, h, c.norm_num_groups, c.norm_eps)),
  );
  const skip = P.leaves.has(`${name}.conv_shortcut.weight`) ? refConv(P, `${name}.conv_shortcut`, x) : x;
  const out = T.add(skip, h);
  return outScale === 1 ? out : T.scale(out, 1 / outScale);
}

/**
 * diffusers' AttentionPooling.forward, step by step (no lib attention op): x [B, L, D] -> [B, D].
 *   class_token = x.mean(1, keepdim) + positional_embedding;  x = cat([class_token, x], 1)
 *   q, k, v per head (bs*n_heads, ., dim_per_head); weight = softmax((q * s) (k * s)^T), s = Dh^-1/4
 *   a = weight v, heads merged back in head-major channel order (channel = head * Dh + d).
 */
export function refAttentionPooling(P: RefParams, name: string, x: RV, heads: number): RV {
  const T = P.T;
  const [B, L, D] = x.shape, Dh = D / heads;
  const cls = T.add(T.scale(T.sum(x, [1], true), 1 / L), P.get(`${name}.positional_embedding`));
  const seq = T.concat([cls, x], 1); // [B, L+1, D]
  // (bs, len, width) -> (bs, n_heads, len, dim_per_head), as diffusers' shape() (batched over bs*n_heads).
  const split = (t: RV, len: number) => T.permute(T.reshape(t, [B, len, heads, Dh]), [0, 2, 1, 3]);
  const s = 1 / Math.sqrt(Math.sqrt(Dh));
  const q = T.reshape(T.scale(split(refLinear(P, `${name}.q_proj`, cls), 1), s), [B * heads, 1, Dh]);
  const k = T.reshape(T.scale(split(refLinear(P, `${name}.k_proj`, seq), L + 1), s), [B * heads, L + 1, Dh]);
  const v = T.reshape(split(refLinear(P, `${name}.v_proj`, seq), L + 1), [B * heads, L + 1, Dh]);
  const weight = T.softmax(T.matmul(q, k, false, true)); // [B*H, 1, L+1]
  return T.reshape(T.matmul(weight, v), [B, D]); // [B*H, 1, Dh] -> [B, H*Dh]
}

/** diffusers' TextTimeEmbedding.forward: norm1 -> pool -> proj -> norm2. hidden [B, L, D] -> [B, E]. */
export function refTextTimeEmbedding(P: RefParams, name: string, hidden: RV, heads: number): RV {
  const pooled = refAttentionPooling(P, `${name}.pool`, refLayerNorm(P, `${name}.norm1`, hidden), heads);
  return refLayerNorm(P, `${name}.norm2`, refLinear(P, `${name}.proj`, pooled));
}

/** emb = time_embedding(time_proj(t)) [+ add_embedding(hidden) when addition_embed_type is "text"]. */
export function refEmbedding(P: RefParams, c: UNetConfig, timesteps: number[], hidden: RV): RV {
  const T = P.T;
  const tp = T.leaf(timestepEmbeddingRef(timesteps, c.block_out_channels[0], {
    flipSinToCos: c.flip_sin_to_cos,
    freqShift: c.freq_shift,
  }));
  const emb = refLinear(
    P,
    "time_embedding.linear_2",
    T.unary("silu", refLinear(P, "time_embedding.linear_1", tp)),
  );
  if (c.addition_embed_type !== "text") return emb;
  return T.add(emb, refTextTimeEmbedding(P, "add_embedding", hidden, c.addition_embed_type_num_heads));
}

/** diffusers UNet2DConditionModel.forward for the supported block types. */
export function refUNet(
  P: RefParams,
  c: UNetConfig,
  sample: RV,
  timesteps: number[],
  hidden: RV,
  mask?: Nd,
): RV {
  const T = P.T;
  const n = c.block_out_channels.length;
  const heads = (() => {
    const h = c.num_attention_heads ?? c.attention_head_dim;
    return Array.isArray(h) ? h : c.block_out_channels.map(() => h);
  })();
  const temb = refEmbedding(P, c, timesteps, hidden);
  let h = refConv(P, "conv_in", sample);
  const skips: RV[] = [h];
  c.down_block_types.forEach((type, i) => {
    for (let j = 0; j < c.layers_per_block; j++) {
      h = refResnet(P, `down_blocks.${i}.resnets.${j}`, h, temb, c);
      if (type === "CrossAttnDownBlock2D") {
        h = refTransformer2D(
          P,
          `down_blocks.${i}.attentions.${j}`,
          h,
          hidden,
          heads[i],
          c.norm_num_groups,
          mask,
        );
      }
      skips.push(h);
    }
    if (i < n - 1) {
      h = refConv(P, `down_blocks.${i}.downsamplers.0.conv`, h, 2);
      skips.push(h);
    }
  });
  h = refResnet(P, "mid_block.resnets.0", h, temb, c, c.mid_block_scale_factor);
  h = refTransformer2D(P, "mid_block.attentions.0", h, hidden, heads[n - 1], c.norm_num_groups, mask);
  h = refResnet(P, "mid_block.resnets.1", h, temb, c, c.mid_block_scale_factor);
  const rheads = [...heads].reverse();
  c.up_block_types.forEach((type, i) => {
    for (let j = 0; j < c.layers_per_block + 1; j++) {
      h = refResnet(P, `up_blocks.${i}.resnets.${j}`, T.concat([h, skips.pop()!], 1), temb, c);
      if (type === "CrossAttnUpBlock2D") {
        h = refTransformer2D(
          P,
          `up_blocks.${i}.attentions.${j}`,
          h,
          hidden,
          rheads[i],
          c.norm_num_groups,
          mask,
        );
      }
    }
    if (i < n - 1) h = refConv(P, `up_blocks.${i}.upsamplers.0.conv`, T.upsample2x(h));
  });
  const out = T.unary("silu", refGroupNorm(P, "conv_norm_out", h, c.norm_num_groups, c.norm_eps));
  return refConv(P, "conv_out", out);
}
