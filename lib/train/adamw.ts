// AdamW with global gradient-norm clipping, all on the GPU (kernels/adamw.wgsl, reduce.wgsl):
// per-parameter squared norms -> clip coefficient -> update. No readback; the last norm can be
// read asynchronously for logging.
import { f32bits, type GpuContext, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { filled } from "../ops/copy.ts";
import { reduceInto } from "../ops/reduce.ts";
import type { Tensor } from "../tensor/tensor.ts";

const kernel = new KernelFile("adamw.wgsl");

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global gradient-norm clip (<= 0: off). */
  maxGradNorm?: number;
}

export class AdamW {
  readonly m: Tensor[];
  readonly v: Tensor[];
  step = 0;
  private sq: Tensor;
  /** [coef, norm] of the last step. */
  readonly clip: Tensor;

  constructor(private ctx: GpuContext, readonly params: Tensor[], public opts: AdamWOptions) {
    this.m = params.map((p) => filled(ctx, p.shape, 0).keep());
    this.v = params.map((p) => filled(ctx, p.shape, 0).keep());
    this.sq = filled(ctx, [Math.max(1, params.length)], 0).keep();
    this.clip = filled(ctx, [2], 1).keep();
  }

  /** One update from the accumulated `.grad`s (parameters without a grad are skipped). */
  update(lr = this.opts.lr) {
    const { ctx, params } = this;
    const b1 = this.opts.beta1 ?? 0.9, b2 = this.opts.beta2 ?? 0.999;
    this.step++;
    params.forEach((p, i) => {
      if (p.grad) reduceInto(ctx, "sumsq", p.grad, null, p.shape.map((_, k) => k), this.sq, 1, i);
      else reduceInto(ctx, "sum", this.clip, null, [0], this.sq, 0, i); // writes 0
    });
    ctx.run(kernel, "clip", {
      buffers: [null, null, null, null, null, this.sq, this.clip],
      params: [params.length, f32bits(this.opts.maxGradNorm ?? 0)],
      paramsBinding: 8,
      groups: [1, 1, 1],
    });
    const bc1 = 1 - b1 ** this.step, bc2 = 1 - b2 ** this.step;
    params.forEach((p, i) => {
      if (!p.grad) return;
      ctx.run(kernel, "step", {
        buffers: [p, p.grad, this.m[i], this.v[i], this.clip],
        params: [
          p.size,
          f32bits(lr),
          f32bits(b1),
          f32bits(b2),
          f32bits(this.opts.eps ?? 1e-8),
          f32bits(this.opts.weightDecay ?? 0),
          f32bits(bc1),
          f32bits(bc2),
        ],
        groups: groups1d(Math.ceil(p.size / 64)),
      });
    });
  }

  /** Clears the accumulated gradients. */
  zeroGrad() {
    for (const p of this.params) {
      if (p.grad) {
        p.grad.persistent = false;
        p.grad.dispose();
        p.grad = null;
      }
    }
  }

  /** Frees the optimizer state (not the parameters). */
  dispose() {
    for (const t of [...this.m, ...this.v, this.sq, this.clip]) {
      t.persistent = false;
      t.dispose();
    }
  }

  /** The global gradient norm of the last update (one readback). */
  async lastGradNorm(): Promise<number> {
    return (await this.clip.read())[1];
  }
}
