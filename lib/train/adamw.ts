// AdamW with global gradient-norm clipping, all on the GPU (kernels/adamw.wgsl, reduce.wgsl):
// per-parameter squared norms -> clip coefficient -> update. No readback; the last norm can be
// read asynchronously for logging. An update whose gradient norm (or watched loss buffer) is NaN or
// infinite is skipped on the GPU, and counted: readGuard() reports it with the logging readback.
import { f32bits, type GpuContext, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { concat, filled } from "../ops/copy.ts";
import { reduceInto } from "../ops/reduce.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";

const kernel = new KernelFile("adamw.wgsl");
/** Watched values the one-invocation check loops over (well below the software adapter's loop cap). */
const MAX_WATCH = 32768;

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global gradient-norm clip (<= 0: off). */
  maxGradNorm?: number;
}

/** Layout of AdamW.clip (f32): written by kernels/adamw.wgsl#clip every update. */
const GUARD = {
  coef: 0,
  norm: 1,
  ok: 2,
  skipped: 3,
  run: 4,
  longestRun: 5,
  first: 6,
  last: 7,
  longestRunEnd: 8,
  firstKind: 9,
  length: 10,
} as const;

/** What the non-finite guard saw since the optimizer was created. Updates count from 1. */
export interface GuardState {
  /** Global gradient norm of the last update (NaN or inf when it was skipped for that). */
  gradNorm: number;
  /** Updates skipped because the loss or the gradient norm was not finite. */
  skipped: number;
  /** Skips in a row at the last update (0 when it ran). */
  run: number;
  longestRun: number;
  longestRunEnd: number;
  /** First and last skipped update (0: none). */
  first: number;
  last: number;
  /** What was not finite at the first skip: "loss", "gradient norm" or "loss and gradient norm". */
  firstKind: string;
}

export class AdamW {
  readonly m: Tensor[];
  readonly v: Tensor[];
  step = 0;
  private sq: Tensor;
  /** [coef, norm, ok, skip counters...] of the last step (GUARD). */
  readonly clip: Tensor;

  constructor(private ctx: GpuContext, readonly params: Tensor[], public opts: AdamWOptions) {
    this.m = params.map((p) => filled(ctx, p.shape, 0).keep());
    this.v = params.map((p) => filled(ctx, p.shape, 0).keep());
    this.sq = filled(ctx, [Math.max(1, params.length)], 0).keep();
    const init = new Float32Array(GUARD.length);
    init[GUARD.coef] = init[GUARD.ok] = 1;
    this.clip = tensor(ctx, init, [GUARD.length]).keep();
  }

  /**
   * One update from the accumulated `.grad`s (parameters without a grad are skipped). `watched`:
   * small buffers (the step's per-example losses, MAX_WATCH values in all) whose NaN or inf skips
   * the update like a non-finite gradient norm does. A skipped update still advances `step` (the bias
   * correction), so runs stay reproducible without a readback.
   */
  update(lr = this.opts.lr, watched?: Tensor | Tensor[]) {
    const { ctx, params } = this;
    const b1 = this.opts.beta1 ?? 0.9, b2 = this.opts.beta2 ?? 0.999;
    this.step++;
    params.forEach((p, i) => {
      if (p.grad) reduceInto(ctx, "sumsq", p.grad, null, p.shape.map((_, k) => k), this.sq, 1, i);
      else reduceInto(ctx, "sum", this.clip, null, [0], this.sq, 0, i); // writes 0
    });
    // Several buffers (one per micro-batch) are checked as one: a copy, still no readback.
    const list = watched === undefined ? [] : Array.isArray(watched) ? watched : [watched];
    const watch = list.length > 1 ? ctx.noGrad(() => concat(ctx, list, 0)) : list[0];
    if (watch && watch.size > MAX_WATCH) {
      throw new Error(`AdamW.update: ${watch.size} watched values, more than ${MAX_WATCH}`);
    }
    ctx.run(kernel, "clip", {
      buffers: [null, null, null, null, null, this.sq, this.clip, null, null, null, watch ?? this.sq],
      params: [params.length, f32bits(this.opts.maxGradNorm ?? 0), watch?.size ?? 0, this.step],
      paramsBinding: 8,
      groups: [1, 1, 1],
    });
    if (list.length > 1) watch!.dispose();
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
    return (await this.clip.read())[GUARD.norm];
  }

  /** The non-finite guard's counters (the same one readback as lastGradNorm). */
  async readGuard(): Promise<GuardState> {
    const g = await this.clip.read();
    const kind = g[GUARD.firstKind];
    return {
      gradNorm: g[GUARD.norm],
      skipped: g[GUARD.skipped],
      run: g[GUARD.run],
      longestRun: g[GUARD.longestRun],
      longestRunEnd: g[GUARD.longestRunEnd],
      first: g[GUARD.first],
      last: g[GUARD.last],
      firstKind: kind === 1 ? "loss" : kind === 2 ? "gradient norm" : "loss and gradient norm",
    };
  }
}
