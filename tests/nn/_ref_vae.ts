// Float64 reference AutoencoderKL, written from diffusers' Encoder / Decoder / Attention forward code
// and looked up by diffusers parameter names; shares nothing with lib/nn except the config object.
import { ndZeros } from "../../lib/ref/nd.ts";
import type { RV } from "../../lib/ref/unet.ts";
import type { VaeConfig } from "../../lib/nn/vae.ts";
import { refGroupNorm, refLinear, type RefParams } from "./_ref_model.ts";

function conv(P: RefParams, name: string, x: RV, stride = 1, padding?: number): RV {
  const w = P.get(`${name}.weight`);
  return P.T.conv2d(x, w, P.maybe(`${name}.bias`), stride, padding ?? Math.floor(w.shape[2] / 2));
}

/** ResnetBlock2D with temb_channels=None, eps 1e-6. */
function resnet(P: RefParams, name: string, x: RV, g: number): RV {
  const T = P.T;
  let h = conv(P, `${name}.conv1`, T.unary("silu", refGroupNorm(P, `${name}.norm1`, x, g, 1e-6)));
  h = conv(P, `${name}.conv2`, T.unary("silu", refGroupNorm(P, `${name}.norm2`, h, g, 1e-6)));
  const skip = P.leaves.has(`${name}.conv_shortcut.weight`) ? conv(P, `${name}.conv_shortcut`, x) : x;
  return T.add(skip, h);
}

/** Attention(heads=1, bias=True, group_norm, residual_connection) on [B, C, H, W]. */
function attention(P: RefParams, name: string, x: RV, g: number): RV {
  const T = P.T;
  const [B, C, H, W] = x.shape;
  const n = refGroupNorm(P, `${name}.group_norm`, x, g, 1e-6);
  const seq = T.permute(T.reshape(n, [B, C, H * W]), [0, 2, 1]); // view(B, C, HW).transpose(1, 2)
  const q = refLinear(P, `${name}.to_q`, seq), k = refLinear(P, `${name}.to_k`, seq);
  const v = refLinear(P, `${name}.to_v`, seq);
  const probs = T.softmax(T.scale(T.matmul(q, k, false, true), 1 / Math.sqrt(C))); // [B, HW, HW]
  const o = refLinear(P, `${name}.to_out.0`, T.matmul(probs, v));
  return T.add(T.reshape(T.permute(o, [0, 2, 1]), [B, C, H, W]), x);
}

function mid(P: RefParams, name: string, x: RV, c: VaeConfig): RV {
  let h = resnet(P, `${name}.resnets.0`, x, c.norm_num_groups);
  if (c.mid_block_add_attention) h = attention(P, `${name}.attentions.0`, h, c.norm_num_groups);
  return resnet(P, `${name}.resnets.1`, h, c.norm_num_groups);
}

/** AutoencoderKL.encode(x).latent_dist parameters (before the logvar clamp): [B, 2C, h, w]. */
export function refVaeMoments(P: RefParams, c: VaeConfig, x: RV): RV {
  const T = P.T, g = c.norm_num_groups, n = c.block_out_channels.length;
  let h = conv(P, "encoder.conv_in", x);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c.layers_per_block; j++) h = resnet(P, `encoder.down_blocks.${i}.resnets.${j}`, h, g);
    if (i < n - 1) {
      // Downsample2D(padding=0): F.pad(h, (0, 1, 0, 1)) then a stride-2 conv without padding.
      const [B, C, H, W] = h.shape;
      h = T.concat([h, T.leaf(ndZeros([B, C, H, 1]))], 3);
      h = T.concat([h, T.leaf(ndZeros([B, C, 1, W + 1]))], 2);
      h = conv(P, `encoder.down_blocks.${i}.downsamplers.0.conv`, h, 2, 0);
    }
  }
  h = mid(P, "encoder.mid_block", h, c);
  h = conv(P, "encoder.conv_out", T.unary("silu", refGroupNorm(P, "encoder.conv_norm_out", h, g, 1e-6)));
  return c.use_quant_conv ? conv(P, "quant_conv", h) : h;
}

/** AutoencoderKL.decode(z).sample: [B, C, h, w] -> [B, out, H, W]. */
export function refVaeDecode(P: RefParams, c: VaeConfig, z: RV): RV {
  const T = P.T, g = c.norm_num_groups, n = c.block_out_channels.length;
  let h = conv(P, "decoder.conv_in", c.use_post_quant_conv ? conv(P, "post_quant_conv", z) : z);
  h = mid(P, "decoder.mid_block", h, c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= c.layers_per_block; j++) h = resnet(P, `decoder.up_blocks.${i}.resnets.${j}`, h, g);
    if (i < n - 1) h = conv(P, `decoder.up_blocks.${i}.upsamplers.0.conv`, T.upsample2x(h));
  }
  return conv(P, "decoder.conv_out", T.unary("silu", refGroupNorm(P, "decoder.conv_norm_out", h, g, 1e-6)));
}
