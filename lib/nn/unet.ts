// UNet2DConditionModel (diffusers layout and parameter names) for epsilon prediction:
//   temb = time_embedding(time_proj(t)) [+ add_embedding(encoder_hidden_states)];  h = conv_in(x)
//   down_blocks (collecting skips) -> mid_block -> up_blocks (consuming skips)
//   eps = conv_out(silu(conv_norm_out(h)))
import type { GpuContext } from "../gpu/context.ts";
import { add } from "../ops/binary.ts";
import { timestepEmbedding } from "../ops/embedding.ts";
import { silu } from "../ops/unary.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type BlockOptions, type Cond, DownBlock, MidBlock, UpBlock } from "./blocks.ts";
import { Conv2d } from "./conv.ts";
import { GroupNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";
import { TextTimeEmbedding } from "./text_time.ts";
import { headsPerBlock, type UNetConfig, unetConfig } from "./unet_config.ts";

/** time_embedding: linear_1 (C0 -> 4 C0), silu, linear_2 (4 C0 -> 4 C0). */
export class TimestepEmbedding extends Module {
  readonly linear_1: Linear;
  readonly linear_2: Linear;

  constructor(init: Init, inDim: number, dim: number) {
    super(init);
    this.linear_1 = this.sub(new Linear(this.at("linear_1"), inDim, dim));
    this.linear_2 = this.sub(new Linear(this.at("linear_2"), dim, dim));
  }

  /** [B, inDim] -> [B, dim]. */
  forward(ctx: GpuContext, x: Tensor): Tensor {
    return this.linear_2.forward(ctx, silu(ctx, this.linear_1.forward(ctx, x)));
  }
}

export class UNet2DConditionModel extends Module {
  readonly config: UNetConfig;
  readonly time_embedding: TimestepEmbedding;
  /** addition_embed_type "text" only (else null: no parameters, as before). */
  readonly add_embedding: TextTimeEmbedding | null;
  readonly conv_in: Conv2d;
  readonly down_blocks: DownBlock[] = [];
  readonly mid_block: MidBlock;
  readonly up_blocks: UpBlock[] = [];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  /** config: a full config, or a diffusers config.json object merged over the tiny defaults. */
  constructor(init: Init, config: Partial<UNetConfig> | Record<string, unknown> = {}) {
    super(init);
    const c = this.config = unetConfig(config as Record<string, unknown>);
    const ch = c.block_out_channels, n = ch.length, heads = headsPerBlock(c);
    const tembDim = ch[0] * 4;
    this.time_embedding = this.sub(new TimestepEmbedding(this.at("time_embedding"), ch[0], tembDim));
    this.add_embedding = c.addition_embed_type === "text"
      ? this.sub(
        new TextTimeEmbedding(
          this.at("add_embedding"),
          c.cross_attention_dim,
          tembDim,
          c.addition_embed_type_num_heads,
        ),
      )
      : null;
    this.conv_in = this.sub(new Conv2d(this.at("conv_in"), c.in_channels, ch[0], 3));
    const opts = (cross: boolean, h: number, layers: number, outputScale = 1): BlockOptions => ({
      layers,
      resnet: { groups: c.norm_num_groups, eps: c.norm_eps, tembChannels: tembDim, outputScale },
      attn: cross
        ? {
          heads: h,
          crossDim: c.cross_attention_dim,
          groups: c.norm_num_groups,
          linearProjection: c.use_linear_projection,
        }
        : null,
    });
    let outCh = ch[0];
    c.down_block_types.forEach((type, i) => {
      const inCh = outCh;
      outCh = ch[i];
      const o = opts(type === "CrossAttnDownBlock2D", heads[i], c.layers_per_block);
      this.down_blocks.push(this.sub(new DownBlock(this.at(`down_blocks.${i}`), inCh, outCh, i < n - 1, o)));
    });
    this.mid_block = this.sub(
      new MidBlock(this.at("mid_block"), ch[n - 1], opts(true, heads[n - 1], 1, c.mid_block_scale_factor)),
    );
    const rch = [...ch].reverse(), rheads = [...heads].reverse();
    outCh = rch[0];
    c.up_block_types.forEach((type, i) => {
      const prevOut = outCh;
      outCh = rch[i];
      const inCh = rch[Math.min(i + 1, n - 1)];
      const o = opts(type === "CrossAttnUpBlock2D", rheads[i], c.layers_per_block + 1);
      this.up_blocks.push(
        this.sub(new UpBlock(this.at(`up_blocks.${i}`), inCh, outCh, prevOut, i < n - 1, o)),
      );
    });
    this.conv_norm_out = this.sub(
      new GroupNorm(this.at("conv_norm_out"), c.norm_num_groups, ch[0], c.norm_eps),
    );
    this.conv_out = this.sub(new Conv2d(this.at("conv_out"), ch[0], c.out_channels, 3));
  }

  /**
   * sample: [B, in_channels, H, W], timesteps: B numbers, encoderHidden: [B, L, cross_attention_dim],
   * keyMask: [B, L] (1 = attend; pad tokens 0) -> eps: [B, out_channels, H, W].
   */
  forward(
    ctx: GpuContext,
    sample: Tensor,
    timesteps: readonly number[],
    encoderHidden: Tensor,
    keyMask: Tensor | null = null,
  ): Tensor {
    const c = this.config;
    const [B, C, H, W] = sample.shape;
    if (sample.shape.length !== 4 || C !== c.in_channels) {
      throw new Error(`unet: sample ${sample.describe()} is not [B, ${c.in_channels}, H, W]`);
    }
    const down = 2 ** (c.block_out_channels.length - 1);
    if (H % down || W % down) throw new Error(`unet: ${H}x${W} is not divisible by ${down}`);
    if (timesteps.length !== B) throw new Error(`unet: ${timesteps.length} timesteps for batch ${B}`);
    if (encoderHidden.shape[0] !== B || encoderHidden.shape[2] !== c.cross_attention_dim) {
      throw new Error(
        `unet: encoderHidden ${encoderHidden.describe()} is not [${B}, L, ${c.cross_attention_dim}]`,
      );
    }
    const tproj = timestepEmbedding(ctx, timesteps, c.block_out_channels[0], {
      flipSinToCos: c.flip_sin_to_cos,
      freqShift: c.freq_shift,
    });
    const cond: Cond = { temb: this.embed(ctx, tproj, encoderHidden), context: encoderHidden, keyMask };
    let h = this.conv_in.forward(ctx, sample);
    const skips: Tensor[] = [h];
    for (const b of this.down_blocks) {
      const r = b.forward(ctx, h, cond);
      h = r.h;
      skips.push(...r.skips);
    }
    h = this.mid_block.forward(ctx, h, cond);
    for (const b of this.up_blocks) h = b.forward(ctx, h, skips, cond);
    return this.conv_out.forward(ctx, this.conv_norm_out.forward(ctx, h, true)); // silu fused
  }

  /**
   * The embedding every ResNet block receives: tproj [N, C0] -> [N, 4 C0], plus (addition_embed_type
   * "text") add_embedding(encoderHidden [B, L, D]) [B, 4 C0], as diffusers adds aug_emb to emb.
   * `perRow` maps the pooled [B, E] onto tproj's N rows (the video model's per-frame copies).
   */
  embed(
    ctx: GpuContext,
    tproj: Tensor,
    encoderHidden: Tensor,
    perRow: (t: Tensor) => Tensor = (t) => t,
  ): Tensor {
    const emb = this.time_embedding.forward(ctx, tproj);
    if (!this.add_embedding) return emb;
    return add(ctx, emb, perRow(this.add_embedding.forward(ctx, encoderHidden)));
  }
}

/** A one-line summary for task logs: parameter count and the shape of the network. */
export function describeUNet(u: UNet2DConditionModel): string {
  const c = u.config;
  return `UNet2DConditionModel ${u.numParams().toLocaleString("en-US")} parameters: ` +
    `${c.sample_size}x${c.sample_size}x${c.in_channels}, channels [${c.block_out_channels}], ` +
    `${c.layers_per_block} layer(s)/block, heads [${headsPerBlock(c)}], cross ${c.cross_attention_dim}` +
    (c.addition_embed_type
      ? `, add embedding ${c.addition_embed_type} (${c.addition_embed_type_num_heads} heads)`
      : "");
}
