// EMA of the weights on the GPU (kernels/adamw.wgsl#ema_update): ema = d * ema + (1 - d) * param.
import { f32bits, type GpuContext, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { cloneWeights, type Weights } from "./pool.ts";

const kernel = new KernelFile("adamw.wgsl");

/** diffusers' EMAModel decay without use_ema_warmup: min(max, (1 + n) / (10 + n)) after n updates. */
export function emaDecayAt(n: number, max: number): number {
  return n <= 0 ? 0 : Math.min(max, (1 + n) / (10 + n));
}

export class Ema {
  readonly weights: Weights;

  constructor(private ctx: GpuContext, readonly source: Weights, public decay: number) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`ema decay: expected a number in [0, 1), got ${decay}`);
    this.weights = cloneWeights(ctx, source);
  }

  update() {
    for (const [name, p] of this.source) {
      const e = this.weights.get(name)!;
      this.ctx.run(kernel, "ema_update", {
        buffers: [...Array(8).fill(null), e, p],
        params: [p.size, f32bits(this.decay), 0, 0, 0, 0, 0, 0],
        groups: groups1d(Math.ceil(p.size / 64)),
      });
    }
  }

  dispose() {
    for (const t of this.weights.values()) {
      t.persistent = false;
      t.dispose();
    }
  }
}
