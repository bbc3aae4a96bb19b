// Convolution modules: Conv2d (weight [out, in, k, k], bias [out]), Downsample2D (stride-2 3x3 conv,
// parameter "conv"), Upsample2D (nearest 2x then 3x3 conv, parameter "conv"), as diffusers names them.
import type { GpuContext } from "../gpu/context.ts";
import { conv2d } from "../ops/conv2d.ts";
import { upsampleNearest2x } from "../ops/upsample.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { fanInUniform, type Init, Module } from "./module.ts";

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    init: Init,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: 1 | 2 = 1,
    readonly padding: number = Math.floor(kernel / 2),
    bias = true,
  ) {
    super(init);
    const fanIn = inChannels * kernel * kernel;
    this.weight = this.param("weight", [outChannels, inChannels, kernel, kernel], fanInUniform(fanIn));
    this.bias = bias ? this.param("bias", [outChannels], fanInUniform(fanIn)) : null;
  }

  /**
   * x: [B, in, H, W] -> [B, out, H', W']; extra.channelBias [B, out] and extra.residual [B, out, H', W']
   * are added in the conv's epilogue.
   */
  forward(ctx: GpuContext, x: Tensor, extra: { channelBias?: Tensor; residual?: Tensor } = {}): Tensor {
    return conv2d(ctx, x, this.weight, this.bias, { stride: this.stride, padding: this.padding, ...extra });
  }
}

/** [B, C, H, W] -> [B, C, H/2, W/2] by a 3x3 stride-2 conv with padding 1. */
export class Downsample2D extends Module {
  readonly conv: Conv2d;

  constructor(init: Init, channels: number) {
    super(init);
    this.conv = this.sub(new Conv2d(this.at("conv"), channels, channels, 3, 2, 1));
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    return this.conv.forward(ctx, x);
  }
}

/** [B, C, H, W] -> [B, C, 2H, 2W] by nearest upsampling and a 3x3 conv. */
export class Upsample2D extends Module {
  readonly conv: Conv2d;

  constructor(init: Init, channels: number) {
    super(init);
    this.conv = this.sub(new Conv2d(this.at("conv"), channels, channels, 3));
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    return this.conv.forward(ctx, upsampleNearest2x(ctx, x));
  }
}
