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
