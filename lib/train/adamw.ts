// AdamW with global gradient-norm clipping, all on the GPU (kernels/adamw.wgsl, reduce.wgsl):
// squared norm (chunked reduction over all gradients laid end to end) -> clip coefficient -> one
// update dispatch over the flat parameters. No readback; the last norm can be read asynchronously.
import { f32bits, type GpuContext, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { filled } from "../ops/copy.ts";
import { reduceInto } from "../ops/reduce.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";

const kernel = new KernelFile("adamw.wgsl");

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

  /**
   * One update from the accumulated `.grad`s (parameters without a grad are skipped). Multi-tensor:
   * the parameters with a grad are laid end to end in flat scratch tensors (groups of at most
   * GROUP_FLOATS), so the gradient norm is one chunked reduction per group and the update one
   * dispatch per group; buffer copies (cheap) move grads, weights and moments in and out.
   */
  update(lr = this.opts.lr) {
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
    ctx.run(kernel, "clip", {
      buffers: [null, null, null, null, null, this.sq, this.clip],
      params: [groups.length, f32bits(this.opts.maxGradNorm ?? 0)],
      paramsBinding: 8,
      groups: [1, 1, 1],
    });
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
    return (await this.clip.read())[1];
  }
}
