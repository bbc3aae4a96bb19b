// Basic layers: Linear (PyTorch weight layout [out, in]), GroupNorm, LayerNorm.
import type { GpuContext } from "../gpu/context.ts";
import { add } from "../ops/binary.ts";
import { reshape } from "../ops/copy.ts";
import { linear, matmul } from "../ops/matmul.ts";
import { groupNorm, layerNorm } from "../ops/norm.ts";
import { scale } from "../ops/scale.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { fanInUniform, type Init, Module } from "./module.ts";

export interface LinearOptions {
  bias?: boolean;
  /** Store the weight as a 1x1 conv [out, in, 1, 1] (diffusers' proj_in/proj_out without use_linear_projection). */
  asConv1x1?: boolean;
}

/** A low-rank adapter on a Linear (lib/nn/lora.ts): y += scale * (x down^T) up^T. */
export interface LinearLora {
  /** [rank, in] */
  down: Tensor;
  /** [out, rank] */
  up: Tensor;
  scale: number;
}

/**
 * y = x W^T + b (+ residual) (+ the LoRA term when one is attached). x: [..., in] -> [..., out].
 * weight: [out, in] (or [out, in, 1, 1]), bias: [out].
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** Set and cleared by lib/nn/lora.ts; null: the plain layer. */
  lora: LinearLora | null = null;

  constructor(
    init: Init,
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super(init);
    const shape = opts.asConv1x1 ? [outFeatures, inFeatures, 1, 1] : [outFeatures, inFeatures];
    this.weight = this.param("weight", shape, fanInUniform(inFeatures));
    this.bias = opts.bias === false ? null : this.param("bias", [outFeatures], fanInUniform(inFeatures));
  }

  /** x [..., in] -> [..., out]; residual [..., out] is added in the same GEMM (a residual stream). */
  forward(ctx: GpuContext, x: Tensor, residual: Tensor | null = null): Tensor {
    const D = x.shape[x.shape.length - 1];
    if (D !== this.inFeatures) {
      throw new Error(`${this.prefix}: input ${x.describe()} has ${D} features, want ${this.inFeatures}`);
    }
    // one GEMM on [rows, in]; a [..., in] input is viewed as [rows, in] and back.
    const rows = x.size / D;
    const flat = (t: Tensor, n: number) => t.shape.length === 2 ? t : reshape(ctx, t, [rows, n]);
    const x2 = flat(x, D);
    let res = residual ? flat(residual, this.outFeatures) : null;
    if (this.lora) {
      // The LoRA term joins the residual the GEMM adds: scale * (x down^T) up^T.
      const d = matmul(ctx, x2, this.lora.down, { transB: true }); // [rows, rank]
      const l = scale(ctx, matmul(ctx, d, this.lora.up, { transB: true }), this.lora.scale);
      res = res ? add(ctx, res, l) : l;
    }
    const y = linear(ctx, x2, this.weight, this.bias, res);
    return x.shape.length === 2 ? y : reshape(ctx, y, [...x.shape.slice(0, -1), this.outFeatures]);
  }
}

/** torch.nn.GroupNorm(groups, C, eps, affine): x [B, C, ...] -> same; silu = true fuses silu after it. */
export class GroupNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(init: Init, readonly groups: number, readonly channels: number, readonly eps: number) {
    super(init);
    if (channels % groups !== 0) {
      throw new Error(`${init.prefix}: ${channels} channels are not divisible into ${groups} groups`);
    }
    this.weight = this.param("weight", [channels], { kind: "const", value: 1 });
    this.bias = this.param("bias", [channels], { kind: "const", value: 0 });
  }

  forward(ctx: GpuContext, x: Tensor, silu = false): Tensor {
    return groupNorm(ctx, x, this.weight, this.bias, this.groups, this.eps, silu);
  }
}

/** torch.nn.LayerNorm(D, eps): x [..., D] -> same. */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(init: Init, readonly dim: number, readonly eps = 1e-5) {
    super(init);
    this.weight = this.param("weight", [dim], { kind: "const", value: 1 });
    this.bias = this.param("bias", [dim], { kind: "const", value: 0 });
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    return layerNorm(ctx, x, this.weight, this.bias, this.eps);
  }
}
