// A float64 re-implementation of the sampling loop, written from diffusers' DDIMScheduler.step /
// DDPMScheduler.step formulas (not from lib/diffusion/steps.ts), for the regression tests.
import { randnRef } from "../../lib/ref/rng.ts";

export interface RefLoopOptions {
  kind: "ddim" | "ddpm";
  /** Descending timesteps (from the schedule under test, checked separately). */
  timesteps: number[];
  alphasCumprod: Float64Array;
  T: number;
  eta: number;
  setAlphaToOne: boolean;
  clip: number;
  varianceType: "fixed_small" | "fixed_large";
  seeds: number[];
  per: number;
  /** The model output (eps, or v with prediction v_prediction) for one example (float64). */
  eps: (x: Float64Array, t: number, example: number) => Float64Array;
  /** diffusers' prediction_type (default epsilon). */
  prediction?: "epsilon" | "v_prediction";
  /** DDIM: diffusers' use_clipped_model_output (eps recomputed from the clipped x0). */
  clippedEps?: boolean;
}

export function refLoop(o: RefLoopOptions): Float64Array[] {
  const n = o.timesteps.length;
  const acp = o.alphasCumprod;
  const clamp = (v: number) => (o.clip > 0 ? Math.min(o.clip, Math.max(-o.clip, v)) : v);
  // diffusers' DDIMScheduler.step / DDPMScheduler.step: pred_original_sample (before clipping) and
  // pred_epsilon from the model output, per prediction_type.
  const x0Of = (x: number, out: number, at: number) =>
    o.prediction === "v_prediction"
      ? Math.sqrt(at) * x - Math.sqrt(1 - at) * out
      : (x - Math.sqrt(1 - at) * out) / Math.sqrt(at);
  const epsOf = (x: number, out: number, at: number) =>
    o.prediction === "v_prediction" ? Math.sqrt(at) * out + Math.sqrt(1 - at) * x : out;
  return o.seeds.map((seed, b) => {
    let x = randnRef(o.per, seed, 0);
    o.timesteps.forEach((t, k) => {
      const e = o.eps(x, t, b);
      const noise = randnRef(o.per, seed, (k + 1) * o.per);
      const out = new Float64Array(o.per);
      if (o.kind === "ddim") {
        const prev = t - Math.floor(o.T / n);
        const at = acp[t], ap = prev >= 0 ? acp[prev] : (o.setAlphaToOne ? 1 : acp[0]);
        const bt = 1 - at;
        const variance = ((1 - ap) / bt) * (1 - at / ap);
        const std = o.eta * Math.sqrt(variance);
        for (let i = 0; i < o.per; i++) {
          const x0 = clamp(x0Of(x[i], e[i], at));
          const eps = o.clippedEps && o.clip > 0
            ? (x[i] - Math.sqrt(at) * x0) / Math.sqrt(bt)
            : epsOf(x[i], e[i], at);
          const dir = Math.sqrt(1 - ap - std * std) * eps;
          out[i] = Math.sqrt(ap) * x0 + dir + (o.eta > 0 ? std * noise[i] : 0);
        }
      } else {
        const prev = o.timesteps[k + 1] ?? -1;
        const at = acp[t], ap = prev >= 0 ? acp[prev] : 1;
        const bt = 1 - at, bp = 1 - ap;
        const curA = at / ap, curB = 1 - curA;
        let variance = o.varianceType === "fixed_large" ? curB : Math.max(bp / bt * curB, 1e-20);
        if (t === 0) variance = 0;
        for (let i = 0; i < o.per; i++) {
          const x0 = clamp(x0Of(x[i], e[i], at));
          const mean = (Math.sqrt(ap) * curB / bt) * x0 + (Math.sqrt(curA) * bp / bt) * x[i];
          out[i] = mean + Math.sqrt(variance) * noise[i];
        }
      }
      x = out;
    });
    return x;
  });
}

export interface RefMultistepOptions {
  kind: "dpmsolver++" | "euler";
  /** Descending timesteps (from the schedule under test, checked separately). */
  timesteps: number[];
  alphasCumprod: Float64Array;
  /** rescale_betas_zero_snr: diffusers then sets alphas_cumprod[-1] = 2^-24. */
  zeroSnr: boolean;
  /** Euler's init_noise_sigma rule depends on it. */
  spacing: "leading" | "trailing" | "linspace";
  /** DPM-Solver++: thresholding = true with sample_max_value 1 (s = clamp(quantile, 1, 1) = 1) clips x0. */
  clip: number;
  seeds: number[];
  per: number;
  eps: (x: Float64Array, t: number, example: number) => Float64Array;
  prediction?: "epsilon" | "v_prediction";
}

/**
 * A float64 transcription of diffusers' DPMSolverMultistepScheduler.step (dpmsolver++, order 2,
 * midpoint, lower_order_final, final_sigmas_type zero: sigmas, lambdas via logs, model_outputs list)
 * and EulerDiscreteScheduler.step (s_churn 0, in diffusers' VE space: x = noise * init_noise_sigma,
 * model input x / sqrt(sigma^2 + 1)), written from their code, not from lib/diffusion/multistep.ts.
 */
export function refMultistepLoop(o: RefMultistepOptions): Float64Array[] {
  const acp = Float64Array.from(o.alphasCumprod);
  if (o.zeroSnr) acp[acp.length - 1] = 2 ** -24;
  const table = Array.from(acp, (a) => Math.sqrt((1 - a) / a));
  const interp = (t: number) => {
    const i = Math.min(Math.floor(t), table.length - 2), w = t - i;
    return (1 - w) * table[i] + w * table[i + 1];
  };
  const sigmas = [...o.timesteps.map(interp), 0];
  const n = o.timesteps.length;
  const v = o.prediction === "v_prediction";
  const toAlphaSigma = (s: number) => [1 / Math.sqrt(s * s + 1), s / Math.sqrt(s * s + 1)];
  return o.seeds.map((seed, b) => {
    let x = randnRef(o.per, seed, 0);
    if (o.kind === "euler") {
      const max = Math.max(...sigmas);
      const init = o.spacing === "linspace" || o.spacing === "trailing" ? max : Math.sqrt(max * max + 1);
      x = x.map((val) => val * init);
      o.timesteps.forEach((t, i) => {
        const sg = sigmas[i];
        const input = x.map((val) => val / Math.sqrt(sg * sg + 1));
        const out = o.eps(input, t, b);
        x = x.map((val, j) => {
          const x0 = v ? out[j] * (-sg / Math.sqrt(sg * sg + 1)) + val / (sg * sg + 1) : val - sg * out[j];
          const derivative = (val - x0) / sg;
          return val + derivative * (sigmas[i + 1] - sg);
        });
      });
      return x;
    }
    const outputs: (Float64Array | null)[] = [null, null];
    let lowerOrderNums = 0;
    o.timesteps.forEach((t, i) => {
      const lowerOrderFinal = i === n - 1; // final_sigmas_type "zero"
      const [at, st] = toAlphaSigma(sigmas[i]);
      const out = o.eps(x, t, b);
      const raw = x.map((val, j) => v ? at * val - st * out[j] : (val - st * out[j]) / at);
      // _threshold_sample with sample_max_value = clip: s = clamp(quantile(|x0|), 1, clip) = clip (clip = 1)
      const x0 = o.clip > 0 ? raw.map((val) => Math.min(o.clip, Math.max(-o.clip, val))) : raw;
      outputs[0] = outputs[1];
      outputs[1] = x0;
      const [aT, sT] = toAlphaSigma(sigmas[i + 1]), [aS0, sS0] = toAlphaSigma(sigmas[i]);
      const lambdaT = Math.log(aT) - Math.log(sT), lambdaS0 = Math.log(aS0) - Math.log(sS0);
      const h = lambdaT - lambdaS0;
      if (lowerOrderNums < 1 || lowerOrderFinal) {
        x = x.map((val, j) => (sT / sS0) * val - aT * (Math.exp(-h) - 1) * x0[j]);
      } else {
        const [aS1, sS1] = toAlphaSigma(sigmas[i - 1]);
        const lambdaS1 = Math.log(aS1) - Math.log(sS1);
        const r0 = (lambdaS0 - lambdaS1) / h;
        const m0 = outputs[1]!, m1 = outputs[0]!;
        x = x.map((val, j) => {
          const D0 = m0[j], D1 = (1 / r0) * (m0[j] - m1[j]);
          return (sT / sS0) * val - aT * (Math.exp(-h) - 1) * D0 - 0.5 * aT * (Math.exp(-h) - 1) * D1;
        });
      }
      if (lowerOrderNums < 2) lowerOrderNums++;
    });
    return x;
  });
}
