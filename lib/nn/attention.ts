// diffusers' attention stack: Attention (to_q/to_k/to_v/to_out.0), FeedForward with GEGLU
// (ff.net.0.proj, ff.net.2), BasicTransformerBlock (norm1/attn1, norm2/attn2, norm3/ff) and
// Transformer2DModel (norm, proj_in, transformer_blocks.N, proj_out) on [B, C, H, W] feature maps.
import type { GpuContext } from "../gpu/context.ts";
import { attention } from "../ops/attention.ts";
import { add } from "../ops/binary.ts";
import { permute, reshape } from "../ops/copy.ts";
import { geglu } from "../ops/geglu.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { GroupNorm, LayerNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";

/** Multi-head attention; self-attention when `context` is null. */
export class Attention extends Module {
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: Linear;

  constructor(init: Init, queryDim: number, contextDim: number, readonly heads: number, dimHead: number) {
    super(init);
    const inner = heads * dimHead;
    this.to_q = this.sub(new Linear(this.at("to_q"), queryDim, inner, { bias: false }));
    this.to_k = this.sub(new Linear(this.at("to_k"), contextDim, inner, { bias: false }));
    this.to_v = this.sub(new Linear(this.at("to_v"), contextDim, inner, { bias: false }));
    this.to_out = this.sub(new Linear(this.at("to_out.0"), inner, queryDim));
  }

  /**
   * x: [B, Lq, queryDim], context: [B, Lk, contextDim] or null, keyMask: [B, Lk] -> [B, Lq, queryDim];
   * residual [B, Lq, queryDim] is added by the output projection's GEMM.
   */
  forward(
    ctx: GpuContext,
    x: Tensor,
    context: Tensor | null = null,
    keyMask: Tensor | null = null,
    residual: Tensor | null = null,
  ): Tensor {
    // One [B * L, dim] view per input for all the projections that read it, so the backward sees one
    // tensor used by several GEMMs and folds its gradients in their epilogues (no accumulate pass).
    const rows = (t: Tensor) => reshape(ctx, t, [t.shape[0] * t.shape[1], t.shape[2]]);
    const x2 = rows(x), c2 = context ? rows(context) : x2;
    const [B, Lq] = x.shape, Lk = (context ?? x).shape[1];
    const seq = (t: Tensor, L: number) => reshape(ctx, t, [B, L, t.shape[1]]);
    const q = seq(this.to_q.forward(ctx, x2), Lq);
    const k = seq(this.to_k.forward(ctx, c2), Lk), v = seq(this.to_v.forward(ctx, c2), Lk);
    const o = attention(ctx, q, k, v, this.heads, keyMask ? { keyMask } : {});
    return this.to_out.forward(ctx, o, residual);
  }
}

/** GEGLU feed-forward: Linear(dim, 2*inner) -> GEGLU -> Linear(inner, dim). x: [..., dim]. */
export class FeedForward extends Module {
  readonly proj: Linear;
  readonly out: Linear;

  constructor(init: Init, dim: number, mult = 4) {
    super(init);
    const inner = dim * mult;
    this.proj = this.sub(new Linear(this.at("net.0.proj"), dim, 2 * inner));
    this.out = this.sub(new Linear(this.at("net.2"), inner, dim));
  }

  /** residual [..., dim] is added by the output GEMM. */
  forward(ctx: GpuContext, x: Tensor, residual: Tensor | null = null): Tensor {
    return this.out.forward(ctx, geglu(ctx, this.proj.forward(ctx, x)), residual);
  }
}

/** Pre-norm self-attention, cross-attention and feed-forward, each with a residual. x: [B, L, dim]. */
export class BasicTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm;
  readonly attn2: Attention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;

  constructor(init: Init, dim: number, heads: number, dimHead: number, crossDim: number) {
    super(init);
    this.norm1 = this.sub(new LayerNorm(this.at("norm1"), dim));
    this.attn1 = this.sub(new Attention(this.at("attn1"), dim, dim, heads, dimHead));
    this.norm2 = this.sub(new LayerNorm(this.at("norm2"), dim));
    this.attn2 = this.sub(new Attention(this.at("attn2"), dim, crossDim, heads, dimHead));
    this.norm3 = this.sub(new LayerNorm(this.at("norm3"), dim));
    this.ff = this.sub(new FeedForward(this.at("ff"), dim));
  }

  /** x: [B, L, dim], context: [B, Lk, crossDim], keyMask: [B, Lk] (cross-attention only). */
  forward(ctx: GpuContext, x: Tensor, context: Tensor, keyMask: Tensor | null = null): Tensor {
    // each residual add happens in the output projection's GEMM epilogue
    let h = this.attn1.forward(ctx, this.norm1.forward(ctx, x), null, null, x);
    h = this.attn2.forward(ctx, this.norm2.forward(ctx, h), context, keyMask, h);
    return this.ff.forward(ctx, this.norm3.forward(ctx, h), h);
  }
}

export interface Transformer2DOptions {
  heads: number;
  dimHead: number;
  crossDim: number;
  groups: number;
  layers?: number;
  /** proj_in/proj_out as Linear [inner, C] (true) or 1x1 conv weights [inner, C, 1, 1] (false). */
  linearProjection: boolean;
}

/** GroupNorm -> proj_in -> transformer blocks on [B, H*W, inner] -> proj_out, plus the input. */
export class Transformer2DModel extends Module {
  readonly norm: GroupNorm;
  readonly proj_in: Linear;
  readonly blocks: BasicTransformerBlock[];
  readonly proj_out: Linear;

  constructor(init: Init, readonly channels: number, o: Transformer2DOptions) {
    super(init);
    const inner = o.heads * o.dimHead;
    const asConv1x1 = !o.linearProjection;
    this.norm = this.sub(new GroupNorm(this.at("norm"), o.groups, channels, 1e-6));
    this.proj_in = this.sub(new Linear(this.at("proj_in"), channels, inner, { asConv1x1 }));
    this.blocks = Array.from(
      { length: o.layers ?? 1 },
      (_, i) =>
        this.sub(
          new BasicTransformerBlock(
            this.at(`transformer_blocks.${i}`),
            inner,
            o.heads,
            o.dimHead,
            o.crossDim,
          ),
        ),
    );
    this.proj_out = this.sub(new Linear(this.at("proj_out"), inner, channels, { asConv1x1 }));
  }

  /**
   * x: [B, C, H, W], context: [B, Lk, crossDim], keyMask: [B, Lk] -> [B, C, H, W]. A 1x1 conv equals
   * the same Linear applied channel-last, so both projection kinds share this path.
   */
  forward(ctx: GpuContext, x: Tensor, context: Tensor, keyMask: Tensor | null = null): Tensor {
    const [B, C, H, W] = x.shape;
    const n = this.norm.forward(ctx, x);
    const seq = reshape(ctx, permute(ctx, n, [0, 2, 3, 1]), [B, H * W, C]);
    let h = this.proj_in.forward(ctx, seq);
    for (const b of this.blocks) h = b.forward(ctx, h, context, keyMask);
    h = this.proj_out.forward(ctx, h);
    const map = permute(ctx, reshape(ctx, h, [B, H, W, C]), [0, 3, 1, 2]);
    return add(ctx, map, x);
  }
}
