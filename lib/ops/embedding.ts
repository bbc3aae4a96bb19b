// Sinusoidal timestep embedding (kernels/embedding.wgsl), diffusers' get_timestep_embedding.
import { f32bits, groups1d } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor, tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext } from "./util.ts";

const kernel = new KernelFile("embedding.wgsl");

export interface TimestepEmbeddingOptions {
  /** [cos, sin] instead of [sin, cos] (diffusers' flip_sin_to_cos; default false). */
  flipSinToCos?: boolean;
  /** diffusers' downscale_freq_shift (default 1). */
  freqShift?: number;
  /** default 10000 */
  maxPeriod?: number;
}

/**
 * timesteps [B] (host numbers) -> [B, dim]. Not differentiable (a constant input of the network):
 * the result is a plain tensor that never needs a gradient, so the tape is left untouched.
 */
export function timestepEmbedding(
  ctx: GpuContext,
  timesteps: ArrayLike<number>,
  dim: number,
  opts: TimestepEmbeddingOptions = {},
): Tensor {
  const { flipSinToCos = false, freqShift = 1, maxPeriod = 10000 } = opts;
  const B = timesteps.length, half = Math.floor(dim / 2);
  if (!(Number.isInteger(dim) && dim >= 1)) throw new Error(`timestepEmbedding: dim ${dim} is not >= 1`);
  if (half > 0 && half === freqShift) {
    throw new Error(`timestepEmbedding: half dim ${half} minus freqShift ${freqShift} is zero`);
  }
  const out = empty(ctx, [B, dim]);
  if (!B) return out;
  const t = tensor(ctx, Float32Array.from(timesteps), [B]);
  ctx.run(kernel, "forward", {
    buffers: [t, out],
    params: [B, dim, half, flipSinToCos ? 1 : 0, f32bits(freqShift), f32bits(Math.log(maxPeriod))],
    groups: groups1d(elementGroups(B * dim)),
  });
  t.dispose();
  return out;
}
