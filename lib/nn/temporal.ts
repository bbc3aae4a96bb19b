// AnimateDiff's motion module as diffusers builds it (AnimateDiffTransformer3D): self-attention over the
// frame axis at every spatial position, so frames exchange information while spatial layers stay
// per-image. Parameter names follow diffusers' UNetMotionModel checkpoints:
//   <prefix>.norm, .proj_in, .transformer_blocks.N.{norm1, attn1, norm2, attn2, norm3, ff}, .proj_out
// (the original AnimateDiff names attention_blocks.0/1, norms.0/1, ff_norm map onto these; see
// unet_motion.ts). proj_out starts at zero, so a fresh module is the identity (AnimateDiff's
// zero_initialize): a new video model is exactly its image model applied frame by frame.
import type { GpuContext } from "../gpu/context.ts";
import { add } from "../ops/binary.ts";
import { permute, reshape } from "../ops/copy.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { Attention, FeedForward } from "./attention.ts";
import { GroupNorm, LayerNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";

/**
 * diffusers' SinusoidalPositionalEmbedding table [frames, dim]:
 *   pe[p, 2i] = sin(p * w_i),  pe[p, 2i + 1] = cos(p * w_i),  w_i = 10000^(-2i / dim).
 */
export function sinusoidalPositions(frames: number, dim: number): Float32Array {
  const pe = new Float32Array(frames * dim);
  for (let p = 0; p < frames; p++) {
    for (let i = 0; 2 * i < dim; i++) {
      const w = Math.exp(-(2 * i) * Math.log(10000) / dim);
      pe[p * dim + 2 * i] = Math.sin(p * w);
      if (2 * i + 1 < dim) pe[p * dim + 2 * i + 1] = Math.cos(p * w);
    }
  }
  return pe;
}

/**
 * diffusers' BasicTransformerBlock as the motion module configures it: two self-attentions
 * (double_self_attention, no cross-attention, no q/k/v bias) and a GEGLU feed-forward, each pre-norm
 * with a residual; the frame position table is added to the normed input of both attentions.
 */
export class TemporalTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm;
  readonly attn2: Attention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;

  constructor(init: Init, readonly dim: number, heads: number) {
    super(init);
    const dh = dim / heads;
    this.norm1 = this.sub(new LayerNorm(this.at("norm1"), dim));
    this.attn1 = this.sub(new Attention(this.at("attn1"), dim, dim, heads, dh));
    this.norm2 = this.sub(new LayerNorm(this.at("norm2"), dim));
    this.attn2 = this.sub(new Attention(this.at("attn2"), dim, dim, heads, dh));
    this.norm3 = this.sub(new LayerNorm(this.at("norm3"), dim));
    this.ff = this.sub(new FeedForward(this.at("ff"), dim));
  }

  /** x: [N, F, dim] (N = batch * pixels), pe: [F, dim] (broadcast over N) -> [N, F, dim]. */
  forward(ctx: GpuContext, x: Tensor, pe: Tensor): Tensor {
    // residual adds in the output projections' GEMM epilogues
    let h = this.attn1.forward(ctx, add(ctx, this.norm1.forward(ctx, x), pe), null, null, x);
    h = this.attn2.forward(ctx, add(ctx, this.norm2.forward(ctx, h), pe), null, null, h);
    return this.ff.forward(ctx, this.norm3.forward(ctx, h), h);
  }
}

export interface MotionModuleOptions {
  heads: number;
  /** Group-norm groups (the UNet's norm_num_groups, as diffusers passes resnet_groups). */
  groups: number;
  /** Longest clip the position table is defined for (diffusers' motion_max_seq_length). */
  maxFrames: number;
  layers?: number;
}

/** AnimateDiffTransformer3D: GroupNorm over (C/G, F, H, W) -> proj_in -> blocks over F -> proj_out, + x. */
export class MotionModule extends Module {
  readonly norm: GroupNorm;
  readonly proj_in: Linear;
  readonly blocks: TemporalTransformerBlock[];
  readonly proj_out: Linear;
  readonly maxFrames: number;

  constructor(init: Init, readonly channels: number, o: MotionModuleOptions) {
    super(init);
    if (!(Number.isInteger(o.heads) && o.heads >= 1 && channels % o.heads === 0)) {
      throw new Error(`${init.prefix}: ${channels} channels are not divisible into ${o.heads} motion heads`);
    }
    this.maxFrames = o.maxFrames;
    this.norm = this.sub(new GroupNorm(this.at("norm"), o.groups, channels, 1e-6));
    this.proj_in = this.sub(new Linear(this.at("proj_in"), channels, channels));
    this.blocks = Array.from(
      { length: o.layers ?? 1 },
      (_, i) => this.sub(new TemporalTransformerBlock(this.at(`transformer_blocks.${i}`), channels, o.heads)),
    );
    this.proj_out = this.sub(new Linear(this.at("proj_out"), channels, channels));
    zeroLinear(this.proj_out);
  }

  /** x: [B*F, C, H, W] (frames of one clip adjacent) -> [B*F, C, H, W]. */
  forward(ctx: GpuContext, x: Tensor, frames: number): Tensor {
    const [BF, C, H, W] = x.shape;
    if (x.shape.length !== 4 || C !== this.channels || BF % frames !== 0) {
      throw new Error(`${this.prefix}: input ${x.describe()} is not [B*${frames}, ${this.channels}, H, W]`);
    }
    if (frames > this.maxFrames) {
      throw new Error(`${this.prefix}: ${frames} frames exceed motion_max_seq_length ${this.maxFrames}`);
    }
    const B = BF / frames, S = H * W;
    // [B, F, C, S] -> [B, C, F, S]: the group statistics span frames too, as diffusers' norm on
    // [B, C, F, H, W] does.
    const cf = permute(ctx, reshape(ctx, x, [B, frames, C, S]), [0, 2, 1, 3]);
    const n = this.norm.forward(ctx, cf);
    // [B, C, F, S] -> [B, S, F, C] -> sequences over frames [B*S, F, C].
    const seq = reshape(ctx, permute(ctx, n, [0, 3, 2, 1]), [B * S, frames, C]);
    const pe = tensor(ctx, sinusoidalPositions(frames, C), [frames, C]);
    let h = this.proj_in.forward(ctx, seq);
    for (const b of this.blocks) h = b.forward(ctx, h, pe);
    h = this.proj_out.forward(ctx, h);
    // [B*S, F, C] -> [B, S, F, C] -> [B, F, C, S] -> [B*F, C, H, W].
    const back = permute(ctx, reshape(ctx, h, [B, S, frames, C]), [0, 2, 3, 1]);
    return add(ctx, reshape(ctx, back, [BF, C, H, W]), x);
  }
}

/** Sets a Linear's weight and bias to 0 (in place, same buffers). */
export function zeroLinear(l: Linear) {
  for (const t of [l.weight, l.bias]) if (t) l.ctx.write(t.buffer, new Float32Array(t.size));
}
