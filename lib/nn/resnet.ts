// diffusers' ResnetBlock2D (default "default" time-embedding norm):
//   h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb))[:, :, None, None]   (no temb term when
//   tembChannels is null: the VAE's blocks, temb_channels=None in diffusers)
//   h = conv2(silu(norm2(h)));  out = (shortcut(x) + h) / outputScale
import type { GpuContext } from "../gpu/context.ts";
import { scale } from "../ops/scale.ts";
import { silu } from "../ops/unary.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Conv2d } from "./conv.ts";
import { GroupNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";

export interface ResnetOptions {
  groups: number;
  eps: number;
  /** null: no time embedding (no time_emb_proj parameters). */
  tembChannels: number | null;
  outputScale?: number;
}

export class ResnetBlock2D extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly time_emb_proj: Linear | null;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly conv_shortcut: Conv2d | null;
  readonly outputScale: number;

  constructor(init: Init, readonly inChannels: number, readonly outChannels: number, o: ResnetOptions) {
    super(init);
    this.norm1 = this.sub(new GroupNorm(this.at("norm1"), o.groups, inChannels, o.eps));
    this.conv1 = this.sub(new Conv2d(this.at("conv1"), inChannels, outChannels, 3));
    this.time_emb_proj = o.tembChannels === null
      ? null
      : this.sub(new Linear(this.at("time_emb_proj"), o.tembChannels, outChannels));
    this.norm2 = this.sub(new GroupNorm(this.at("norm2"), o.groups, outChannels, o.eps));
    this.conv2 = this.sub(new Conv2d(this.at("conv2"), outChannels, outChannels, 3));
    this.conv_shortcut = inChannels !== outChannels
      ? this.sub(new Conv2d(this.at("conv_shortcut"), inChannels, outChannels, 1, 1, 0))
      : null;
    this.outputScale = o.outputScale ?? 1;
  }

  /** x: [B, in, H, W], temb: [B, tembChannels] (null without a time embedding) -> [B, out, H, W]. */
  forward(ctx: GpuContext, x: Tensor, temb: Tensor | null): Tensor {
    // silu fused into the norms; the time embedding and the skip added in the convs' epilogues
    let t: Tensor | undefined;
    if (this.time_emb_proj) {
      if (!temb) throw new Error(`${this.prefix}: needs a time embedding`);
      t = this.time_emb_proj.forward(ctx, silu(ctx, temb)); // [B, out]
    }
    const h = this.conv1.forward(ctx, this.norm1.forward(ctx, x, true), t ? { channelBias: t } : {});
    const skip = this.conv_shortcut ? this.conv_shortcut.forward(ctx, x) : x;
    const out = this.conv2.forward(ctx, this.norm2.forward(ctx, h, true), { residual: skip });
    return this.outputScale === 1 ? out : scale(ctx, out, 1 / this.outputScale);
  }
}
