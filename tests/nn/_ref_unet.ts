// Float64 reference UNet2DConditionModel, written from diffusers' forward code and looked up by
// diffusers parameter names; shares nothing with lib/nn except the config object.
import { timestepEmbeddingRef } from "../../lib/ref/layers.ts";
import type { Nd } from "../../lib/ref/nd.ts";
import type { RV } from "../../lib/ref/unet.ts";
import type { UNetConfig } from "../../lib/nn/unet_config.ts";
import { refGroupNorm, refLinear, type RefParams, refTransformer2D } from "./_ref_model.ts";

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
  const tp = T.leaf(timestepEmbeddingRef(timesteps, c.block_out_channels[0], {
    flipSinToCos: c.flip_sin_to_cos,
    freqShift: c.freq_shift,
  }));
  const temb = refLinear(
    P,
    "time_embedding.linear_2",
    T.unary("silu", refLinear(P, "time_embedding.linear_1", tp)),
  );
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
