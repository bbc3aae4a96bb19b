// Samplers that work in sigma space, as float64 coefficients of one linear update per step:
//   dpmsolver++  diffusers' DPMSolverMultistepScheduler with its defaults: algorithm_type
//                "dpmsolver++", solver_order 2, solver_type "midpoint", lower_order_final,
//                final_sigmas_type "zero" (DPM-Solver++(2M), Lu et al. 2022)
//   euler        diffusers' EulerDiscreteScheduler with its defaults (s_churn 0, interpolation
//                "linear", final_sigmas_type "zero"): first order, so DDIM's update on Euler's grid
// Both read timestep_spacing, steps_offset, prediction_type and the zero-SNR rescale from the
// model's scheduler config (as diffusers' from_config does). With clip_sample (pixel-space models, as
// the shipped bases), DPM-Solver++ clips its x0 to [-r, r]: diffusers' thresholding = true with its
// default sample_max_value 1 does exactly that for r = 1 (s = clamp(quantile, 1, 1) = 1), and without
// it the unclipped x0 of an epsilon model at high noise ruins the second-order steps (docs/SAMPLERS.md).
// Euler never clips (diffusers' Euler has no such option). Notation, per noise level: sigma = sqrt((1 - abar) / abar) (the VE
// sigma), alpha = 1 / sqrt(1 + sigma^2) = sqrt(abar), sigma_vp = sigma * alpha = sqrt(1 - abar),
// lambda = log(alpha / sigma_vp) = -log(sigma). The sampler state is the VP sample x (diffusers'
// Euler keeps x_ve = x / alpha; the same iterates, rescaled).
// One step, with out the model output at x (eps or v):
//   x0   = xX * x + xOut * out, clipped to [-clip, clip] when clip > 0   (convert_model_output)
//   next = cX * x + c0 * x0 + c1 * x0_prev          (first order: c1 = 0)
// DPM-Solver++ first order:  next = (sigma_vp' / sigma_vp) x + alpha' (1 - e^-h) x0, h = lambda' - lambda
// second order (midpoint):   D1 = (x0 - x0_prev) / r0, r0 = h_prev / h,
//                            next = (sigma_vp' / sigma_vp) x + alpha' (1 - e^-h) (x0 + D1 / 2)
// with e^-h = sigma' / sigma; the last step (sigma' = 0) returns x0.
import type { NoiseSchedule } from "./schedule.ts";
import { roundHalfEven } from "./schedule.ts";

export type MultistepKind = "dpmsolver++" | "euler";

export interface MultistepCoefs {
  /** The timestep the model sees (Euler with linspace spacing: fractional). */
  t: number;
  /** VE sigma at t and at the next level (0 after the last step). */
  sigma: number;
  sigmaNext: number;
  /** 1 or 2 (DPM-Solver++'s first step and last step are first order). */
  order: 1 | 2;
  xX: number;
  xOut: number;
  /** Clip x0 to [-clip, clip] (0: off). */
  clip: number;
  cX: number;
  c0: number;
  c1: number;
}

export interface MultistepPlan {
  steps: MultistepCoefs[];
  /** The first sample is initScale * N(0, I) (Euler: init_noise_sigma / sqrt(sigma_0^2 + 1)). */
  initScale: number;
}

/** VE sigma per training timestep, as diffusers' tables (abar[T - 1] = 2^-24 under the zero-SNR rescale). */
export function sigmaTable(s: NoiseSchedule): Float64Array {
  const T = s.T, zero = s.config.rescale_betas_zero_snr;
  return Float64Array.from({ length: T }, (_, t) => {
    const a = zero && t === T - 1 ? 2 ** -24 : s.alphasCumprod[t];
    return Math.sqrt((1 - a) / a);
  });
}

/** DPMSolverMultistepScheduler.set_timesteps (lambda_min_clipped -inf): n descending integers. */
export function dpmTimesteps(s: NoiseSchedule, n: number): number[] {
  const T = s.T;
  checkSteps(n, T);
  const spacing = s.config.timestep_spacing;
  let ts: number[];
  if (spacing === "linspace") {
    // np.linspace(0, T - 1, n + 1).round()[::-1][:-1] (numpy: i * step, the last exactly T - 1)
    const step = (T - 1) / n;
    ts = Array.from({ length: n + 1 }, (_, i) => roundHalfEven(i === n ? T - 1 : i * step)).reverse().slice(
      0,
      n,
    );
  } else if (spacing === "leading") {
    // (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1] + steps_offset
    const ratio = Math.floor(T / (n + 1));
    ts = Array.from({ length: n }, (_, i) => (n - i) * ratio + s.config.steps_offset);
  } else {
    // np.arange(T, 0, -T / n).round() - 1
    ts = Array.from({ length: n }, (_, i) => roundHalfEven(T - i * (T / n)) - 1);
  }
  return ts;
}

/** EulerDiscreteScheduler.set_timesteps: n descending timesteps (linspace: not rounded). */
export function eulerTimesteps(s: NoiseSchedule, n: number): number[] {
  const T = s.T;
  checkSteps(n, T);
  const spacing = s.config.timestep_spacing;
  if (spacing === "linspace") {
    // np.linspace(0, T - 1, n)[::-1] (numpy: i * step, the last exactly T - 1)
    const step = n === 1 ? 0 : (T - 1) / (n - 1);
    return Array.from({ length: n }, (_, i) => i === 0 && n > 1 ? T - 1 : (n - 1 - i) * step);
  }
  if (spacing === "leading") {
    const ratio = Math.floor(T / n);
    return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + s.config.steps_offset);
  }
  return Array.from({ length: n }, (_, i) => roundHalfEven(T - i * (T / n)) - 1);
}

function checkSteps(n: number, T: number) {
  if (!Number.isInteger(n) || n < 1 || n >= T) {
    throw new Error(`timesteps: num_inference_steps = ${n} must be an integer in [1, ${T - 1}]`);
  }
}

/** np.interp(t, arange(T), table) for t in [0, T - 1]. */
function interp(table: Float64Array, t: number): number {
  const i = Math.min(Math.floor(t), table.length - 2), w = t - i;
  return w === 0 ? table[i] : (1 - w) * table[i] + w * table[i + 1];
}

/** The model output read as x0 at VE sigma (convert_model_output, data prediction). */
function x0Coefs(s: NoiseSchedule, sigma: number): { xX: number; xOut: number } {
  const alpha = 1 / Math.sqrt(1 + sigma * sigma), svp = sigma * alpha;
  return s.config.prediction_type === "v_prediction"
    ? { xX: alpha, xOut: -svp }
    : { xX: 1 / alpha, xOut: -sigma };
}

/** DPM-Solver++(2M) as DPMSolverMultistepScheduler with its default settings. */
export function dpmSolverPlan(s: NoiseSchedule, n: number): MultistepPlan {
  const table = sigmaTable(s);
  const ts = dpmTimesteps(s, n);
  const sig = [...ts.map((t) => table[t]), 0];
  const clip = s.config.clip_sample ? s.config.clip_sample_range : 0;
  const steps = ts.map((t, i): MultistepCoefs => {
    const sg = sig[i], next = sig[i + 1];
    const alphaNext = 1 / Math.sqrt(1 + next * next);
    const cX = (next * alphaNext) / (sg / Math.sqrt(1 + sg * sg)); // sigma_vp' / sigma_vp
    const A = alphaNext * (1 - next / sg); // alpha' (1 - e^-h)
    // first order at the first step (no history) and the last (final_sigmas_type "zero")
    const order = i === 0 || i === n - 1 ? 1 : 2;
    let c0 = A, c1 = 0;
    if (order === 2) {
      const h = Math.log(sg / next), hPrev = Math.log(sig[i - 1] / sg), r0 = hPrev / h;
      c0 = A * (1 + 0.5 / r0);
      c1 = -A * 0.5 / r0;
    }
    return { t, sigma: sg, sigmaNext: next, order, ...x0Coefs(s, sg), clip, cX, c0, c1 };
  });
  return { steps, initScale: 1 };
}

/** EulerDiscreteScheduler with its default settings (s_churn 0). */
export function eulerPlan(s: NoiseSchedule, n: number): MultistepPlan {
  const table = sigmaTable(s);
  const ts = eulerTimesteps(s, n);
  const sig = [...ts.map((t) => interp(table, t)), 0];
  const steps = ts.map((t, i): MultistepCoefs => {
    const sg = sig[i], next = sig[i + 1];
    const alpha = 1 / Math.sqrt(1 + sg * sg), alphaNext = 1 / Math.sqrt(1 + next * next);
    return {
      t,
      sigma: sg,
      sigmaNext: next,
      order: 1,
      ...x0Coefs(s, sg),
      clip: 0,
      // x_ve' = x_ve + (x_ve - x0) / sigma * (sigma' - sigma), x_ve = x / alpha
      cX: (alphaNext / alpha) * (next / sg),
      c0: alphaNext * (1 - next / sg),
      c1: 0,
    };
  });
  // init_noise_sigma: max sigma for linspace / trailing spacing, sqrt(max^2 + 1) for leading
  const max = Math.max(...sig);
  const init = s.config.timestep_spacing === "leading" ? Math.sqrt(max * max + 1) : max;
  return { steps, initScale: init / Math.sqrt(1 + sig[0] * sig[0]) };
}

export function multistepPlan(kind: MultistepKind, s: NoiseSchedule, n: number): MultistepPlan {
  return kind === "dpmsolver++" ? dpmSolverPlan(s, n) : eulerPlan(s, n);
}
