// GEGLU (kernels/geglu.wgsl): diffusers' GEGLU after its projection, x: [..., 2D] -> [..., D].
import { MAX_GROUPS } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, record, WG } from "./util.ts";

const kernel = new KernelFile("geglu.wgsl");

/** hidden, gate = x.chunk(2, -1); returns hidden * gelu(gate) (exact erf gelu). x: [..., 2D]. */
export function geglu(ctx: GpuContext, x: Tensor): Tensor {
  const D2 = x.shape[x.shape.length - 1];
  if (!(D2 > 0 && D2 % 2 === 0)) throw new Error(`geglu: last axis of ${x.describe()} must be even`);
  const D = D2 / 2, R = x.size / D2;
  const y = empty(ctx, [...x.shape.slice(0, -1), D]);
  // grid [D / WG, rows], rows folded into z past 65,535
  const gy = Math.min(R, MAX_GROUPS), gz = Math.ceil(R / gy);
  if (gz > MAX_GROUPS || Math.ceil(D / WG) > MAX_GROUPS) throw new Error(`geglu: ${x.describe()} too large`);
  const groups: [number, number, number] = [Math.ceil(D / WG), gy, gz];
  ctx.run(kernel, "forward", { buffers: [x, y], params: [R, D], groups });
  return record(ctx, "geglu", [x], y, (gy) => {
    const gx = empty(ctx, x.shape);
    ctx.run(kernel, "backward", { buffers: [x, null, gy, gx], params: [R, D], groups });
    return [gx];
  });
}
