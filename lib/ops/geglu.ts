// GEGLU (kernels/geglu.wgsl): diffusers' GEGLU after its projection, x: [..., 2D] -> [..., D].
import { groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext, record } from "./util.ts";

const kernel = new KernelFile("geglu.wgsl");

/** hidden, gate = x.chunk(2, -1); returns hidden * gelu(gate) (exact erf gelu). x: [..., 2D]. */
export function geglu(ctx: GpuContext, x: Tensor): Tensor {
  const D2 = x.shape[x.shape.length - 1];
  if (!(D2 > 0 && D2 % 2 === 0)) throw new Error(`geglu: last axis of ${x.describe()} must be even`);
  const D = D2 / 2, R = x.size / D2;
  const y = empty(ctx, [...x.shape.slice(0, -1), D]);
  const groups = groups1d(elementGroups(R * D));
  ctx.run(kernel, "forward", { buffers: [x, y], params: [R, D], groups });
  return record(ctx, "geglu", [x], y, (gy) => {
    const gx = empty(ctx, x.shape);
    ctx.run(kernel, "backward", { buffers: [x, null, gy, gx], params: [R, D], groups });
    return [gx];
  });
}
