// Forward diffusion and the epsilon-prediction objective, as compositions of existing GPU ops.
//   x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * eps, one t per example.
import type { GpuContext } from "../gpu/context.ts";
import { add, mul } from "../ops/binary.ts";
import { mseRows } from "../ops/reduce.ts";
import { randn } from "../ops/rng.ts";
import { concat } from "../ops/copy.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import type { Rng } from "../util/rng.ts";
import type { NoiseSchedule } from "./schedule.ts";

/** Per-example coefficients as [B, 1, ..., 1] tensors matching x's rank. */
export function noiseCoefTensors(
  ctx: GpuContext,
  s: NoiseSchedule,
  timesteps: readonly number[],
  rank: number,
): [Tensor, Tensor] {
  const shape = [timesteps.length, ...new Array(rank - 1).fill(1)];
  const a = timesteps.map((t) => s.noiseCoefs(t)[0]), b = timesteps.map((t) => s.noiseCoefs(t)[1]);
  return [tensor(ctx, a, shape), tensor(ctx, b, shape)];
}

/** x0, eps: [B, C, H, W] (any rank >= 1 with batch first); timesteps: B integers. -> x_t, same shape. */
export function addNoise(
  ctx: GpuContext,
  s: NoiseSchedule,
  x0: Tensor,
  eps: Tensor,
  timesteps: readonly number[],
): Tensor {
  if (timesteps.length !== x0.shape[0]) {
    throw new Error(`addNoise: ${timesteps.length} timesteps for batch ${x0.describe()}`);
  }
  const [ca, cb] = noiseCoefTensors(ctx, s, timesteps, x0.shape.length);
  const p = mul(ctx, x0, ca), q = mul(ctx, eps, cb);
  const xt = add(ctx, p, q);
  if (!ctx.gradEnabled || !xt.requiresGrad) { for (const t of [ca, cb, p, q]) t.dispose(); }
  return xt;
}

/** Per-example epsilon loss: mean over (C, H, W) of (pred - eps)^2. [B, ...] x [B, ...] -> [B]. */
export function epsErrors(ctx: GpuContext, pred: Tensor, eps: Tensor): Tensor {
  return mseRows(ctx, pred, eps);
}

/** B training timesteps drawn uniformly from {0 .. T-1}. */
export function sampleTimesteps(rng: Rng, batch: number, T: number): number[] {
  return Array.from({ length: batch }, () => rng.int(T));
}

/**
 * Gaussian noise [B, ...shape] where example i comes from its own counter stream (seeds[i], offset):
 * the numbers of an example do not depend on the batch it sits in.
 */
export function noiseFor(
  ctx: GpuContext,
  seeds: readonly number[],
  shape: readonly number[],
  offset = 0,
): Tensor {
  const parts = seeds.map((sd) => randn(ctx, [1, ...shape], sd, offset));
  if (parts.length === 1) return parts[0];
  const out = ctx.noGrad(() => concat(ctx, parts, 0));
  for (const p of parts) p.dispose();
  return out;
}

/** Classifier-free-guidance training: each prompt is replaced by "" with probability p. */
export function dropPrompts(texts: readonly string[], p: number, rng: Rng): string[] {
  return texts.map((t) => (rng.uniform() < p ? "" : t));
}
