// Noise schedules and inference timesteps, in float64, with diffusers' config keys and meaning
// (DDPMScheduler / DDIMScheduler): betas, alphas_cumprod, set_timesteps spacing, previous timestep,
// what the network predicts (prediction_type) and the zero-terminal-SNR rescale (Lin et al. 2024,
// "Common Diffusion Noise Schedules and Sample Steps are Flawed"; diffusers' rescale_betas_zero_snr).

export type BetaSchedule = "linear" | "scaled_linear" | "squaredcos_cap_v2";
export type TimestepSpacing = "leading" | "trailing" | "linspace";
/**
 * What the network outputs: epsilon (the noise), or v = sqrt(abar) * eps - sqrt(1 - abar) * x0
 * (Salimans & Ho 2022). v keeps a learning signal for the prompt at high noise, where an epsilon
 * model's error hardly depends on x0 (its x0 estimate is divided by sqrt(abar) ~ 0).
 */
export type PredictionType = "epsilon" | "v_prediction";

/** The scheduler config (diffusers' scheduler_config.json keys). */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  timestep_spacing: TimestepSpacing;
  /** Added to "leading" timesteps (SD-1.5 uses 1). */
  steps_offset: number;
  /** DDIM: alpha_prod at the last step is 1 (true) or alphas_cumprod[0] (false). */
  set_alpha_to_one: boolean;
  /** Clip the predicted x0 to [-clip_sample_range, clip_sample_range] (pixel-space models). */
  clip_sample: boolean;
  clip_sample_range: number;
  /** DDPM only: "fixed_small" (posterior variance) or "fixed_large" (beta_t). */
  variance_type: "fixed_small" | "fixed_large";
  prediction_type: PredictionType;
  /** Rescale betas so that abar at the last timestep is exactly 0 (needs v_prediction). */
  rescale_betas_zero_snr: boolean;
}

export const DEFAULT_SCHEDULER: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  timestep_spacing: "leading",
  steps_offset: 0,
  set_alpha_to_one: true,
  clip_sample: true,
  clip_sample_range: 1,
  variance_type: "fixed_small",
  prediction_type: "epsilon",
  rescale_betas_zero_snr: false,
};

// Keys of diffusers' scheduler configs that would change the noise schedule or the step, accepted
// only at the value this implementation has. Other keys (another scheduler class's own settings, such
// as PNDM's skip_prk_steps in SD-1.5's file) are ignored: the folder's scheduler class is replaced
// by the sampler chosen here, which keeps the training schedule.
const SCHEDULE_FIXED: Record<string, unknown> = {
  trained_betas: null,
  thresholding: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
};

/** Merges a partial config (e.g. a parsed scheduler_config.json) over the defaults and validates it. */
export function schedulerConfig(
  partial: Partial<SchedulerConfig> = {},
  where = "scheduler config",
): SchedulerConfig {
  const known = new Set(Object.keys(DEFAULT_SCHEDULER));
  const picked: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(partial)) {
    if (k in SCHEDULE_FIXED && v !== undefined && JSON.stringify(v) !== JSON.stringify(SCHEDULE_FIXED[k])) {
      throw new Error(
        `${where}: ${k} = ${JSON.stringify(v)} is not supported (only ${JSON.stringify(SCHEDULE_FIXED[k])})`,
      );
    }
    if (known.has(k) && v !== undefined) picked[k] = v;
  }
  const c = { ...DEFAULT_SCHEDULER, ...picked } as SchedulerConfig;
  validateScheduler(c, where);
  return c;
}

export function validateScheduler(c: SchedulerConfig, where = "scheduler config") {
  const bad = (key: string, why: string) => {
    throw new Error(
      `${where}: ${key} = ${JSON.stringify((c as unknown as Record<string, unknown>)[key])} ${why}`,
    );
  };
  if (!Number.isInteger(c.num_train_timesteps) || c.num_train_timesteps < 2) {
    bad("num_train_timesteps", "must be an integer >= 2");
  }
  if (!["linear", "scaled_linear", "squaredcos_cap_v2"].includes(c.beta_schedule)) {
    bad("beta_schedule", "is not one of linear, scaled_linear, squaredcos_cap_v2");
  }
  if (!["leading", "trailing", "linspace"].includes(c.timestep_spacing)) {
    bad("timestep_spacing", "is not one of leading, trailing, linspace");
  }
  if (!(c.beta_start > 0 && c.beta_end > c.beta_start && c.beta_end < 1)) {
    bad("beta_end", `must satisfy 0 < beta_start (${c.beta_start}) < beta_end < 1`);
  }
  if (!Number.isInteger(c.steps_offset) || c.steps_offset < 0) bad("steps_offset", "must be an integer >= 0");
  if (!(c.clip_sample_range > 0)) bad("clip_sample_range", "must be > 0");
  if (!["fixed_small", "fixed_large"].includes(c.variance_type)) {
    bad("variance_type", "is not one of fixed_small, fixed_large");
  }
  if (!["epsilon", "v_prediction"].includes(c.prediction_type)) {
    bad("prediction_type", "is not one of epsilon, v_prediction");
  }
  if (typeof c.rescale_betas_zero_snr !== "boolean") bad("rescale_betas_zero_snr", "must be true or false");
  if (c.rescale_betas_zero_snr && c.prediction_type === "epsilon") {
    bad(
      "rescale_betas_zero_snr",
      "needs prediction_type v_prediction (an epsilon model cannot give x0 at zero SNR)",
    );
  }
}

/**
 * scheduler/scheduler_config.json as diffusers 0.30's DDIMScheduler writes it (every key), plus
 * variance_type when it is not DDPM's default (diffusers' DDIMScheduler ignores it, DDPMScheduler
 * reads it).
 */
export function ddimSchedulerConfigJson(c: SchedulerConfig): Record<string, unknown> {
  return {
    _class_name: "DDIMScheduler",
    _diffusers_version: "0.30.3",
    beta_end: c.beta_end,
    beta_schedule: c.beta_schedule,
    beta_start: c.beta_start,
    clip_sample: c.clip_sample,
    clip_sample_range: c.clip_sample_range,
    dynamic_thresholding_ratio: 0.995,
    num_train_timesteps: c.num_train_timesteps,
    prediction_type: c.prediction_type,
    rescale_betas_zero_snr: c.rescale_betas_zero_snr,
    sample_max_value: 1.0,
    set_alpha_to_one: c.set_alpha_to_one,
    steps_offset: c.steps_offset,
    thresholding: false,
    timestep_spacing: c.timestep_spacing,
    trained_betas: null,
    ...(c.variance_type === "fixed_small" ? {} : { variance_type: c.variance_type }),
  };
}

/** diffusers' np.linspace(a, b, n) in float64. */
function linspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => a + (b - a) * i / (n - 1));
}

/** betas[T] for the configured schedule (rescaled to zero terminal SNR when configured). */
export function betas(c: SchedulerConfig): Float64Array {
  const b = rawBetas(c);
  return c.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(b) : b;
}

/**
 * diffusers' rescale_zero_terminal_snr (Algorithm 1 of Lin et al.): shift and scale sqrt(abar) so the
 * last is 0 and the first unchanged, then turn it back into betas (the last beta becomes 1).
 */
export function rescaleZeroTerminalSnr(b: Float64Array): Float64Array {
  const T = b.length;
  const sqrtAbar = new Float64Array(T);
  let p = 1;
  for (let i = 0; i < T; i++) sqrtAbar[i] = Math.sqrt(p *= 1 - b[i]);
  const first = sqrtAbar[0], last = sqrtAbar[T - 1];
  const abar = sqrtAbar.map((v) => ((v - last) * first / (first - last)) ** 2);
  return Float64Array.from({ length: T }, (_, i) => 1 - (i === 0 ? abar[0] : abar[i] / abar[i - 1]));
}

function rawBetas(c: SchedulerConfig): Float64Array {
  const T = c.num_train_timesteps;
  if (c.beta_schedule === "linear") return Float64Array.from(linspace(c.beta_start, c.beta_end, T));
  if (c.beta_schedule === "scaled_linear") {
    return Float64Array.from(linspace(Math.sqrt(c.beta_start), Math.sqrt(c.beta_end), T), (v) => v * v);
  }
  // squaredcos_cap_v2: betas_for_alpha_bar with the cosine alpha_bar and max_beta 0.999.
  const abar = (t: number) => Math.cos((t + 0.008) / 1.008 * Math.PI / 2) ** 2;
  return Float64Array.from(
    { length: T },
    (_, i) => Math.min(1 - abar((i + 1) / T) / abar(i / T), 0.999),
  );
}

/** The precomputed quantities of one schedule. */
export class NoiseSchedule {
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** alpha_prod used after the last step (DDIM's final_alpha_cumprod). */
  readonly finalAlphaCumprod: number;

  constructor(readonly config: SchedulerConfig) {
    validateScheduler(config);
    this.betas = betas(config);
    this.alphasCumprod = new Float64Array(this.betas.length);
    let p = 1;
    this.betas.forEach((b, i) => this.alphasCumprod[i] = p *= 1 - b);
    this.finalAlphaCumprod = config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  get T(): number {
    return this.config.num_train_timesteps;
  }

  /** [sqrt(abar_t), sqrt(1 - abar_t)] per timestep, for add-noise. */
  noiseCoefs(t: number): [number, number] {
    this.checkT(t);
    const a = this.alphasCumprod[t];
    return [Math.sqrt(a), Math.sqrt(1 - a)];
  }

  /**
   * The training target as a mix of x0 and eps: [cX0, cEps] with target = cX0 * x0 + cEps * eps.
   * epsilon: [0, 1]; v_prediction: [-sqrt(1 - abar_t), sqrt(abar_t)] (diffusers' get_velocity).
   */
  targetCoefs(t: number): [number, number] {
    const [a, b] = this.noiseCoefs(t);
    return this.config.prediction_type === "v_prediction" ? [-b, a] : [0, 1];
  }

  /**
   * The model output turned into estimates of x0 and eps at timestep t (abar = abar_t):
   * x0 = xX * x_t + xOut * out, eps = eX * x_t + eOut * out.
   * epsilon: x0 = (x_t - sqrt(1 - abar) out) / sqrt(abar), eps = out.
   * v:       x0 = sqrt(abar) x_t - sqrt(1 - abar) out,     eps = sqrt(1 - abar) x_t + sqrt(abar) out.
   */
  outputCoefs(t: number): { xX: number; xOut: number; eX: number; eOut: number } {
    const [a, b] = this.noiseCoefs(t);
    if (this.config.prediction_type === "v_prediction") return { xX: a, xOut: -b, eX: b, eOut: a };
    return { xX: 1 / a, xOut: -b / a, eX: 0, eOut: 1 };
  }

  /** diffusers set_timesteps(n): descending integer timesteps for n inference steps. */
  timesteps(n: number): number[] {
    const T = this.T;
    if (!Number.isInteger(n) || n < 1 || n > T) {
      throw new Error(`timesteps: num_inference_steps = ${n} must be an integer in [1, ${T}]`);
    }
    let ts: number[];
    if (this.config.timestep_spacing === "linspace") {
      // np.linspace(0, T - 1, n).round()[::-1]
      ts = linspace(0, T - 1, n).map(roundHalfEven).reverse();
    } else if (this.config.timestep_spacing === "leading") {
      // (np.arange(0, n) * (T // n)).round()[::-1] + steps_offset
      const ratio = Math.floor(T / n);
      ts = Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + this.config.steps_offset);
    } else {
      // np.round(np.arange(T, 0, -T / n)) - 1 (arange computes start + i * step)
      const ratio = T / n;
      ts = Array.from({ length: n }, (_, i) => roundHalfEven(T - i * ratio) - 1);
    }
    for (const t of ts) this.checkT(t);
    return ts;
  }

  /** diffusers' previous timestep: t - T // n (may be negative: then the final alpha is used). */
  prevTimestep(t: number, n: number): number {
    return t - Math.floor(this.T / n);
  }

  /** alphas_cumprod at t, or the final alpha_prod for t < 0 (DDIM). */
  alphaProd(t: number, finalAlpha = this.finalAlphaCumprod): number {
    if (t < 0) return finalAlpha;
    this.checkT(t);
    return this.alphasCumprod[t];
  }

  private checkT(t: number) {
    if (!Number.isInteger(t) || t < 0 || t >= this.T) {
      throw new Error(`timestep ${t} is outside [0, ${this.T - 1}]`);
    }
  }
}

/** NumPy's round: halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
