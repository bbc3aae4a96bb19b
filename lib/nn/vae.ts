// diffusers' AutoencoderKL (SD's VAE) with its parameter names and config keys:
//   encode: encoder (conv_in, DownEncoderBlock2D x n, mid block with one attention, norm, conv_out to
//           2 * latent channels) -> quant_conv -> moments [B, 2C, h, w] = [mean ; logvar]
//   decode: post_quant_conv -> decoder (conv_in, mid block, UpDecoderBlock2D x n, norm, conv_out)
// h = H / 2^(n-1). SD feeds the UNet scaling_factor * (z - shift_factor) and decodes latents /
// scaling_factor + shift_factor. Every norm here has eps 1e-6 (diffusers hard-codes it for the VAE).
import type { GpuContext } from "../gpu/context.ts";
import { attention } from "../ops/attention.ts";
import { add } from "../ops/binary.ts";
import { concat, filled, permute, reshape, slice } from "../ops/copy.ts";
import { scale } from "../ops/scale.ts";
import { exp, relu, silu } from "../ops/unary.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Conv2d, Upsample2D } from "./conv.ts";
import { GroupNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";
import { ResnetBlock2D } from "./resnet.ts";

/** diffusers' AutoencoderKL config keys (those that shape the computation). */
export interface VaeConfig {
  in_channels: number;
  out_channels: number;
  down_block_types: "DownEncoderBlock2D"[];
  up_block_types: "UpDecoderBlock2D"[];
  block_out_channels: number[];
  layers_per_block: number;
  act_fn: "silu";
  latent_channels: number;
  norm_num_groups: number;
  /** Pixel size the model was trained at (informational; any multiple of the downsampling works). */
  sample_size: number;
  scaling_factor: number;
  /** SD3-style latent offset; null (SD-1.x / SD-2 / SDXL) means 0. */
  shift_factor: number | null;
  use_quant_conv: boolean;
  use_post_quant_conv: boolean;
  mid_block_add_attention: boolean;
}

/** SD-1.5's VAE (stabilityai/sd-vae-ft-mse config). */
export const SD_VAE: VaeConfig = {
  in_channels: 3,
  out_channels: 3,
  down_block_types: ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
  up_block_types: ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  act_fn: "silu",
  latent_channels: 4,
  norm_num_groups: 32,
  sample_size: 512,
  scaling_factor: 0.18215,
  shift_factor: null,
  use_quant_conv: true,
  use_post_quant_conv: true,
  mid_block_add_attention: true,
};

// Accepted only at the value modelled: per-channel latent statistics (latents_mean/std, used by some
// SDXL-derived models) are not applied. force_upcast only matters for f16 runs (everything is f32 here).
const VAE_FIXED: Record<string, unknown> = { latents_mean: null, latents_std: null };
const VAE_IGNORED = new Set(["force_upcast"]);

/** A diffusers AutoencoderKL config.json over SD-1.5's VAE, validated; errors name `where` and the key. */
export function vaeConfig(raw: Record<string, unknown>, where = "vae config"): VaeConfig {
  const c: Record<string, unknown> = { ...SD_VAE };
  for (const [k, v] of Object.entries(raw)) {
    if (k.startsWith("_") || VAE_IGNORED.has(k)) continue;
    if (k in VAE_FIXED) {
      if (JSON.stringify(v) !== JSON.stringify(VAE_FIXED[k])) {
        throw new Error(`${where}: ${k} = ${JSON.stringify(v)} is not supported (only null)`);
      }
      continue;
    }
    if (!(k in SD_VAE)) throw new Error(`${where}: unknown key ${k} = ${JSON.stringify(v)}`);
    c[k] = v;
  }
  const t = c as unknown as VaeConfig;
  const bad = (k: keyof VaeConfig, why: string): never => {
    throw new Error(`${where}: ${k} = ${JSON.stringify(t[k])} ${why}`);
  };
  for (
    const k of [
      "in_channels",
      "out_channels",
      "layers_per_block",
      "latent_channels",
      "norm_num_groups",
    ] as const
  ) {
    if (!Number.isInteger(t[k]) || t[k] < 1) bad(k, "must be a positive integer");
  }
  const n = Array.isArray(t.block_out_channels) ? t.block_out_channels.length : 0;
  if (!n || t.block_out_channels.some((ch) => !Number.isInteger(ch) || ch % t.norm_num_groups !== 0)) {
    bad("block_out_channels", `must be positive multiples of norm_num_groups ${t.norm_num_groups}`);
  }
  if (!Array.isArray(t.down_block_types) || t.down_block_types.length !== n) {
    bad("down_block_types", `must list ${n} blocks`);
  }
  if (t.down_block_types.some((b) => b !== "DownEncoderBlock2D")) {
    bad("down_block_types", "are not all DownEncoderBlock2D");
  }
  if (!Array.isArray(t.up_block_types) || t.up_block_types.length !== n) {
    bad("up_block_types", `must list ${n} blocks`);
  }
  if (t.up_block_types.some((b) => b !== "UpDecoderBlock2D")) {
    bad("up_block_types", "are not all UpDecoderBlock2D");
  }
  if (t.act_fn !== "silu") bad("act_fn", "is not silu");
  if (!(typeof t.scaling_factor === "number" && t.scaling_factor > 0)) bad("scaling_factor", "must be > 0");
  if (t.shift_factor !== null && typeof t.shift_factor !== "number") {
    bad("shift_factor", "must be a number or null");
  }
  for (const k of ["use_quant_conv", "use_post_quant_conv", "mid_block_add_attention"] as const) {
    if (typeof t[k] !== "boolean") bad(k, "must be true or false");
  }
  return t;
}

/** The config.json diffusers' AutoencoderKL.from_pretrained reads (every key, sorted). */
export function vaeConfigJson(c: VaeConfig): Record<string, unknown> {
  const all: Record<string, unknown> = { ...c, force_upcast: true, latents_mean: null, latents_std: null };
  const out: Record<string, unknown> = { _class_name: "AutoencoderKL", _diffusers_version: "0.30.3" };
  for (const k of Object.keys(all).sort()) out[k] = all[k];
  return out;
}

/**
 * The VAE mid block's attention (diffusers' Attention with group_norm, one head of all channels,
 * biased projections, residual): x [B, C, H, W] -> x + to_out(attn(group_norm(x))).
 */
export class VaeAttention extends Module {
  readonly group_norm: GroupNorm;
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: Linear;

  constructor(init: Init, readonly channels: number, groups: number) {
    super(init);
    this.group_norm = this.sub(new GroupNorm(this.at("group_norm"), groups, channels, 1e-6));
    this.to_q = this.sub(new Linear(this.at("to_q"), channels, channels));
    this.to_k = this.sub(new Linear(this.at("to_k"), channels, channels));
    this.to_v = this.sub(new Linear(this.at("to_v"), channels, channels));
    this.to_out = this.sub(new Linear(this.at("to_out.0"), channels, channels));
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    const [B, C, H, W] = x.shape;
    const seq = reshape(ctx, permute(ctx, this.group_norm.forward(ctx, x), [0, 2, 3, 1]), [B, H * W, C]);
    const q = this.to_q.forward(ctx, seq), k = this.to_k.forward(ctx, seq), v = this.to_v.forward(ctx, seq);
    const o = this.to_out.forward(ctx, attention(ctx, q, k, v, 1)); // [B, HW, C]
    return add(ctx, permute(ctx, reshape(ctx, o, [B, H, W, C]), [0, 3, 1, 2]), x);
  }
}

/** UNetMidBlock2D as the VAE builds it: resnet, attention (optional), resnet. */
class VaeMidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attention: VaeAttention | null;

  constructor(init: Init, ch: number, groups: number, withAttention: boolean) {
    super(init);
    const o = { groups, eps: 1e-6, tembChannels: null };
    const r0 = this.sub(new ResnetBlock2D(this.at("resnets.0"), ch, ch, o));
    this.attention = withAttention ? this.sub(new VaeAttention(this.at("attentions.0"), ch, groups)) : null;
    this.resnets = [r0, this.sub(new ResnetBlock2D(this.at("resnets.1"), ch, ch, o))];
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    let h = this.resnets[0].forward(ctx, x, null);
    if (this.attention) h = this.attention.forward(ctx, h);
    return this.resnets[1].forward(ctx, h, null);
  }
}

/**
 * diffusers' Downsample2D with padding 0 (the VAE encoder's): zero-pad one row at the bottom and one
 * column on the right, then a 3x3 stride-2 conv. [B, C, H, W] -> [B, C, H/2, W/2] (H, W even).
 */
class EncoderDownsample extends Module {
  readonly conv: Conv2d;

  constructor(init: Init, channels: number) {
    super(init);
    this.conv = this.sub(new Conv2d(this.at("conv"), channels, channels, 3, 2, 0));
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    const [B, C, H, W] = x.shape;
    const right = concat(ctx, [x, filled(ctx, [B, C, H, 1], 0)], 3);
    const padded = concat(ctx, [right, filled(ctx, [B, C, 1, W + 1], 0)], 2);
    return this.conv.forward(ctx, padded);
  }
}

class EncoderBlock extends Module {
  readonly resnets: ResnetBlock2D[] = [];
  readonly downsampler: EncoderDownsample | null;

  constructor(init: Init, inCh: number, outCh: number, layers: number, groups: number, down: boolean) {
    super(init);
    const o = { groups, eps: 1e-6, tembChannels: null };
    for (let i = 0; i < layers; i++) {
      this.resnets.push(this.sub(new ResnetBlock2D(this.at(`resnets.${i}`), i ? outCh : inCh, outCh, o)));
    }
    this.downsampler = down ? this.sub(new EncoderDownsample(this.at("downsamplers.0"), outCh)) : null;
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    let h = x;
    for (const r of this.resnets) h = r.forward(ctx, h, null);
    return this.downsampler ? this.downsampler.forward(ctx, h) : h;
  }
}

class DecoderBlock extends Module {
  readonly resnets: ResnetBlock2D[] = [];
  readonly upsampler: Upsample2D | null;

  constructor(init: Init, inCh: number, outCh: number, layers: number, groups: number, up: boolean) {
    super(init);
    const o = { groups, eps: 1e-6, tembChannels: null };
    for (let i = 0; i < layers; i++) {
      this.resnets.push(this.sub(new ResnetBlock2D(this.at(`resnets.${i}`), i ? outCh : inCh, outCh, o)));
    }
    this.upsampler = up ? this.sub(new Upsample2D(this.at("upsamplers.0"), outCh)) : null;
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    let h = x;
    for (const r of this.resnets) h = r.forward(ctx, h, null);
    return this.upsampler ? this.upsampler.forward(ctx, h) : h;
  }
}

/** The encoder or decoder trunk (conv_in, blocks, mid block, conv_norm_out, conv_out). */
class Coder extends Module {
  readonly conv_in: Conv2d;
  readonly blocks: (EncoderBlock | DecoderBlock)[] = [];
  readonly mid_block: VaeMidBlock;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(init: Init, c: VaeConfig, readonly kind: "encoder" | "decoder") {
    super(init);
    const ch = c.block_out_channels, n = ch.length, g = c.norm_num_groups;
    const top = ch[n - 1];
    if (kind === "encoder") {
      this.conv_in = this.sub(new Conv2d(this.at("conv_in"), c.in_channels, ch[0], 3));
      ch.forEach((out, i) => {
        const inCh = i ? ch[i - 1] : ch[0];
        this.blocks.push(
          this.sub(
            new EncoderBlock(this.at(`down_blocks.${i}`), inCh, out, c.layers_per_block, g, i < n - 1),
          ),
        );
      });
      this.mid_block = this.sub(new VaeMidBlock(this.at("mid_block"), top, g, c.mid_block_add_attention));
      this.conv_norm_out = this.sub(new GroupNorm(this.at("conv_norm_out"), g, top, 1e-6));
      this.conv_out = this.sub(new Conv2d(this.at("conv_out"), top, 2 * c.latent_channels, 3));
    } else {
      this.conv_in = this.sub(new Conv2d(this.at("conv_in"), c.latent_channels, top, 3));
      this.mid_block = this.sub(new VaeMidBlock(this.at("mid_block"), top, g, c.mid_block_add_attention));
      const rch = [...ch].reverse();
      rch.forEach((out, i) => {
        const inCh = i ? rch[i - 1] : rch[0];
        this.blocks.push(
          this.sub(
            new DecoderBlock(this.at(`up_blocks.${i}`), inCh, out, c.layers_per_block + 1, g, i < n - 1),
          ),
        );
      });
      this.conv_norm_out = this.sub(new GroupNorm(this.at("conv_norm_out"), g, ch[0], 1e-6));
      this.conv_out = this.sub(new Conv2d(this.at("conv_out"), ch[0], c.out_channels, 3));
    }
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    let h = this.conv_in.forward(ctx, x);
    if (this.kind === "encoder") {
      for (const b of this.blocks) h = b.forward(ctx, h);
      h = this.mid_block.forward(ctx, h);
    } else {
      h = this.mid_block.forward(ctx, h);
      for (const b of this.blocks) h = b.forward(ctx, h);
    }
    return this.conv_out.forward(ctx, silu(ctx, this.conv_norm_out.forward(ctx, h)));
  }
}

/** The encoder's latent distribution: mean and logvar (clamped to [-30, 20] as diffusers), [B, C, h, w]. */
export interface LatentDist {
  mean: Tensor;
  logvar: Tensor;
}

export class AutoencoderKL extends Module {
  readonly config: VaeConfig;
  readonly encoder: Coder;
  readonly decoder: Coder;
  readonly quant_conv: Conv2d | null;
  readonly post_quant_conv: Conv2d | null;

  constructor(init: Init, config: VaeConfig) {
    super(init);
    const c = this.config = config;
    const L = c.latent_channels;
    this.encoder = this.sub(new Coder(this.at("encoder"), c, "encoder"));
    this.decoder = this.sub(new Coder(this.at("decoder"), c, "decoder"));
    this.quant_conv = c.use_quant_conv ? this.sub(new Conv2d(this.at("quant_conv"), 2 * L, 2 * L, 1)) : null;
    this.post_quant_conv = c.use_post_quant_conv
      ? this.sub(new Conv2d(this.at("post_quant_conv"), L, L, 1))
      : null;
  }

  /** Pixels per latent along each axis (8 for SD). */
  get downscale(): number {
    return 2 ** (this.config.block_out_channels.length - 1);
  }

  /** x: [B, in_channels, H, W] in [-1, 1] -> the latent distribution, [B, latent_channels, H/f, W/f] each. */
  encode(ctx: GpuContext, x: Tensor): LatentDist {
    const [, C, H, W] = x.shape;
    const f = this.downscale;
    if (x.shape.length !== 4 || C !== this.config.in_channels || H % f || W % f) {
      throw new Error(
        `vae: input ${x.describe()} is not [B, ${this.config.in_channels}, H, W] with H, W multiples of ${f}`,
      );
    }
    let m = this.encoder.forward(ctx, x);
    if (this.quant_conv) m = this.quant_conv.forward(ctx, m);
    const L = this.config.latent_channels;
    const mean = slice(ctx, m, 1, 0, L), raw = slice(ctx, m, 1, L, 2 * L);
    // clamp(logvar, -30, 20) = x - relu(x - 20) + relu(-30 - x)
    const hi = relu(ctx, scale(ctx, raw, 1, -20)), lo = relu(ctx, scale(ctx, raw, -1, -30));
    const logvar = add(ctx, add(ctx, raw, scale(ctx, hi, -1)), lo);
    return { mean, logvar };
  }

  /** exp(0.5 * logvar): the latent standard deviation. */
  std(ctx: GpuContext, d: LatentDist): Tensor {
    return exp(ctx, scale(ctx, d.logvar, 0.5));
  }

  /** Pixels -> what the UNet sees: scaling_factor * (mean - shift_factor). [B, 3, H, W] -> [B, C, h, w]. */
  encodeLatents(ctx: GpuContext, x: Tensor): Tensor {
    const { mean } = this.encode(ctx, x);
    const c = this.config;
    return scale(ctx, mean, c.scaling_factor, -c.scaling_factor * (c.shift_factor ?? 0));
  }

  /** z: [B, latent_channels, h, w] (unscaled latents) -> image [B, out_channels, h f, w f], unclamped. */
  decode(ctx: GpuContext, z: Tensor): Tensor {
    if (z.shape.length !== 4 || z.shape[1] !== this.config.latent_channels) {
      throw new Error(`vae: latents ${z.describe()} are not [B, ${this.config.latent_channels}, h, w]`);
    }
    return this.decoder.forward(ctx, this.post_quant_conv ? this.post_quant_conv.forward(ctx, z) : z);
  }

  /** What the UNet produced -> pixels: decode(latents / scaling_factor + shift_factor). */
  decodeLatents(ctx: GpuContext, latents: Tensor): Tensor {
    const c = this.config;
    return this.decode(ctx, scale(ctx, latents, 1 / c.scaling_factor, c.shift_factor ?? 0));
  }
}

/**
 * Original-format attention names in older VAE checkpoints (SD-1.x's conversion left
 * query/key/value/proj_attn, as 1x1 conv or linear weights) -> diffusers' current ones, as
 * diffusers' _convert_deprecated_attention_blocks does on load.
 */
export function vaeCurrentNames(name: string): string {
  return name.replace(/\.attentions\.0\.query\./, ".attentions.0.to_q.")
    .replace(/\.attentions\.0\.key\./, ".attentions.0.to_k.")
    .replace(/\.attentions\.0\.value\./, ".attentions.0.to_v.")
    .replace(/\.attentions\.0\.proj_attn\./, ".attentions.0.to_out.0.");
}
