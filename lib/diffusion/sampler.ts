// The sampling loop (DDIM, DDPM, DPM-Solver++(2M) or Euler) and classifier-free guidance. The model is
// any function that predicts epsilon (or v) for a batch at one timestep, so the loop is tested with a
// dummy model.
import type { GpuContext } from "../gpu/context.ts";
import { concat, slice } from "../ops/copy.ts";
import { accumulate, scale } from "../ops/scale.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { noiseFor } from "./noise.ts";
import type { NoiseSchedule } from "./schedule.ts";
import { UsageError } from "../util/errors.ts";
import { applyStep, clampSym, eulerPlan, type SamplerKind, stepPlan } from "./steps.ts";
import { type MultistepCoefs, type MultistepKind, multistepPlan } from "./multistep.ts";

/** Every sampler `sample` runs (config key sampler / ref.sampler, flag --sampler). */
export type Sampler = SamplerKind | MultistepKind;
export const SAMPLERS: readonly Sampler[] = ["ddim", "ddpm", "dpmsolver++", "euler"];
/** The default of `deno task sample`, the eval tasks and the SePPO reference sampler (docs/SAMPLERS.md). */
export const DEFAULT_SAMPLER: Sampler = "ddim";

/** How reports name a sampler: DDIM, DDPM, DPM-Solver++(2M), Euler. */
export function samplerName(kind: string | undefined): string {
  const names: Record<string, string> = {
    ddim: "DDIM",
    ddpm: "DDPM",
    "dpmsolver++": "DPM-Solver++(2M)",
    euler: "Euler",
  };
  return names[kind ?? DEFAULT_SAMPLER] ?? String(kind);
}

/** A --sampler flag's value, or a UsageError naming the flag and the choices. */
export function parseSampler(value: string | undefined, flag = "--sampler"): Sampler {
  if (value === undefined) return DEFAULT_SAMPLER;
  if (!(SAMPLERS as readonly string[]).includes(value)) {
    throw new UsageError(`${flag}: "${value}" is not one of ${SAMPLERS.join(", ")}`);
  }
  return value as Sampler;
}

/** Predicts epsilon: x [B, C, H, W] at timestep t -> [B, C, H, W]. */
export type EpsFn = (x: Tensor, t: number) => Tensor;

/** A conditional model: x [N, C, H, W], N timesteps, hidden [N, L, D], keyMask [N, L] | null -> eps. */
export type CondModel = (x: Tensor, timesteps: number[], hidden: Tensor, keyMask: Tensor | null) => Tensor;

export interface SampleOptions {
  kind: Sampler;
  steps: number;
  /** DDIM only: 0 deterministic, 1 DDPM-like variance (other samplers refuse eta > 0). */
  eta?: number;
  /** One seed per example; the batch size is seeds.length. */
  seeds: readonly number[];
  /** Per-example shape [C, H, W]. */
  shape: readonly number[];
  /** Called after each step (for progress bars); must not read back if speed matters. */
  onStep?: (i: number, t: number) => void;
  /** Take eps from the clipped x0 (default: true for v_prediction models, false for epsilon ones). */
  clippedEps?: boolean;
  /** x_T [B, ...shape] instead of seeded noise (diffusers' latents=); not disposed here. */
  init?: Tensor;
  /** Called with x after each step (tests compare every step with diffusers'); must not keep x. */
  onLatents?: (i: number, x: Tensor) => void | Promise<void>;
}

/**
 * Runs the reverse process from x_T ~ N(0, I) (times Euler's init_noise_sigma). Example i draws its
 * start noise from stream (seeds[i], offset 0) and the noise of step k from offset (k + 1) * numel(shape).
 * Returns x_0 [B, ...shape] (persistent to the caller's scope; dispose it when done).
 */
export async function sample(
  ctx: GpuContext,
  schedule: NoiseSchedule,
  eps: EpsFn,
  o: SampleOptions,
): Promise<Tensor> {
  // The model's weights do not change during the loop: their packed layouts are made once.
  return await ctx.withFrozenWeights(() => sampleLoop(ctx, schedule, eps, o));
}

async function sampleLoop(
  ctx: GpuContext,
  schedule: NoiseSchedule,
  eps: EpsFn,
  o: SampleOptions,
): Promise<Tensor> {
  if (!SAMPLERS.includes(o.kind)) throw new Error(`sampler "${o.kind}" is not one of ${SAMPLERS.join(", ")}`);
  if ((o.kind === "dpmsolver++" || o.kind === "euler") && (o.eta ?? 0) > 0) {
    throw new Error(`sampler ${o.kind}: eta = ${o.eta} applies to ddim only (use 0)`);
  }
  if (o.kind === "dpmsolver++") {
    if (o.init || o.onLatents) throw new Error("sampler dpmsolver++: init and onLatents are not supported");
    return await sampleMultistep(ctx, schedule, eps, o.kind, o);
  }
  const plan = stepPlan(o.kind, schedule, o.steps, o.eta ?? 0);
  const per = o.shape.reduce((a, b) => a * b, 1);
  // Euler never clips its x0 estimate (diffusers' EulerDiscreteScheduler has no clip_sample).
  const clip = schedule.config.clip_sample && o.kind !== "euler" ? schedule.config.clip_sample_range : 0;
  // A v model's eps estimate carries classifier-free guidance's exaggeration of x0 with the opposite
  // sign; next to a clipped x0 that inverts colours (measured on the taste base: a blue background came
  // out orange at guidance 3). So a v model with clipping takes eps from the clipped x0 (diffusers'
  // use_clipped_model_output); the option overrides it.
  const clippedEps = o.clippedEps ?? schedule.config.prediction_type === "v_prediction";
  const initSigma = o.kind === "euler" ? eulerPlan(schedule, o.steps).initSigma : 1;
  if (o.init && (o.init.shape[0] !== o.seeds.length || o.init.size !== o.seeds.length * per)) {
    throw new Error(`sample: init ${o.init.describe()} is not [${o.seeds.length}, ${o.shape.join(", ")}]`);
  }
  let x = ctx.noGrad(() => {
    const x0 = o.init ? scale(ctx, o.init, 1) : noiseFor(ctx, o.seeds, o.shape, 0);
    if (initSigma === 1) return x0;
    const s = scale(ctx, x0, initSigma);
    x0.dispose();
    return s;
  });
  for (let k = 0; k < plan.length; k++) {
    const c = plan[k];
    const next = await ctx.scope(() =>
      ctx.noGrad(() => {
        const e = eps(c.inScale === 1 ? x : scale(ctx, x, c.inScale), c.t);
        const noise = c.std > 0 ? noiseFor(ctx, o.seeds, o.shape, (k + 1) * per) : null;
        return applyStep(ctx, c, x, e, noise, clip, clippedEps);
      })
    );
    x.dispose();
    x = next;
    ctx.flush();
    o.onStep?.(k, c.t);
    await o.onLatents?.(k, x);
  }
  return x;
}

/** The DPM-Solver++ / Euler loop (lib/diffusion/multistep.ts): deterministic, keeps the last x0. */
async function sampleMultistep(
  ctx: GpuContext,
  schedule: NoiseSchedule,
  eps: EpsFn,
  kind: MultistepKind,
  o: SampleOptions,
): Promise<Tensor> {
  const plan = multistepPlan(kind, schedule, o.steps);
  let x = ctx.noGrad(() => {
    const z = noiseFor(ctx, o.seeds, o.shape, 0);
    if (plan.initScale === 1) return z;
    const s = scale(ctx, z, plan.initScale);
    z.dispose();
    return s;
  });
  let x0Prev: Tensor | null = null;
  for (let k = 0; k < plan.steps.length; k++) {
    const c = plan.steps[k];
    const { next, x0 } = await ctx.scope(() =>
      ctx.noGrad(() => multistepUpdate(ctx, c, x, eps(x, c.t), x0Prev))
    );
    x.dispose();
    x0Prev?.dispose();
    x = next;
    x0Prev = x0;
    ctx.flush();
    o.onStep?.(k, c.t);
  }
  x0Prev?.dispose();
  return x;
}

/**
 * One multistep update: x0 = xX * x + xOut * out (clipped when c.clip > 0),
 * next = cX * x + c0 * x0 + c1 * x0Prev.
 * x, out, x0Prev: [B, ...]. Returns both (x0 is the next step's x0Prev).
 */
export function multistepUpdate(
  ctx: GpuContext,
  c: MultistepCoefs,
  x: Tensor,
  out: Tensor,
  x0Prev: Tensor | null,
): { next: Tensor; x0: Tensor } {
  return ctx.noGrad(() => {
    let x0 = scale(ctx, x, c.xX);
    accumulate(ctx, x0, out, c.xOut);
    if (c.clip > 0) {
      const k = clampSym(ctx, x0, c.clip);
      x0.dispose();
      x0 = k;
    }
    const next = scale(ctx, x0, c.c0);
    if (c.cX) accumulate(ctx, next, x, c.cX);
    if (c.c1) {
      if (!x0Prev) throw new Error(`multistep: the order-2 step at t=${c.t} needs the previous x0`);
      accumulate(ctx, next, x0Prev, c.c1);
    }
    return { next, x0 };
  });
}

/** eps = eps_u + g * (eps_c - eps_u) from a [2B, ...] batch ordered [uncond; cond]. */
export function combineGuidance(ctx: GpuContext, both: Tensor, g: number): Tensor {
  const B = both.shape[0] / 2;
  return ctx.noGrad(() => {
    const u = slice(ctx, both, 0, 0, B), c = slice(ctx, both, 0, B, 2 * B);
    const out = scale(ctx, u, 1 - g);
    accumulate(ctx, out, c, g);
    u.dispose();
    c.dispose();
    return out;
  });
}

/** An EpsFn that owns GPU tensors (the concatenated hidden states): dispose it after sampling. */
export interface GuidedEps {
  eps: EpsFn;
  dispose(): void;
}

/**
 * Classifier-free guidance around a conditional model: cond / uncond hidden states [B, L, D]
 * (uncond: the encoded empty prompt), masks [B, L] (both or neither). One model call per step on a
 * batch of 2B ordered [uncond; cond]; g = 1 calls the model on the conditional half only.
 */
export function guided(
  ctx: GpuContext,
  model: CondModel,
  cond: Tensor,
  uncond: Tensor,
  g: number,
  condMask: Tensor | null = null,
  uncondMask: Tensor | null = null,
): GuidedEps {
  if (!condMask !== !uncondMask) throw new Error("guided: pass both key masks or neither");
  if (g === 1) {
    return { eps: (x, t) => model(x, new Array(x.shape[0]).fill(t), cond, condMask), dispose() {} };
  }
  const hidden = ctx.noGrad(() => concat(ctx, [uncond, cond], 0)).keep();
  const mask = condMask && uncondMask
    ? ctx.noGrad(() => concat(ctx, [uncondMask, condMask], 0)).keep()
    : null;
  const eps: EpsFn = (x, t) => {
    const x2 = concat(ctx, [x, x], 0);
    const both = model(x2, new Array(x2.shape[0]).fill(t), hidden, mask);
    x2.dispose();
    const out = combineGuidance(ctx, both, g);
    both.dispose();
    return out;
  };
  return {
    eps,
    dispose() {
      hidden.dispose();
      mask?.dispose();
    },
  };
}

/** Options of a prompt-conditioned generation (the bundles' generate()). */
export interface PromptSampleOptions {
  kind?: Sampler;
  steps?: number;
  eta?: number;
  guidance?: number;
  onStep?: (i: number, t: number) => void;
  /** The unconditional prompts of CFG, one per prompt (default: "" for each, as diffusers). */
  negative?: readonly string[];
  /** Start from these x_T [B, ...shape] instead of seeded noise. */
  init?: Tensor;
  onLatents?: (i: number, x: Tensor) => void | Promise<void>;
}

/**
 * Samples one example per (prompt, seed) from a text-conditioned model with classifier-free guidance
 * (uncond = the encoded empty prompt): the body of TextToImage.generate and TextToVideo.generate,
 * which differ only in the per-example `shape` ([C, H, W] or [F, C, H, W]).
 */
export async function samplePrompts(
  ctx: GpuContext,
  schedule: NoiseSchedule,
  encode: (texts: readonly string[]) => { hidden: Tensor; mask: Tensor },
  model: CondModel,
  prompts: readonly string[],
  seeds: readonly number[],
  shape: readonly number[],
  o: PromptSampleOptions = {},
): Promise<Tensor> {
  if (prompts.length !== seeds.length) {
    throw new Error(`generate: ${prompts.length} prompts, ${seeds.length} seeds`);
  }
  if (o.negative && o.negative.length !== prompts.length) {
    throw new Error(`generate: ${o.negative.length} negative prompts for ${prompts.length} prompts`);
  }
  const g = o.guidance ?? 1;
  return await ctx.scope(async () => {
    const { cond, uncond } = ctx.noGrad(() => ({
      cond: encode(prompts),
      uncond: g === 1 ? null : encode(o.negative ?? prompts.map(() => "")),
    }));
    const cfg = guided(
      ctx,
      model,
      cond.hidden,
      uncond?.hidden ?? cond.hidden,
      g,
      cond.mask,
      uncond?.mask ?? cond.mask,
    );
    try {
      return await sample(ctx, schedule, cfg.eps, {
        kind: o.kind ?? DEFAULT_SAMPLER,
        steps: o.steps ?? 20,
        eta: o.eta ?? 0,
        seeds,
        shape,
        onStep: o.onStep,
        init: o.init,
        onLatents: o.onLatents,
      });
    } finally {
      cfg.dispose();
    }
  });
}
