// Reverse-mode pass over the tape. Gradients of leaves accumulate into `.grad` (persistent for
// persistent leaves, so micro-batches add up); intermediate gradients are freed once used; after
// the pass every recorded output except `retain` is disposed and the tape is cleared.
import type { GpuContext } from "../gpu/context.ts";
import { filled } from "../ops/copy.ts";
import { accumulate, scale } from "../ops/scale.ts";
import { shapeStr, type Tensor } from "../tensor/tensor.ts";
import type { Prior } from "./tape.ts";

export interface BackwardOptions {
  /** Gradient of the output (default: ones; the output must then be a scalar). */
  grad?: Tensor;
  /** Recorded tensors to keep alive after the pass (the output itself is always kept). */
  retain?: Tensor[];
  /**
   * Let rules fold a tensor's gradient so far into their own result (GEMM and norm epilogues; see
   * Prior in tape.ts) instead of a separate accumulate pass; default true. The same bits either way.
   */
  fold?: boolean;
}

export function backward(ctx: GpuContext, output: Tensor, opts: BackwardOptions = {}) {
  if (!output.requiresGrad) throw new Error(`backward: ${output.describe()} does not require grad`);
  if (!opts.grad && output.size !== 1) {
    throw new Error(`backward: ${output.describe()} is not a scalar; pass opts.grad`);
  }
  const grads = new Map<Tensor, Tensor>();
  const seed = opts.grad ?? filled(ctx, output.shape, 1);
  const nodes = ctx.tape.nodes;
  ctx.noGrad(() => {
    if (output.creator) grads.set(output, seed);
    else addLeafGrad(ctx, output, seed);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i];
      const g = grads.get(node.output);
      if (!g) continue;
      grads.delete(node.output);
      if (!node.backward) throw new Error(`backward: op "${node.op}" has no backward rule`);
      // The sums so far, for a rule to fold into its results (an input listed twice: its first slot).
      const prior: Prior = {
        grads: node.inputs.map((inp, k) =>
          opts.fold !== false && inp.creator && node.inputs.indexOf(inp) === k ? grads.get(inp) ?? null : null
        ),
        used: [],
      };
      const inGrads = node.backward(g, prior);
      if (g !== opts.grad) g.dispose();
      node.inputs.forEach((inp, k) => {
        const gi = inGrads[k];
        if (prior.used[k] && (!gi || !prior.grads[k])) {
          throw new Error(`backward: "${node.op}" used a prior gradient it did not return`);
        }
        if (!gi) return;
        if (!inp.requiresGrad) return gi.dispose();
        if (gi.size !== inp.size) {
          throw new Error(
            `backward: "${node.op}" gave a ${shapeStr(gi.shape)} gradient for ${inp.describe()}`,
          );
        }
        if (inp.creator) {
          const prev = grads.get(inp);
          if (prior.used[k]) { // gi already holds prev
            prev!.dispose();
            grads.set(inp, owned(ctx, gi));
          } else if (prev) {
            accumulate(ctx, prev, gi);
            gi.dispose();
          } else grads.set(inp, owned(ctx, gi));
        } else addLeafGrad(ctx, inp, gi);
      });
    }
  });
  for (const g of grads.values()) g.dispose();
  const retain = new Set([output, ...(opts.retain ?? [])]);
  for (const n of nodes) {
    n.output.creator = null;
    if (!retain.has(n.output) && !n.output.persistent) n.output.dispose();
  }
  ctx.tape.clear();
}

function addLeafGrad(ctx: GpuContext, leaf: Tensor, g: Tensor) {
  if (leaf.grad) {
    accumulate(ctx, leaf.grad, g);
    g.dispose();
    return;
  }
  const mine = owned(ctx, g);
  const own = mine.shape.length === leaf.shape.length && mine.shape.every((d, i) => d === leaf.shape[i])
    ? mine
    : mine.view(leaf.shape);
  if (own !== mine) mine.dispose();
  leaf.grad = leaf.persistent ? own.keep() : own;
}

/** A gradient that will be accumulated into in place must not share storage with another view. */
function owned(ctx: GpuContext, g: Tensor): Tensor {
  if (g.storage.refs === 1) return g;
  const c = scale(ctx, g, 1);
  g.dispose();
  return c;
}

/** Drops the tape without a backward pass (e.g. after a forward that was only evaluated). */
export function discardTape(ctx: GpuContext) {
  ctx.tape.clear();
}
