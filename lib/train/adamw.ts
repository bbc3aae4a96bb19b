// AdamW with global gradient-norm clipping, all on the GPU (kernels/adamw.wgsl, reduce.wgsl):
// squared norm (chunked reduction over all gradients laid end to end) -> clip coefficient -> one
// update dispatch over the flat parameters. No readback; the last norm can be read asynchronously for
// logging. An update whose gradient norm (or watched loss buffer) is NaN or infinite is skipped on the
// GPU, and counted: readGuard() reports it with the logging readback.
import { f32bits, type GpuContext, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { concat, filled } from "../ops/copy.ts";
import { reduceInto } from "../ops/reduce.ts";
import { empty, type Tensor, tensor } from "../tensor/tensor.ts";

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
  /** Floats per flat group (bounds the scratch memory; default GROUP_FLOATS). */
  groupFloats?: number;
}

/** Most floats one flat group holds (scratch: 4 tensors of this size at most). */
export const GROUP_FLOATS = 16 << 20;

interface FlatGroup {
  size: number;
  /** Parameter index and its offset (floats) in the group. */
  items: { i: number; off: number }[];
}

/** The parameters with a grad, end to end, cut into groups of at most GROUP_FLOATS (or one parameter). */
export function flatGroups(params: readonly Tensor[], limit = GROUP_FLOATS): FlatGroup[] {
  const out: FlatGroup[] = [];
  let cur: FlatGroup | null = null;
  params.forEach((p, i) => {
    if (!p.grad) return;
    if (!cur || (cur.size > 0 && cur.size + p.size > limit)) out.push(cur = { size: 0, items: [] });
    cur.items.push({ i, off: cur.size });
    cur.size += p.size;
  });
  return out;
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
   * One update from the accumulated `.grad`s (parameters without a grad are skipped). Multi-tensor:
   * the parameters with a grad are laid end to end in flat scratch tensors (groups of at most
   * GROUP_FLOATS), so the gradient norm is one chunked reduction per group and the update one
   * dispatch per group; buffer copies (cheap) move grads, weights and moments in and out. `watched`:
   * small buffers (the step's per-example losses, MAX_WATCH values in all) whose NaN or inf skips
   * the update like a non-finite gradient norm does (the flat step is then a no-op, so the weights
   * and moments copied back are unchanged). A skipped update still advances `step` (the bias
   * correction), so runs stay reproducible without a readback.
   */
  update(lr = this.opts.lr, watched?: Tensor | Tensor[]) {
    const { ctx } = this;
    const b1 = this.opts.beta1 ?? 0.9, b2 = this.opts.beta2 ?? 0.999;
    this.step++;
    const groups = flatGroups(this.params, this.opts.groupFloats);
    const gather = (g: FlatGroup, flat: Tensor, of: (i: number) => Tensor) => {
      for (const { i, off } of g.items) {
        ctx.copyBuffer(of(i).buffer, 0, flat.buffer, off * 4, this.params[i].size * 4);
      }
    };
    const scatter = (g: FlatGroup, flat: Tensor, of: (i: number) => Tensor) => {
      for (const { i, off } of g.items) {
        ctx.copyBuffer(flat.buffer, off * 4, of(i).buffer, 0, this.params[i].size * 4);
      }
    };
    const grad = (i: number) => this.params[i].grad!;
    let gflat: Tensor | null = null;
    groups.forEach((g, k) => {
      gflat?.dispose();
      gflat = empty(ctx, [g.size]);
      gather(g, gflat, grad);
      reduceInto(ctx, "sumsq", gflat, null, [0], this.sq, 1, k);
    });
    // Several buffers (one per micro-batch) are checked as one: a copy, still no readback.
    const list = watched === undefined ? [] : Array.isArray(watched) ? watched : [watched];
    const watch = list.length > 1 ? ctx.noGrad(() => concat(ctx, list, 0)) : list[0];
    if (watch && watch.size > MAX_WATCH) {
      throw new Error(`AdamW.update: ${watch.size} watched values, more than ${MAX_WATCH}`);
    }
    ctx.run(kernel, "clip", {
      buffers: [null, null, null, null, null, this.sq, this.clip, null, null, null, watch ?? this.sq],
      params: [groups.length, f32bits(this.opts.maxGradNorm ?? 0), watch?.size ?? 0, this.step],
      paramsBinding: 8,
      groups: [1, 1, 1],
    });
    if (list.length > 1) watch!.dispose();
    const bc1 = 1 - b1 ** this.step, bc2 = 1 - b2 ** this.step;
    groups.forEach((g, k) => {
      if (groups.length > 1) {
        gflat?.dispose();
        gflat = empty(ctx, [g.size]);
        gather(g, gflat, grad);
      }
      const [pf, mf, vf] = [empty(ctx, [g.size]), empty(ctx, [g.size]), empty(ctx, [g.size])];
      gather(g, pf, (i) => this.params[i]);
      gather(g, mf, (i) => this.m[i]);
      gather(g, vf, (i) => this.v[i]);
      ctx.run(kernel, "step", {
        buffers: [pf, gflat!, mf, vf, this.clip],
        params: [
          g.size,
          f32bits(lr),
          f32bits(b1),
          f32bits(b2),
          f32bits(this.opts.eps ?? 1e-8),
          f32bits(this.opts.weightDecay ?? 0),
          f32bits(bc1),
          f32bits(bc2),
        ],
        groups: groups1d(Math.ceil(g.size / 64)),
        label: ctx.profiler ? `group ${k}` : undefined,
      });
      scatter(g, pf, (i) => this.params[i]);
      scatter(g, mf, (i) => this.m[i]);
      scatter(g, vf, (i) => this.v[i]);
      for (const t of [pf, mf, vf]) t.dispose();
    });
    (gflat as Tensor | null)?.dispose();
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
