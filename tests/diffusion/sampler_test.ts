// GPU diffusion pieces against float64: add-noise, one step, and whole DDIM/DDPM loops with a seeded
// dummy model, with and without classifier-free guidance.
import { deepStrictEqual } from "node:assert/strict";
import { addNoise, noiseFor, trainingTarget } from "../../lib/diffusion/noise.ts";
import { NoiseSchedule, type SchedulerConfig, schedulerConfig } from "../../lib/diffusion/schedule.ts";
import { type CondModel, guided, sample } from "../../lib/diffusion/sampler.ts";
import { clampSym } from "../../lib/diffusion/steps.ts";
import { add } from "../../lib/ops/binary.ts";
import { expand } from "../../lib/ops/copy.ts";
import { mean } from "../../lib/ops/reduce.ts";
import { scale } from "../../lib/ops/scale.ts";
import { randnRef } from "../../lib/ref/rng.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu, seeded } from "../_helpers.ts";
import { refLoop } from "./_loop_ref.ts";

const SHAPE = [3, 4, 5]; // odd sizes on purpose
const PER = 60;

function sched(c: Partial<SchedulerConfig>) {
  return new NoiseSchedule(schedulerConfig(c));
}

Deno.test("addNoise matches sqrt(abar) x0 + sqrt(1 - abar) eps per example", async () => {
  const ctx = await gpu();
  const s = sched({ beta_schedule: "squaredcos_cap_v2" });
  const ts = [0, 517, 999];
  const x0 = seeded(3 * PER, 1), eps = seeded(3 * PER, 2);
  const out = await ctx.scope(async () => {
    const xt = addNoise(ctx, s, tensor(ctx, x0, [3, ...SHAPE]), tensor(ctx, eps, [3, ...SHAPE]), ts);
    return await xt.read();
  });
  const want = x0.map((v, i) => {
    const [a, b] = s.noiseCoefs(ts[Math.floor(i / PER)]);
    return a * v + b * eps[i];
  });
  assertClose(out, want, "addNoise", 1e-6, 1e-5);
});

Deno.test("trainingTarget: eps itself for epsilon, sqrt(abar) eps - sqrt(1 - abar) x0 for v_prediction", async () => {
  const ctx = await gpu();
  const ts = [0, 517, 999];
  const x0 = seeded(3 * PER, 1), eps = seeded(3 * PER, 2);
  for (const zero of [false, true]) {
    const s = sched({ prediction_type: "v_prediction", rescale_betas_zero_snr: zero });
    const out = await ctx.scope(async () => {
      const e = tensor(ctx, eps, [3, ...SHAPE]);
      return await trainingTarget(ctx, s, tensor(ctx, x0, [3, ...SHAPE]), e, ts).read();
    });
    const want = x0.map((v, i) => {
      const abar = s.alphasCumprod[ts[Math.floor(i / PER)]];
      return Math.sqrt(abar) * eps[i] - Math.sqrt(1 - abar) * v;
    });
    assertClose(out, want, `v target (zero snr ${zero})`, 1e-6, 1e-5);
  }
  await ctx.scope(() => {
    const e = tensor(ctx, eps, [3, ...SHAPE]);
    deepStrictEqual(trainingTarget(ctx, sched({}), tensor(ctx, x0, [3, ...SHAPE]), e, ts) === e, true);
  });
});

Deno.test("clampSym clips to [-r, r] and passes the inside through", async () => {
  const ctx = await gpu();
  const x = seeded(37, 3, -3, 3);
  const got = await ctx.scope(async () => await clampSym(ctx, tensor(ctx, x, [37]), 1.5).read());
  assertClose(got, x.map((v) => Math.min(1.5, Math.max(-1.5, v))), "clampSym", 1e-6, 1e-6);
});

Deno.test("per-example noise streams do not depend on the batch", async () => {
  const ctx = await gpu();
  const [both, one] = await ctx.scope(async () => [
    await noiseFor(ctx, [11, 12], SHAPE, 7).read(),
    await noiseFor(ctx, [12], SHAPE, 7).read(),
  ]);
  deepStrictEqual(both.slice(PER), one);
  assertClose(one, randnRef(PER, 12, 7), "noise vs randnRef", 1e-5, 1e-4);
});

type Case = { kind: "ddim" | "ddpm"; eta: number; cfg: Partial<SchedulerConfig>; steps: number };
const CASES: Case[] = [
  { kind: "ddim", eta: 0, steps: 10, cfg: { clip_sample: false, set_alpha_to_one: false, steps_offset: 1 } },
  { kind: "ddim", eta: 0.7, steps: 8, cfg: { timestep_spacing: "trailing", beta_schedule: "scaled_linear" } },
  {
    kind: "ddim",
    eta: 1,
    steps: 6,
    cfg: { timestep_spacing: "linspace", beta_schedule: "squaredcos_cap_v2" },
  },
  { kind: "ddpm", eta: 0, steps: 12, cfg: { clip_sample: true } },
  { kind: "ddpm", eta: 0, steps: 5, cfg: { variance_type: "fixed_large", timestep_spacing: "trailing" } },
  // v_prediction, with and without the zero-terminal-SNR rescale (the first trailing step is then at
  // abar = 0, where x0 = -v and eps = x).
  { kind: "ddim", eta: 0, steps: 10, cfg: { prediction_type: "v_prediction", clip_sample: false } },
  {
    kind: "ddim",
    eta: 0.5,
    steps: 7,
    cfg: { prediction_type: "v_prediction", rescale_betas_zero_snr: true, timestep_spacing: "trailing" },
  },
  { kind: "ddpm", eta: 0, steps: 6, cfg: { prediction_type: "v_prediction", timestep_spacing: "trailing" } },
  // clip_sample with v_prediction: eps from the clipped x0 (use_clipped_model_output), the default for v.
  {
    kind: "ddim",
    eta: 0,
    steps: 10,
    cfg: { prediction_type: "v_prediction", clip_sample: true, clip_sample_range: 0.5 },
  },
];

for (const c of CASES) {
  Deno.test(`${c.kind} loop (eta ${c.eta}, ${JSON.stringify(c.cfg)}) with eps = 0.1 x matches float64`, async () => {
    const ctx = await gpu();
    const s = sched(c.cfg);
    const seeds = [5, 9];
    const got = await ctx.scope(async () => {
      const x = await sample(ctx, s, (x) => scale(ctx, x, 0.1), {
        kind: c.kind,
        steps: c.steps,
        eta: c.eta,
        seeds,
        shape: SHAPE,
      });
      return await x.read();
    });
    const want = refLoop({
      kind: c.kind,
      timesteps: s.timesteps(c.steps),
      alphasCumprod: s.alphasCumprod,
      T: s.T,
      eta: c.eta,
      setAlphaToOne: s.config.set_alpha_to_one,
      clip: s.config.clip_sample ? s.config.clip_sample_range : 0,
      varianceType: s.config.variance_type,
      seeds,
      per: PER,
      eps: (x) => x.map((v) => 0.1 * v),
      prediction: s.config.prediction_type,
      clippedEps: s.config.prediction_type === "v_prediction",
    });
    const flat = new Float64Array(2 * PER);
    want.forEach((w, b) => flat.set(w, b * PER));
    assertClose(got, flat, `${c.kind} loop`, 2e-4, 2e-3);
  });
}

Deno.test("classifier-free guidance: eps_u + g (eps_c - eps_u) inside a DDIM loop", async () => {
  const ctx = await gpu();
  const s = sched({ clip_sample: false });
  const L = 3, D = 2, g = 4.5, seeds = [21, 22];
  const condH = seeded(2 * L * D, 31), uncondH = seeded(2 * L * D, 32);
  // Dummy conditional model: eps = 0.1 x + mean(hidden[b]) broadcast over the pixels.
  const model: CondModel = (x, _ts, hidden) => {
    const m = mean(ctx, hidden, [1, 2], true); // [N, 1, 1]
    const mb = expand(ctx, m.view([x.shape[0], 1, 1, 1]), x.shape);
    return add(ctx, scale(ctx, x, 0.1), mb);
  };
  const got = await ctx.scope(async () => {
    const cfg = guided(ctx, model, tensor(ctx, condH, [2, L, D]), tensor(ctx, uncondH, [2, L, D]), g);
    const x = await sample(ctx, s, cfg.eps, { kind: "ddim", steps: 6, seeds, shape: SHAPE });
    cfg.dispose();
    return await x.read();
  });
  const mu = (h: Float64Array, b: number) =>
    h.slice(b * L * D, (b + 1) * L * D).reduce((p, v) => p + v) / (L * D);
  const want = refLoop({
    kind: "ddim",
    timesteps: s.timesteps(6),
    alphasCumprod: s.alphasCumprod,
    T: s.T,
    eta: 0,
    setAlphaToOne: true,
    clip: 0,
    varianceType: "fixed_small",
    seeds,
    per: PER,
    eps: (x, _t, b) => x.map((v) => 0.1 * v + mu(uncondH, b) + g * (mu(condH, b) - mu(uncondH, b))),
  });
  const flat = new Float64Array(2 * PER);
  want.forEach((w, b) => flat.set(w, b * PER));
  assertClose(got, flat, "cfg loop", 2e-4, 2e-3);
});
