// y = alpha * x + beta, and in-place accumulation acc += alpha * x (kernels/scale.wgsl).
import { f32bits, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, shapeStr, type Tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext, record } from "./util.ts";

const kernel = new KernelFile("scale.wgsl");

export function scale(ctx: GpuContext, x: Tensor, alpha: number, beta = 0): Tensor {
  const y = empty(ctx, x.shape);
  ctx.run(kernel, "forward", {
    buffers: [x, y],
    params: [x.size, f32bits(alpha), f32bits(beta)],
    groups: groups1d(elementGroups(x.size)),
  });
  return record(ctx, "scale", [x], y, (gy) => [scale(ctx, gy, alpha)]);
}

/** acc += alpha * x, in place (no tape: used for gradient accumulation and EMA-like updates). */
export function accumulate(ctx: GpuContext, acc: Tensor, x: Tensor, alpha = 1) {
  if (acc.size !== x.size) {
    throw new Error(`accumulate: ${acc.describe()} and ${x.describe()} differ in size`);
  }
  ctx.run(kernel, "accumulate", {
    buffers: [x, null, acc],
    params: [x.size, f32bits(alpha), 0],
    groups: groups1d(elementGroups(x.size)),
  });
}

export { shapeStr };
