// diffusers' TextTimeEmbedding (UNet2DConditionModel with addition_embed_type "text"): a pooled text
// embedding added to the timestep embedding, so every ResNet block sees the prompt as a global
// condition (SDXL-style), not only the cross-attention layers.
//   add_embedding = norm2(proj(pool(norm1(encoder_hidden_states))))   [B, L, D] -> [B, E]
import type { GpuContext } from "../gpu/context.ts";
import { attention } from "../ops/attention.ts";
import { add } from "../ops/binary.ts";
import { concat, reshape } from "../ops/copy.ts";
import { mean } from "../ops/reduce.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { LayerNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";

/**
 * diffusers' AttentionPooling (from CLIP's AttnPool2d): a class token (mean of the tokens plus a learned
 * position) attends, per head, over itself and every token, pads included (diffusers passes no mask).
 */
export class AttentionPooling extends Module {
  readonly positional_embedding: Tensor;
  readonly k_proj: Linear;
  readonly q_proj: Linear;
  readonly v_proj: Linear;

  constructor(init: Init, readonly heads: number, readonly dim: number) {
    super(init);
    if (!(Number.isInteger(heads) && heads >= 1 && dim % heads === 0)) {
      throw new Error(`${init.prefix}: ${heads} heads do not divide ${dim} channels`);
    }
    // torch.randn(1, D) / sqrt(D)
    this.positional_embedding = this.param("positional_embedding", [1, dim], {
      kind: "normal",
      std: 1 / Math.sqrt(dim),
    });
    this.k_proj = this.sub(new Linear(this.at("k_proj"), dim, dim));
    this.q_proj = this.sub(new Linear(this.at("q_proj"), dim, dim));
    this.v_proj = this.sub(new Linear(this.at("v_proj"), dim, dim));
  }

  /**
   * x: [B, L, D] -> [B, D]. diffusers scales q and k each by Dh^-1/4 before q k^T; attention()'s
   * 1/sqrt(Dh) on the product is the same number.
   */
  forward(ctx: GpuContext, x: Tensor): Tensor {
    const [B, , D] = x.shape;
    if (x.shape.length !== 3 || D !== this.dim) {
      throw new Error(`${this.prefix}: input ${x.describe()} is not [B, L, ${this.dim}]`);
    }
    const cls = add(ctx, mean(ctx, x, 1, true), this.positional_embedding); // [B, 1, D]
    const seq = concat(ctx, [cls, x], 1); // [B, L+1, D]
    const q = this.q_proj.forward(ctx, cls);
    const k = this.k_proj.forward(ctx, seq), v = this.v_proj.forward(ctx, seq);
    return reshape(ctx, attention(ctx, q, k, v, this.heads), [B, D]);
  }
}

/** norm1 LayerNorm(D) -> pool -> proj Linear(D, E) -> norm2 LayerNorm(E). */
export class TextTimeEmbedding extends Module {
  readonly norm1: LayerNorm;
  readonly pool: AttentionPooling;
  readonly proj: Linear;
  readonly norm2: LayerNorm;

  constructor(init: Init, encoderDim: number, timeEmbedDim: number, heads: number) {
    super(init);
    this.norm1 = this.sub(new LayerNorm(this.at("norm1"), encoderDim));
    this.pool = this.sub(new AttentionPooling(this.at("pool"), heads, encoderDim));
    this.proj = this.sub(new Linear(this.at("proj"), encoderDim, timeEmbedDim));
    this.norm2 = this.sub(new LayerNorm(this.at("norm2"), timeEmbedDim));
  }

  /** encoderHidden: [B, L, D] -> [B, E]. */
  forward(ctx: GpuContext, encoderHidden: Tensor): Tensor {
    const pooled = this.pool.forward(ctx, this.norm1.forward(ctx, encoderHidden));
    return this.norm2.forward(ctx, this.proj.forward(ctx, pooled));
  }
}
