// A toy regression network trained on the GPU through the tape with AdamW: the engine's smoke
// test and the first demo. MLP 2 -> H -> H -> 1 (SiLU), fitting y = sin(3 x0) cos(2 x1) on a
// fixed point cloud. Loss is read back asynchronously every `logEvery` steps, never inside a step.
import { backward } from "../autograd/backward.ts";
import type { GpuContext } from "../gpu/context.ts";
import { add } from "../ops/binary.ts";
import { matmul } from "../ops/matmul.ts";
import { mean, mseRows } from "../ops/reduce.ts";
import { silu } from "../ops/unary.ts";
import { parameter, type Tensor, tensor } from "../tensor/tensor.ts";
import { Rng } from "../util/rng.ts";
import { AdamW } from "./adamw.ts";

export interface ToyOptions {
  steps: number;
  hidden: number;
  points: number;
  lr: number;
  seed: number;
  logEvery: number;
  onLog?: (step: number, loss: number) => void;
}

export const TOY_DEFAULTS: ToyOptions = {
  steps: 300,
  hidden: 32,
  points: 256,
  lr: 0.01,
  seed: 0,
  logEvery: 25,
};

function linearParams(ctx: GpuContext, rng: Rng, inF: number, outF: number, name: string): Tensor[] {
  // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias; weight stored [in, out] here.
  const bound = 1 / Math.sqrt(inF);
  const w = Float32Array.from({ length: inF * outF }, () => rng.range(-bound, bound));
  const b = Float32Array.from({ length: outF }, () => rng.range(-bound, bound));
  return [parameter(ctx, w, [inF, outF], `${name}.weight`), parameter(ctx, b, [outF], `${name}.bias`)];
}

/** Trains the toy MLP; returns the logged losses (step, loss) including step 0 and the last step. */
export async function trainToy(ctx: GpuContext, opts: Partial<ToyOptions> = {}): Promise<[number, number][]> {
  const o = { ...TOY_DEFAULTS, ...opts };
  const rng = new Rng(o.seed);
  const xs = new Float32Array(o.points * 2), ys = new Float32Array(o.points);
  for (let i = 0; i < o.points; i++) {
    const a = rng.range(-1, 1), b = rng.range(-1, 1);
    xs.set([a, b], 2 * i);
    ys[i] = Math.sin(3 * a) * Math.cos(2 * b);
  }
  const params = [
    ...linearParams(ctx, rng, 2, o.hidden, "fc1"),
    ...linearParams(ctx, rng, o.hidden, o.hidden, "fc2"),
    ...linearParams(ctx, rng, o.hidden, 1, "fc3"),
  ];
  const x = tensor(ctx, xs, [o.points, 2]).keep();
  const y = tensor(ctx, ys, [o.points, 1]).keep();
  const opt = new AdamW(ctx, params, { lr: o.lr, maxGradNorm: 1 });
  const log: [number, number][] = [];
  let reads = Promise.resolve(); // chained so that logs arrive in step order
  try {
    for (let step = 0; step <= o.steps; step++) {
      await ctx.scope(() => {
        const [w1, b1, w2, b2, w3, b3] = params;
        const h1 = silu(ctx, add(ctx, matmul(ctx, x, w1), b1));
        const h2 = silu(ctx, add(ctx, matmul(ctx, h1, w2), b2));
        const out = add(ctx, matmul(ctx, h2, w3), b3);
        const loss = mean(ctx, mseRows(ctx, out, y));
        if (step % o.logEvery === 0 || step === o.steps) {
          const held = loss.view([1]).keep(); // survives the scope until read
          const value = held.item();
          reads = reads.then(() => value).then((v) => {
            log.push([step, v]);
            o.onLog?.(step, v);
            held.persistent = false;
            held.dispose();
          });
        }
        if (step < o.steps) {
          backward(ctx, loss);
          opt.update();
          opt.zeroGrad();
        } else ctx.tape.clear();
      });
      ctx.flush();
    }
    await reads;
  } finally {
    opt.dispose();
    for (const t of [...params, x, y]) {
      t.persistent = false;
      t.dispose();
    }
  }
  return log;
}
