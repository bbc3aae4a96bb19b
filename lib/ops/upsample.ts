// Nearest-neighbour 2x upsample (kernels/upsample.wgsl), as F.interpolate(scale_factor=2, "nearest").
import { groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext, record } from "./util.ts";

const kernel = new KernelFile("upsample.wgsl");

/** x: [B, C, H, W] -> [B, C, 2H, 2W]; the gradient of an input pixel is the sum of its 2x2 block. */
export function upsampleNearest2x(ctx: GpuContext, x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`upsampleNearest2x: ${x.describe()} is not [B, C, H, W]`);
  const [B, C, H, W] = x.shape;
  const params = [B * C, H, W];
  const y = empty(ctx, [B, C, 2 * H, 2 * W]);
  ctx.run(kernel, "forward", { buffers: [x, y], params, groups: groups1d(elementGroups(y.size)) });
  return record(ctx, "upsampleNearest2x", [x], y, (gy) => {
    const gx = empty(ctx, x.shape);
    ctx.run(kernel, "backward", {
      buffers: [null, null, gy, gx],
      params,
      groups: groups1d(elementGroups(x.size)),
    });
    return [gx];
  });
}
