// The UNet's down / mid / up blocks with diffusers' names and channel bookkeeping:
// CrossAttnDownBlock2D, DownBlock2D (resnets.i, attentions.i, downsamplers.0),
// UNetMidBlock2DCrossAttn (resnets.0, attentions.0, resnets.1),
// UpBlock2D, CrossAttnUpBlock2D (resnets.i on [h ; skip], attentions.i, upsamplers.0).
import type { GpuContext } from "../gpu/context.ts";
import { concat } from "../ops/copy.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Transformer2DModel, type Transformer2DOptions } from "./attention.ts";
import { Downsample2D, Upsample2D } from "./conv.ts";
import { type Init, Module } from "./module.ts";
import { ResnetBlock2D, type ResnetOptions } from "./resnet.ts";

/** What every block gets besides its channel counts. */
export interface BlockOptions {
  layers: number;
  resnet: ResnetOptions;
  /** Attention settings; null for blocks without attention (DownBlock2D, UpBlock2D). */
  attn: Omit<Transformer2DOptions, "dimHead"> | null;
}

/** The conditioning every block forwards to its attentions. */
export interface Cond {
  temb: Tensor;
  context: Tensor;
  keyMask: Tensor | null;
}

function transformer(init: Init, channels: number, attn: BlockOptions["attn"]): Transformer2DModel {
  if (!attn) throw new Error(`${init.prefix}: attention options missing`);
  if (channels % attn.heads !== 0) {
    throw new Error(`${init.prefix}: ${channels} channels are not divisible into ${attn.heads} heads`);
  }
  return new Transformer2DModel(init, channels, { ...attn, dimHead: channels / attn.heads });
}

/** CrossAttnDownBlock2D (attn set) or DownBlock2D (attn null). */
export class DownBlock extends Module {
  readonly resnets: ResnetBlock2D[] = [];
  readonly attentions: Transformer2DModel[] = [];
  readonly downsampler: Downsample2D | null;

  constructor(init: Init, inCh: number, outCh: number, addDownsample: boolean, o: BlockOptions) {
    super(init);
    for (let i = 0; i < o.layers; i++) {
      this.resnets.push(
        this.sub(new ResnetBlock2D(this.at(`resnets.${i}`), i === 0 ? inCh : outCh, outCh, o.resnet)),
      );
      if (o.attn) this.attentions.push(this.sub(transformer(this.at(`attentions.${i}`), outCh, o.attn)));
    }
    this.downsampler = addDownsample ? this.sub(new Downsample2D(this.at("downsamplers.0"), outCh)) : null;
  }

  /** x: [B, in, H, W] -> output and the skip states (one per resnet, plus the downsampled one). */
  forward(ctx: GpuContext, x: Tensor, c: Cond): { h: Tensor; skips: Tensor[] } {
    const skips: Tensor[] = [];
    let h = x;
    this.resnets.forEach((r, i) => {
      h = r.forward(ctx, h, c.temb);
      if (this.attentions[i]) h = this.attentions[i].forward(ctx, h, c.context, c.keyMask);
      skips.push(h);
    });
    if (this.downsampler) {
      h = this.downsampler.forward(ctx, h);
      skips.push(h);
    }
    return { h, skips };
  }
}

/** UNetMidBlock2DCrossAttn with one attention layer: resnet, attention, resnet (channels unchanged). */
export class MidBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly attention: Transformer2DModel;

  constructor(init: Init, ch: number, o: BlockOptions) {
    super(init);
    const r0 = this.sub(new ResnetBlock2D(this.at("resnets.0"), ch, ch, o.resnet));
    this.attention = this.sub(transformer(this.at("attentions.0"), ch, o.attn));
    this.resnets = [r0, this.sub(new ResnetBlock2D(this.at("resnets.1"), ch, ch, o.resnet))];
  }

  forward(ctx: GpuContext, x: Tensor, c: Cond): Tensor {
    const h = this.resnets[0].forward(ctx, x, c.temb);
    return this.resnets[1].forward(ctx, this.attention.forward(ctx, h, c.context, c.keyMask), c.temb);
  }
}

/**
 * CrossAttnUpBlock2D (attn set) or UpBlock2D (attn null). Resnet i takes [h ; skip] with
 * h = prevOut (i = 0) or out, and skip = in (last resnet) or out, as diffusers builds them.
 */
export class UpBlock extends Module {
  readonly resnets: ResnetBlock2D[] = [];
  readonly attentions: Transformer2DModel[] = [];
  readonly upsampler: Upsample2D | null;

  constructor(
    init: Init,
    inCh: number,
    outCh: number,
    prevOut: number,
    addUpsample: boolean,
    o: BlockOptions,
  ) {
    super(init);
    for (let i = 0; i < o.layers; i++) {
      const skipCh = i === o.layers - 1 ? inCh : outCh;
      const resIn = i === 0 ? prevOut : outCh;
      this.resnets.push(
        this.sub(new ResnetBlock2D(this.at(`resnets.${i}`), resIn + skipCh, outCh, o.resnet)),
      );
      if (o.attn) this.attentions.push(this.sub(transformer(this.at(`attentions.${i}`), outCh, o.attn)));
    }
    this.upsampler = addUpsample ? this.sub(new Upsample2D(this.at("upsamplers.0"), outCh)) : null;
  }

  /** Consumes one skip per resnet from the end of `skips` (mutated). */
  forward(ctx: GpuContext, x: Tensor, skips: Tensor[], c: Cond): Tensor {
    let h = x;
    this.resnets.forEach((r, i) => {
      const skip = skips.pop();
      if (!skip) throw new Error(`${this.prefix}: ran out of skip connections`);
      h = r.forward(ctx, concat(ctx, [h, skip], 1), c.temb);
      if (this.attentions[i]) h = this.attentions[i].forward(ctx, h, c.context, c.keyMask);
    });
    return this.upsampler ? this.upsampler.forward(ctx, h) : h;
  }
}
