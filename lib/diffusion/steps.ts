// One reverse step of DDIM, DDPM or Euler (diffusers' DDIMScheduler / DDPMScheduler /
// EulerDiscreteScheduler.step), as float64 coefficients plus a GPU composition of existing ops. The
// model sees inScale * x (Euler's scale_model_input; 1 otherwise), and its output `out` is first read
// as estimates of x0 and eps (by prediction_type, NoiseSchedule.outputCoefs):
//   x0   = xX * x + xOut * out, optionally clipped to [-r, r]   (epsilon: (x - sqrt(1-a) out) / sqrt(a))
//   eps  = eX * x + eOut * out                                  (epsilon: out; diffusers does not
//                                                                 recompute it from the clipped x0)
//   prev = c0 * x0 + cEps * eps + cX * x + std * noise
// Euler keeps x in sigma space (x = x0 + sigma eps): c0 = 1, cEps = sigma_next, so prev = x +
// (sigma_next - sigma_t) eps, its step with s_churn = 0.
import type { GpuContext } from "../gpu/context.ts";
import { relu } from "../ops/unary.ts";
import { accumulate, scale } from "../ops/scale.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { NoiseSchedule } from "./schedule.ts";

export type SamplerKind = "ddim" | "ddpm" | "euler";

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
  /** The model is called on inScale * x (Euler: 1 / sqrt(sigma^2 + 1)). */
  inScale: number;
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
    inScale: 1,
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
    inScale: 1,
  };
}

/** sigma_t = sqrt((1 - abar_t) / abar_t), linearly interpolated between integer t (np.interp). */
export function sigmaAt(s: NoiseSchedule, t: number): number {
  if (!(t >= 0 && t <= s.T - 1)) throw new Error(`timestep ${t} is outside [0, ${s.T - 1}]`);
  const sig = (i: number) => Math.sqrt((1 - s.alphasCumprod[i]) / s.alphasCumprod[i]);
  const lo = Math.floor(t), hi = Math.min(lo + 1, s.T - 1);
  return lo === t ? sig(lo) : sig(lo) + (t - lo) * (sig(hi) - sig(lo));
}

/**
 * EulerDiscreteScheduler's timesteps for n steps: as DDIM's for "leading" and "trailing"; for
 * "linspace" np.linspace(0, T - 1, n)[::-1] unrounded (the model then sees fractional timesteps).
 */
export function eulerTimesteps(s: NoiseSchedule, n: number): number[] {
  if (s.config.timestep_spacing !== "linspace") return s.timesteps(n);
  s.timesteps(n); // validates n
  return Array.from({ length: n }, (_, i) => n === 1 ? 0 : (s.T - 1) * (n - 1 - i) / (n - 1));
}

/**
 * Euler steps (s_churn = 0, final sigma 0) and the init_noise_sigma diffusers scales x_T by. The
 * output is read as diffusers' Euler does: epsilon x0 = x - sigma out; v_prediction
 * x0 = x / (sigma^2 + 1) - sigma out / sqrt(sigma^2 + 1); eps = (x - x0) / sigma either way.
 */
export function eulerPlan(
  s: NoiseSchedule,
  n: number,
): { plan: StepCoefs[]; initSigma: number; sigmas: number[] } {
  if (s.config.rescale_betas_zero_snr) {
    throw new Error("sampler euler: rescale_betas_zero_snr gives an infinite first sigma; use ddim or ddpm");
  }
  const ts = eulerTimesteps(s, n);
  const sigmas = [...ts.map((t) => sigmaAt(s, t)), 0];
  const max = Math.max(...sigmas);
  const initSigma = s.config.timestep_spacing === "leading" ? Math.sqrt(max * max + 1) : max;
  const v = s.config.prediction_type === "v_prediction";
  const plan = ts.map((t, i) => {
    const sg = sigmas[i], q = Math.sqrt(sg * sg + 1);
    const xX = v ? 1 / (q * q) : 1, xOut = v ? -sg / q : -sg;
    return {
      t,
      prevT: ts[i + 1] ?? -1,
      sqrtA: 1 / q,
      sqrtOneMinusA: sg / q,
      xX,
      xOut,
      eX: (1 - xX) / sg,
      eOut: -xOut / sg,
      c0: 1,
      cEps: sigmas[i + 1],
      cX: 0,
      std: 0,
      inScale: 1 / q,
    };
  });
  return { plan, initSigma, sigmas };
}

/**
 * Coefficients of every step of an n-step run. The previous timestep follows diffusers: DDIM uses
 * t - T // n; DDPM uses the next entry of the timestep list (-1 after the last).
 */
export function stepPlan(kind: SamplerKind, s: NoiseSchedule, nSteps: number, eta = 0): StepCoefs[] {
  if (kind === "euler") return eulerPlan(s, nSteps).plan;
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

/** x0 = xX * x + xOut * out, clipped to [-clip, clip] when clip > 0. x, out: any shape. */
export function predictX0(ctx: GpuContext, c: StepCoefs, x: Tensor, out: Tensor, clip = 0): Tensor {
  return ctx.noGrad(() => {
    const x0 = scale(ctx, x, c.xX);
    accumulate(ctx, x0, out, c.xOut);
    if (clip <= 0) return x0;
    const k = clampSym(ctx, x0, clip);
    x0.dispose();
    return k;
  });
}

/**
 * Applies one step: x, out (the model output: eps or v): [B, C, H, W]; noise: same shape, or null when
 * c.std is 0. clip: the x0 clip range (0: off). clippedEps: take eps from the clipped x0,
 * eps = (x - sqrt(a) x0) / sqrt(1 - a), as diffusers' DDIMScheduler.step(use_clipped_model_output=True),
 * so that the step stays on the line between x and the clipped x0. Returns a new tensor; no gradients.
 */
export function applyStep(
  ctx: GpuContext,
  c: StepCoefs,
  x: Tensor,
  out: Tensor,
  noise: Tensor | null,
  clip = 0,
  clippedEps = false,
): Tensor {
  return ctx.noGrad(() => {
    const x0 = predictX0(ctx, c, x, out, clip);
    let prev: Tensor;
    if (clip > 0 && clippedEps && c.cEps && c.sqrtOneMinusA > 0) {
      // cEps * (x - sqrtA x0) / sqrt(1 - a): x0's and x's coefficients change; out is not used.
      prev = scale(ctx, x0, c.c0 - c.cEps * c.sqrtA / c.sqrtOneMinusA);
      accumulate(ctx, prev, x, c.cX + c.cEps / c.sqrtOneMinusA);
    } else {
      prev = scale(ctx, x0, c.c0);
      // cEps * eps = cEps * (eX * x + eOut * out): the x part joins cX.
      if (c.cEps && c.eOut) accumulate(ctx, prev, out, c.cEps * c.eOut);
      const cx = c.cX + c.cEps * c.eX;
      if (cx) accumulate(ctx, prev, x, cx);
    }
    x0.dispose();
    if (c.std > 0) {
      if (!noise) throw new Error(`applyStep: t=${c.t} needs noise (std ${c.std})`);
      accumulate(ctx, prev, noise, c.std);
    }
    return prev;
  });
}
