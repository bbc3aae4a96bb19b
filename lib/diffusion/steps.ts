// One reverse step of DDIM or DDPM (diffusers' DDIMScheduler.step / DDPMScheduler.step), as float64
// coefficients plus a GPU composition of existing ops. The model output `out` is first read as
// estimates of x0 and eps (by prediction_type, NoiseSchedule.outputCoefs):
//   x0   = xX * x + xOut * out, optionally clipped to [-r, r]   (epsilon: (x - sqrt(1-a) out) / sqrt(a))
//   eps  = eX * x + eOut * out                                  (epsilon: out; diffusers does not
//                                                                 recompute it from the clipped x0)
//   prev = c0 * x0 + cEps * eps + cX * x + std * noise
import type { GpuContext } from "../gpu/context.ts";
import { relu } from "../ops/unary.ts";
import { accumulate, scale } from "../ops/scale.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { NoiseSchedule } from "./schedule.ts";

export type SamplerKind = "ddim" | "ddpm";

export interface StepCoefs {
  t: number;
  prevT: number;
  /** sqrt(a_t) and sqrt(1 - a_t). */
  sqrtA: number;
  sqrtOneMinusA: number;
  /** The model output as estimates: x0 = xX * x + xOut * out, eps = eX * x + eOut * out. */
  xX: number;
  xOut: number;
  eX: number;
  eOut: number;
  c0: number;
  cEps: number;
  cX: number;
  /** Standard deviation of the added noise (0: none is drawn). */
  std: number;
}

/**
 * DDIM step coefficients (formula 12 of the DDIM paper, as diffusers): eta = 0 is deterministic,
 * eta = 1 matches DDPM's posterior variance.
 */
export function ddimCoefs(s: NoiseSchedule, t: number, prevT: number, eta: number): StepCoefs {
  const a = s.alphaProd(t), aPrev = s.alphaProd(prevT);
  const variance = (1 - aPrev) / (1 - a) * (1 - a / aPrev);
  const std = eta * Math.sqrt(variance);
  return {
    t,
    prevT,
    sqrtA: Math.sqrt(a),
    sqrtOneMinusA: Math.sqrt(1 - a),
    ...s.outputCoefs(t),
    c0: Math.sqrt(aPrev),
    cEps: Math.sqrt(Math.max(0, 1 - aPrev - std * std)),
    cX: 0,
    std,
  };
}

/** DDPM step coefficients (posterior mean; variance "fixed_small" or "fixed_large"). */
export function ddpmCoefs(s: NoiseSchedule, t: number, prevT: number): StepCoefs {
  const a = s.alphaProd(t), aPrev = s.alphaProd(prevT, 1);
  const alphaT = a / aPrev, betaT = 1 - alphaT;
  let variance = 0;
  if (t > 0) {
    variance = s.config.variance_type === "fixed_large"
      ? betaT
      : Math.max((1 - aPrev) / (1 - a) * betaT, 1e-20);
  }
  return {
    t,
    prevT,
    sqrtA: Math.sqrt(a),
    sqrtOneMinusA: Math.sqrt(1 - a),
    ...s.outputCoefs(t),
    c0: Math.sqrt(aPrev) * betaT / (1 - a),
    cEps: 0,
    cX: Math.sqrt(alphaT) * (1 - aPrev) / (1 - a),
    std: Math.sqrt(variance),
  };
}

/**
 * Coefficients of every step of an n-step run. The previous timestep follows diffusers: DDIM uses
 * t - T // n; DDPM uses the next entry of the timestep list (-1 after the last).
 */
export function stepPlan(kind: SamplerKind, s: NoiseSchedule, nSteps: number, eta = 0): StepCoefs[] {
  const ts = s.timesteps(nSteps);
  return ts.map((t, i) =>
    kind === "ddim" ? ddimCoefs(s, t, s.prevTimestep(t, nSteps), eta) : ddpmCoefs(s, t, ts[i + 1] ?? -1)
  );
}

/** min(max(x, -r), r) = x - relu(x - r) + relu(-x - r), from existing kernels. x: any shape. */
export function clampSym(ctx: GpuContext, x: Tensor, r: number): Tensor {
  const hi = scale(ctx, x, 1, -r), lo = scale(ctx, x, -1, -r);
  const rh = relu(ctx, hi), rl = relu(ctx, lo);
  const y = scale(ctx, x, 1);
  accumulate(ctx, y, rh, -1);
  accumulate(ctx, y, rl, 1);
  for (const t of [hi, lo, rh, rl]) t.dispose();
  return y;
}

/**
 * Applies one step: x, out (the model output: eps or v): [B, C, H, W]; noise: same shape, or null when
 * c.std is 0. clip: the x0 clip range (0: off). Returns a new tensor; no gradients are recorded.
 */
export function applyStep(
  ctx: GpuContext,
  c: StepCoefs,
  x: Tensor,
  out: Tensor,
  noise: Tensor | null,
  clip = 0,
): Tensor {
  return ctx.noGrad(() => {
    let x0 = scale(ctx, x, c.xX);
    accumulate(ctx, x0, out, c.xOut);
    if (clip > 0) {
      const k = clampSym(ctx, x0, clip);
      x0.dispose();
      x0 = k;
    }
    const prev = scale(ctx, x0, c.c0);
    x0.dispose();
    // cEps * eps = cEps * (eX * x + eOut * out): the x part joins cX.
    if (c.cEps && c.eOut) accumulate(ctx, prev, out, c.cEps * c.eOut);
    const cx = c.cX + c.cEps * c.eX;
    if (cx) accumulate(ctx, prev, x, cx);
    if (c.std > 0) {
      if (!noise) throw new Error(`applyStep: t=${c.t} needs noise (std ${c.std})`);
      accumulate(ctx, prev, noise, c.std);
    }
    return prev;
  });
}
