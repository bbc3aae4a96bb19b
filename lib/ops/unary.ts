// Elementwise unary functions (kernels/unary.wgsl).
import { groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext, record } from "./util.ts";

const kernel = new KernelFile("unary.wgsl");

export const UNARY = {
  silu: 0,
  gelu: 1,
  exp: 2,
  log: 3,
  sqrt: 4,
  tanh: 5,
  sigmoid: 6,
  relu: 7,
  square: 8,
  /** x * sigmoid(1.702 x) (CLIP). */
  quick_gelu: 9,
} as const;
export type UnaryOp = keyof typeof UNARY;

/** y = f(x) elementwise, any shape. */
export function unary(ctx: GpuContext, op: UnaryOp, x: Tensor): Tensor {
  const y = empty(ctx, x.shape);
  ctx.run(kernel, "forward", {
    buffers: [x, y],
    params: [x.size],
    groups: groups1d(elementGroups(x.size)),
    overrides: { OP: UNARY[op] },
  });
  return record(ctx, op, [x], y, (gy) => {
    const gx = empty(ctx, x.shape);
    ctx.run(kernel, "backward", {
      buffers: [x, null, gy, gx],
      params: [x.size],
      groups: groups1d(elementGroups(x.size)),
      overrides: { OP: UNARY[op] },
    });
    return [gx];
  });
}

export const silu = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "silu", x);
export const gelu = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "gelu", x);
export const exp = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "exp", x);
export const log = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "log", x);
export const sqrt = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "sqrt", x);
export const tanh = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "tanh", x);
export const sigmoid = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "sigmoid", x);
export const relu = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "relu", x);
export const square = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "square", x);
export const quickGelu = (ctx: GpuContext, x: Tensor): Tensor => unary(ctx, "quick_gelu", x);
