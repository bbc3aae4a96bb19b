// Counter-based Gaussian and uniform draws on the GPU (kernels/rng.wgsl). Element i depends only
// on (seed, offset + i): the same numbers whatever the dispatch shape or batch split.
import { groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Shape, type Tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext } from "./util.ts";

const kernel = new KernelFile("rng.wgsl");

function draw(ctx: GpuContext, entry: string, shape: Shape, seed: number, offset: number): Tensor {
  const y = empty(ctx, shape);
  if (offset + y.size > 2 ** 32) {
    throw new Error(`rng: offset ${offset} + ${y.size} overflows the 32-bit counter`);
  }
  ctx.run(kernel, entry, {
    buffers: [y],
    params: [y.size, seed >>> 0, offset >>> 0],
    groups: groups1d(elementGroups(y.size)),
  });
  return y;
}

/** Standard normal samples. */
export const randn = (ctx: GpuContext, shape: Shape, seed: number, offset = 0): Tensor =>
  draw(ctx, "normal", shape, seed, offset);

/** Uniform samples in [0, 1). */
export const rand = (ctx: GpuContext, shape: Shape, seed: number, offset = 0): Tensor =>
  draw(ctx, "uniform01", shape, seed, offset);
