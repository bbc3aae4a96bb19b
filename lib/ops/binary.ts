// Elementwise binary ops with broadcasting (kernels/binary.wgsl). Backward rules are compositions.
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import {
  assertRank,
  broadcastShapes,
  broadcastStrides,
  coalesce,
  elementwisePlan,
  type GpuContext,
  record,
  vec8,
} from "./util.ts";
import { sumToShape } from "./reduce.ts";
import { scale } from "./scale.ts";

const kernel = new KernelFile("binary.wgsl");
const OPS = { add: 0, sub: 1, mul: 2, div: 3 } as const;
type BinaryOp = keyof typeof OPS;

function launch(ctx: GpuContext, op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  assertRank(shape, op);
  const out = empty(ctx, shape);
  if (!out.size) return out;
  const c = coalesce(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  const plan = elementwisePlan(c.dims);
  const front = (xs: number[], v: number) => [...new Array(plan.pad).fill(v), ...xs];
  ctx.run(kernel, plan.kind === "loop" ? "forward" : plan.kind, {
    buffers: [a, b, out],
    params: [
      out.size,
      c.dims.length,
      0,
      0,
      ...vec8(front(c.dims, 1), op),
      ...vec8(front(c.strides[0], 0), op),
      ...vec8(front(c.strides[1], 0), op),
    ],
    groups: plan.groups,
    label: ctx.profiler ? `[${c.dims}]` : undefined,
    overrides: { OP: OPS[op] },
  });
  return out;
}

/** Reduces a gradient to an input's shape, disposing the intermediate when a new one was made. */
function reduceTo(ctx: GpuContext, g: Tensor, like: Tensor): Tensor {
  const r = sumToShape(ctx, g, like.shape);
  g.dispose();
  return r;
}

export function add(ctx: GpuContext, a: Tensor, b: Tensor): Tensor {
  return record(ctx, "add", [a, b], launch(ctx, "add", a, b), (g) => [
    a.requiresGrad ? sumToShape(ctx, g, a.shape) : null,
    b.requiresGrad ? sumToShape(ctx, g, b.shape) : null,
  ]);
}

export function sub(ctx: GpuContext, a: Tensor, b: Tensor): Tensor {
  return record(ctx, "sub", [a, b], launch(ctx, "sub", a, b), (g) => [
    a.requiresGrad ? sumToShape(ctx, g, a.shape) : null,
    b.requiresGrad ? reduceTo(ctx, scale(ctx, g, -1), b) : null,
  ]);
}

export function mul(ctx: GpuContext, a: Tensor, b: Tensor): Tensor {
  return record(ctx, "mul", [a, b], launch(ctx, "mul", a, b), (g) => [
    a.requiresGrad ? reduceTo(ctx, launch(ctx, "mul", g, b), a) : null,
    b.requiresGrad ? reduceTo(ctx, launch(ctx, "mul", g, a), b) : null,
  ]);
}

export function div(ctx: GpuContext, a: Tensor, b: Tensor): Tensor {
  return record(ctx, "div", [a, b], launch(ctx, "div", a, b), (g) => {
    const ga = a.requiresGrad ? reduceTo(ctx, launch(ctx, "div", g, b), a) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      // d(a/b)/db = -a / b^2
      const t1 = launch(ctx, "mul", g, a);
      const t2 = launch(ctx, "div", t1, b);
      const t3 = launch(ctx, "div", t2, b);
      gb = reduceTo(ctx, scale(ctx, t3, -1), b);
      t1.dispose();
      t2.dispose();
      t3.dispose();
    }
    return [ga, gb];
  });
}
