// Forward diffusion and the training objective, as compositions of existing GPU ops.
//   x_t    = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * eps, one t per example
//   target = eps (prediction_type epsilon) or v = sqrt(abar_t) * eps - sqrt(1 - abar_t) * x0 (v_prediction)
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
  return coefTensors(ctx, timesteps.map((t) => s.noiseCoefs(t)), rank);
}

function coefTensors(ctx: GpuContext, coefs: readonly [number, number][], rank: number): [Tensor, Tensor] {
  const shape = [coefs.length, ...new Array(rank - 1).fill(1)];
  return [tensor(ctx, coefs.map((c) => c[0]), shape), tensor(ctx, coefs.map((c) => c[1]), shape)];
}

/** ca_i * a_i + cb_i * b_i per example i. a, b: [B, ...] (batch first); coefs: B pairs. */
function mixPerExample(
  ctx: GpuContext,
  a: Tensor,
  b: Tensor,
  coefs: readonly [number, number][],
  what: string,
): Tensor {
  if (coefs.length !== a.shape[0]) {
    throw new Error(`${what}: ${coefs.length} timesteps for batch ${a.describe()}`);
  }
  const [ca, cb] = coefTensors(ctx, coefs, a.shape.length);
  const p = mul(ctx, a, ca), q = mul(ctx, b, cb);
  const out = add(ctx, p, q);
  if (!ctx.gradEnabled || !out.requiresGrad) { for (const t of [ca, cb, p, q]) t.dispose(); }
  return out;
}

/** x0, eps: [B, C, H, W] (any rank >= 1 with batch first); timesteps: B integers. -> x_t, same shape. */
export function addNoise(
  ctx: GpuContext,
  s: NoiseSchedule,
  x0: Tensor,
  eps: Tensor,
  timesteps: readonly number[],
): Tensor {
  return mixPerExample(ctx, x0, eps, timesteps.map((t) => s.noiseCoefs(t)), "addNoise");
}

/**
 * What the network regresses onto at each example's timestep: eps itself for an epsilon model (the
 * same tensor is returned), v = sqrt(abar) * eps - sqrt(1 - abar) * x0 for v_prediction (a new one).
 * x0, eps: [B, ...]; -> [B, ...].
 */
export function trainingTarget(
  ctx: GpuContext,
  s: NoiseSchedule,
  x0: Tensor,
  eps: Tensor,
  timesteps: readonly number[],
): Tensor {
  if (s.config.prediction_type === "epsilon") return eps;
  return mixPerExample(ctx, x0, eps, timesteps.map((t) => s.targetCoefs(t)), "trainingTarget");
}

/** Per-example loss: mean over (C, H, W) of (pred - target)^2. [B, ...] x [B, ...] -> [B]. */
export function epsErrors(ctx: GpuContext, pred: Tensor, target: Tensor): Tensor {
  return mseRows(ctx, pred, target);
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
