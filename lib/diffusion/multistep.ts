// A multistep sampler in sigma space, as float64 coefficients of one linear update per step:
//   dpmsolver++  diffusers' DPMSolverMultistepScheduler with its defaults: algorithm_type
//                "dpmsolver++", solver_order 2, solver_type "midpoint", lower_order_final,
//                final_sigmas_type "zero" (DPM-Solver++(2M), Lu et al. 2022)
// (Euler is a one-step update: lib/diffusion/steps.ts.) It reads timestep_spacing, steps_offset, prediction_type and the zero-SNR rescale from the
// model's scheduler config (as diffusers' from_config does). With clip_sample (pixel-space models, as
// the shipped bases), DPM-Solver++ clips its x0 to [-r, r]: diffusers' thresholding = true with its
// default sample_max_value 1 does exactly that for r = 1 (s = clamp(quantile, 1, 1) = 1), and without
// it the unclipped x0 of an epsilon model at high noise ruins the second-order steps (docs/SAMPLERS.md).
// Notation, per noise level: sigma = sqrt((1 - abar) / abar) (the VE
// sigma), alpha = 1 / sqrt(1 + sigma^2) = sqrt(abar), sigma_vp = sigma * alpha = sqrt(1 - abar),
// lambda = log(alpha / sigma_vp) = -log(sigma). The sampler state is the VP sample x.
// One step, with out the model output at x (eps or v):
//   x0   = xX * x + xOut * out, clipped to [-clip, clip] when clip > 0   (convert_model_output)
//   next = cX * x + c0 * x0 + c1 * x0_prev          (first order: c1 = 0)
// DPM-Solver++ first order:  next = (sigma_vp' / sigma_vp) x + alpha' (1 - e^-h) x0, h = lambda' - lambda
// second order (midpoint):   D1 = (x0 - x0_prev) / r0, r0 = h_prev / h,
//                            next = (sigma_vp' / sigma_vp) x + alpha' (1 - e^-h) (x0 + D1 / 2)
// with e^-h = sigma' / sigma; the last step (sigma' = 0) returns x0.
import type { NoiseSchedule } from "./schedule.ts";
import { roundHalfEven } from "./schedule.ts";

export type MultistepKind = "dpmsolver++";

export interface MultistepCoefs {
  /** The timestep the model sees. */
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
  /** The first sample is initScale * N(0, I). */
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

function checkSteps(n: number, T: number) {
  if (!Number.isInteger(n) || n < 1 || n >= T) {
    throw new Error(`timesteps: num_inference_steps = ${n} must be an integer in [1, ${T - 1}]`);
  }
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

export function multistepPlan(kind: MultistepKind, s: NoiseSchedule, n: number): MultistepPlan {
  if (kind !== "dpmsolver++") throw new Error(`multistep: unknown sampler "${kind}"`);
  return dpmSolverPlan(s, n);
}
