// DDIM, DDPM and Euler-discrete steps against diffusers 0.30.3's (tiny-sd golden/schedulers): timesteps,
// init_noise_sigma, the training schedule, and per step the model input, predicted x0 and previous
// sample. Each step starts from the golden's own previous sample, so errors do not compound. The
// fixture records no float64 run here, so the float32 floor is measured in the test: diffusers'
// float32 result against the same step in float64 (our coefficients, the golden's inputs). Our GPU
// result must be within 10x that floor of the float64 step.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { sample } from "../../lib/diffusion/sampler.ts";
import { NoiseSchedule, schedulerConfig } from "../../lib/diffusion/schedule.ts";
import { applyStep, eulerPlan, predictX0, type SamplerKind, stepPlan } from "../../lib/diffusion/steps.ts";
import { scale } from "../../lib/ops/scale.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu } from "../_helpers.ts";
import { FLOOR_FACTOR, golden, goldenJson, TINY_SD } from "../_fixtures.ts";

const FILE = `${TINY_SD}/golden/schedulers.safetensors`;

Deno.test("schedulers: DDIM, DDPM and Euler steps match diffusers (tiny-sd scheduler config)", async () => {
  const ctx = await gpu();
  const s = new NoiseSchedule(
    schedulerConfig(JSON.parse(await Deno.readTextFile(`${TINY_SD}/scheduler/scheduler_config.json`))),
  );
  const meta = await goldenJson<
    { schedulers: Record<string, { timesteps: number[]; init_noise_sigma: number }> }
  >(
    `${TINY_SD}/golden/schedulers.json`,
  );
  // The training schedule: float64 here, float32 cumprod in diffusers (relative difference < 1e-6).
  assertClose(s.alphasCumprod, (await golden(FILE, "alphas_cumprod")).data, "alphas_cumprod", 0, 2e-6);
  assertClose(
    eulerPlan(s, 10).sigmas,
    (await golden(FILE, "euler_sigmas")).data,
    "euler sigmas",
    0,
    2e-6,
  );
  const eps = await golden(FILE, "model_outputs"), x0 = await golden(FILE, "x_init");
  const per = x0.data.length;
  for (const kind of ["ddim", "ddpm", "euler"] as SamplerKind[]) {
    const plan = stepPlan(kind, s, 10, 0);
    deepStrictEqual(plan.map((c) => c.t), meta.schedulers[kind].timesteps, `${kind} timesteps`);
    const initSigma = kind === "euler" ? eulerPlan(s, 10).initSigma : 1;
    assertClose([initSigma], [meta.schedulers[kind].init_noise_sigma], `${kind} init_noise_sigma`, 0, 1e-6);
    const want = {
      input: (await golden(FILE, `${kind}_model_input`)).data,
      x0: (await golden(FILE, `${kind}_pred_original_sample`)).data,
      prev: (await golden(FILE, `${kind}_prev_sample`)).data,
    };
    const noise = kind === "ddpm" ? (await golden(FILE, "ddpm_variance_noise")).data : null;
    const got = {
      input: new Float32Array(10 * per),
      x0: new Float32Array(10 * per),
      prev: new Float32Array(10 * per),
    };
    const f64 = {
      input: new Float64Array(10 * per),
      x0: new Float64Array(10 * per),
      prev: new Float64Array(10 * per),
    };
    for (let i = 0; i < plan.length; i++) {
      const c = plan[i];
      const xin = i === 0 ? x0.data.map((v) => v * initSigma) : want.prev.subarray((i - 1) * per, i * per);
      const e = eps.data.subarray(i * per, (i + 1) * per);
      const nz = noise?.subarray(i * per, (i + 1) * per) ?? null;
      // float64: the same formulas on the host (the output read as x0 and eps estimates, then the step).
      for (let j = 0; j < per; j++) {
        const a = c.xX * xin[j] + c.xOut * e[j], epsHat = c.eX * xin[j] + c.eOut * e[j];
        f64.input[i * per + j] = c.inScale * xin[j];
        f64.x0[i * per + j] = a;
        f64.prev[i * per + j] = c.c0 * a + c.cEps * epsHat + c.cX * xin[j] + (nz ? c.std * nz[j] : 0);
      }
      await ctx.scope(async () => {
        const x = tensor(ctx, xin, x0.shape), et = tensor(ctx, e, x0.shape);
        const n = nz ? tensor(ctx, nz, x0.shape) : null;
        got.input.set(await scale(ctx, x, c.inScale).read(), i * per);
        got.x0.set(await predictX0(ctx, c, x, et).read(), i * per);
        got.prev.set(await applyStep(ctx, c, x, et, n).read(), i * per);
      });
    }
    for (const k of ["input", "x0", "prev"] as const) {
      let floor = 0, worst = 0;
      for (let j = 0; j < want[k].length; j++) {
        floor = Math.max(floor, Math.abs(want[k][j] - f64[k][j]));
        worst = Math.max(worst, Math.abs(got[k][j] - f64[k][j]));
      }
      console.log(
        `  ${kind} ${k}: worst ${worst.toExponential(2)}, diffusers' float32 floor ${floor.toExponential(2)}`,
      );
      // The floor is float32 rounding (relative 1e-5 at most), or the float64 step is not diffusers'.
      const max = want[k].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      if (!(floor <= 1e-5 * max)) {
        throw new Error(`${kind} ${k}: the float64 step is off diffusers' by ${floor}`);
      }
      // A step that is exact in float32 (DDIM's model input is x) has floor 0: then equality.
      assertClose(got[k], f64[k], `${kind} ${k}`, FLOOR_FACTOR * floor, 0);
    }
  }
  equal(stepPlan("euler", s, 10)[9].cEps, 0);
});

Deno.test("Euler with v_prediction: the true v gives back x0 and eps; zero-SNR schedules are refused", () => {
  const s = new NoiseSchedule(
    schedulerConfig({ beta_schedule: "scaled_linear", prediction_type: "v_prediction" }),
  );
  for (const c of eulerPlan(s, 7).plan) {
    const sigma = c.sqrtOneMinusA / c.sqrtA, q = Math.sqrt(sigma * sigma + 1);
    const x0 = 0.7, eps = -1.3, x = x0 + sigma * eps; // Euler's x (sigma space)
    const v = (eps - sigma * x0) / q; // v of the VP sample x / q = x0 / q + (sigma / q) eps
    const x0hat = c.xX * x + c.xOut * v, epsHat = c.eX * x + c.eOut * v;
    assertClose([x0hat, epsHat, c.inScale], [x0, eps, 1 / q], `t=${c.t}`, 1e-12, 1e-12);
  }
  const z = new NoiseSchedule(
    schedulerConfig({
      prediction_type: "v_prediction",
      rescale_betas_zero_snr: true,
      timestep_spacing: "trailing",
    }),
  );
  throws(() => eulerPlan(z, 5), /sampler euler: rescale_betas_zero_snr/);
});

Deno.test("sample() with Euler: x_T scaled by init_noise_sigma, the model sees scale_model_input(x), vs float64", async () => {
  const ctx = await gpu();
  const s = new NoiseSchedule(
    schedulerConfig(JSON.parse(await Deno.readTextFile(`${TINY_SD}/scheduler/scheduler_config.json`))),
  );
  const { plan, initSigma, sigmas } = eulerPlan(s, 6);
  const shape = [2, 3, 3];
  const init = Float32Array.from({ length: 18 }, (_, i) => Math.sin(i + 1));
  // A stand-in model that depends on its input and the timestep: eps = 0.3 x_in + t / 1000.
  const seen: number[] = [];
  const out = await ctx.scope(async () => {
    const x = await sample(ctx, s, (xin, t) => {
      seen.push(t);
      return scale(ctx, xin, 0.3, t / 1000);
    }, { kind: "euler", steps: 6, seeds: [0], shape, init: tensor(ctx, init, [1, ...shape]) });
    return await x.read();
  });
  deepStrictEqual(seen, plan.map((c) => c.t));
  const want = Float64Array.from(init, (v) => v * initSigma);
  plan.forEach((c, i) => {
    for (let j = 0; j < want.length; j++) {
      const eps = 0.3 * want[j] / Math.sqrt(sigmas[i] ** 2 + 1) + c.t / 1000;
      const x0 = want[j] - sigmas[i] * eps; // diffusers: pred_original_sample = sample - sigma * eps
      want[j] = want[j] + ((want[j] - x0) / sigmas[i]) * (sigmas[i + 1] - sigmas[i]);
    }
  });
  assertClose(out, want, "euler loop", 1e-5, 1e-5);
});
