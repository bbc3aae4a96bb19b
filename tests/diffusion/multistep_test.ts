// DPM-Solver++(2M) (lib/diffusion/multistep.ts) and Euler (lib/diffusion/steps.ts): timesteps as
// diffusers' set_timesteps (hand-computed lists), step coefficients against hand derivations (first
// order = DDIM, the last step returns x0, second order from lambdas), and whole GPU loops of both
// against a float64 transcription of diffusers' step() (tests/diffusion/_loop_ref.ts). Euler against
// diffusers' own stepping: tests/diffusion/schedulers_golden_test.ts.
import { deepStrictEqual, throws } from "node:assert/strict";
import { dpmSolverPlan, dpmTimesteps } from "../../lib/diffusion/multistep.ts";
import { sample } from "../../lib/diffusion/sampler.ts";
import { NoiseSchedule, type SchedulerConfig, schedulerConfig } from "../../lib/diffusion/schedule.ts";
import { ddimCoefs, eulerTimesteps } from "../../lib/diffusion/steps.ts";
import { scale } from "../../lib/ops/scale.ts";
import { assertClose, gpu } from "../_helpers.ts";
import { refMultistepLoop } from "./_loop_ref.ts";

const sched = (c: Partial<SchedulerConfig>) => new NoiseSchedule(schedulerConfig(c));

Deno.test("DPM-Solver++ and Euler timesteps as diffusers' set_timesteps (T = 1000)", () => {
  const dpm = (spacing: SchedulerConfig["timestep_spacing"], n: number, offset = 0) =>
    dpmTimesteps(sched({ timestep_spacing: spacing, steps_offset: offset }), n);
  deepStrictEqual(dpm("linspace", 10), [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  deepStrictEqual(dpm("linspace", 7), [999, 856, 714, 571, 428, 285, 143]);
  // leading: T // (n + 1) apart, the n + 1-th (0) dropped
  deepStrictEqual(dpm("leading", 10), [900, 810, 720, 630, 540, 450, 360, 270, 180, 90]);
  deepStrictEqual(dpm("leading", 3, 1), [751, 501, 251]);
  deepStrictEqual(dpm("trailing", 3), [999, 666, 332]);
  deepStrictEqual(dpm("trailing", 7), [999, 856, 713, 570, 428, 285, 142]);
  const euler = (spacing: SchedulerConfig["timestep_spacing"], n: number, offset = 0) =>
    eulerTimesteps(sched({ timestep_spacing: spacing, steps_offset: offset }), n);
  deepStrictEqual(euler("linspace", 7), [999, 832.5, 666, 499.5, 333, 166.5, 0]); // not rounded
  deepStrictEqual(euler("leading", 10, 1), [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  deepStrictEqual(euler("trailing", 3), [999, 666, 332]);
  throws(() => dpm("linspace", 0), /num_inference_steps = 0/);
});

Deno.test("DPM-Solver++ coefficients by hand: first order is DDIM, the last step is x0, second order from lambdas", () => {
  for (const prediction of ["epsilon", "v_prediction"] as const) {
    const s = sched({ timestep_spacing: "linspace", prediction_type: prediction });
    const plan = dpmSolverPlan(s, 6);
    deepStrictEqual(plan.steps.map((c) => c.order), [1, 2, 2, 2, 2, 1]);
    const x = 0.7, out = -0.04, m1 = 0.25; // a sample, the model output, the previous x0 (inside the clip)
    const apply = (i: number) => {
      const c = plan.steps[i], x0 = c.xX * x + c.xOut * out;
      return { x0, next: c.cX * x + c.c0 * x0 + c.c1 * m1 };
    };
    // step 0 = DDIM (eta 0) from t to the next timestep, without clipping
    const [t0, t1] = [plan.steps[0].t, plan.steps[1].t];
    const d = ddimCoefs(s, t0, t1, 0);
    const x0d = d.xX * x + d.xOut * out, epsd = d.eX * x + d.eOut * out;
    assertClose(
      [apply(0).next],
      [d.c0 * x0d + d.cEps * epsd],
      `${prediction}: first order = DDIM`,
      1e-12,
      1e-12,
    );
    // last step: sigma' = 0 gives x0
    const last = apply(5);
    assertClose([last.next], [last.x0], `${prediction}: last step returns x0`, 1e-12, 1e-12);
    // a middle step from diffusers' formula with lambda = log(alpha) - log(sigma_vp)
    const abar = (t: number) => s.alphasCumprod[t];
    const lam = (t: number) => Math.log(Math.sqrt(abar(t))) - Math.log(Math.sqrt(1 - abar(t)));
    const [ts1, ts0, tt] = [plan.steps[2].t, plan.steps[3].t, plan.steps[4].t];
    const h = lam(tt) - lam(ts0), r0 = (lam(ts0) - lam(ts1)) / h;
    const m0 = apply(3).x0;
    const aT = Math.sqrt(abar(tt)), sT = Math.sqrt(1 - abar(tt)), sS0 = Math.sqrt(1 - abar(ts0));
    const D1 = (m0 - m1) / r0;
    const want = (sT / sS0) * x - aT * (Math.exp(-h) - 1) * m0 - 0.5 * aT * (Math.exp(-h) - 1) * D1;
    assertClose([apply(3).next], [want], `${prediction}: second-order midpoint step`, 1e-12, 1e-10);
    // the model output read as x0 at t: (x - sqrt(1 - abar) eps) / sqrt(abar), or sqrt(abar) x - sqrt(1 - abar) v
    const a3 = abar(ts0);
    const x0Want = prediction === "epsilon"
      ? (x - Math.sqrt(1 - a3) * out) / Math.sqrt(a3)
      : Math.sqrt(a3) * x - Math.sqrt(1 - a3) * out;
    assertClose([m0], [x0Want], `${prediction}: x0 conversion`, 1e-12, 1e-12);
  }
});

interface LoopCase {
  kind: "dpmsolver++" | "euler";
  steps: number;
  cfg: Partial<SchedulerConfig>;
}
const CASES: LoopCase[] = [
  { kind: "dpmsolver++", steps: 10, cfg: { timestep_spacing: "linspace", clip_sample: false } },
  { kind: "dpmsolver++", steps: 8, cfg: {} }, // the shipped base's config: leading, x0 clipped to [-1, 1]
  { kind: "dpmsolver++", steps: 5, cfg: { timestep_spacing: "trailing", beta_schedule: "scaled_linear" } },
  { kind: "dpmsolver++", steps: 15, cfg: { steps_offset: 1, beta_schedule: "squaredcos_cap_v2" } },
  { kind: "dpmsolver++", steps: 6, cfg: { prediction_type: "v_prediction", timestep_spacing: "linspace" } },
  {
    kind: "dpmsolver++",
    steps: 7,
    cfg: { prediction_type: "v_prediction", rescale_betas_zero_snr: true, timestep_spacing: "trailing" },
  },
  { kind: "dpmsolver++", steps: 1, cfg: {} },
  { kind: "euler", steps: 7, cfg: { timestep_spacing: "linspace" } }, // fractional timesteps
  { kind: "euler", steps: 10, cfg: { steps_offset: 1 } },
  { kind: "euler", steps: 6, cfg: { prediction_type: "v_prediction", timestep_spacing: "trailing" } },
];

for (const c of CASES) {
  Deno.test(`${c.kind} loop (${c.steps} steps, ${JSON.stringify(c.cfg)}) matches diffusers' step in float64`, async () => {
    const ctx = await gpu();
    const s = sched(c.cfg);
    const seeds = [5, 9], shape = [3, 4, 5], per = 60;
    // the model depends on t, so a wrong timestep (rounded, shifted) shows
    const k = (t: number) => 0.1 + t / 2000;
    const got = await ctx.scope(async () => {
      const x = await sample(ctx, s, (x, t) => scale(ctx, x, k(t)), {
        kind: c.kind,
        steps: c.steps,
        seeds,
        shape,
      });
      return await x.read();
    });
    const want = refMultistepLoop({
      kind: c.kind,
      timesteps: c.kind === "euler" ? eulerTimesteps(s, c.steps) : dpmTimesteps(s, c.steps),
      alphasCumprod: s.alphasCumprod,
      zeroSnr: s.config.rescale_betas_zero_snr,
      spacing: s.config.timestep_spacing,
      clip: c.kind === "dpmsolver++" && s.config.clip_sample ? 1 : 0,
      seeds,
      per,
      eps: (x, t) => x.map((v) => k(t) * v),
      prediction: s.config.prediction_type,
    });
    const flat = new Float64Array(2 * per);
    want.forEach((w, b) => flat.set(w, b * per));
    assertClose(got, flat, `${c.kind} loop`, 2e-4, 2e-3);
  });
}

Deno.test("samplers: eta is ddim-only, unknown names are refused", async () => {
  const ctx = await gpu();
  const s = sched({});
  const opts = { steps: 3, seeds: [1], shape: [2] };
  await ctx.scope(async () => {
    let err = "";
    await sample(ctx, s, (x) => x, { ...opts, kind: "dpmsolver++", eta: 0.5 }).catch((e) => err = e.message);
    deepStrictEqual(err, "sampler dpmsolver++: eta = 0.5 applies to ddim only (use 0)");
    // deno-lint-ignore no-explicit-any
    await sample(ctx, s, (x) => x, { ...opts, kind: "heun" as any }).catch((e) => err = e.message);
    deepStrictEqual(err, `sampler "heun" is not one of ddim, ddpm, dpmsolver++, euler`);
  });
});

Deno.test("on Gaussian data with the exact model, DPM-Solver++(2M) tracks the probability-flow ODE better than DDIM", () => {
  // x0 ~ N(mu, s^2): E[x0 | x_t] = mu + a s^2 (x_t - a mu) / (a^2 s^2 + sig^2), eps = (x_t - a x0hat) / sig,
  // and the ODE's trajectory through x_T = a_T mu + sqrt(a_T^2 s^2 + sig_T^2) z is
  // x(t) = a_t mu + sqrt(a_t^2 s^2 + sig_t^2) z. Compared: the state each sampler reaches at its last
  // timestep (its final step only returns the posterior mean there, the same for both).
  const mu = 0.3, sd = 0.5, z = 1.7;
  const s = sched({ timestep_spacing: "trailing", clip_sample: false });
  const a = (t: number) => Math.sqrt(s.alphasCumprod[t]),
    sg = (t: number) => Math.sqrt(1 - s.alphasCumprod[t]);
  const eps = (x: number, t: number) => {
    const x0 = mu + a(t) * sd * sd * (x - a(t) * mu) / (a(t) ** 2 * sd * sd + sg(t) ** 2);
    return (x - a(t) * x0) / sg(t);
  };
  const onOde = (t: number) => a(t) * mu + Math.sqrt(a(t) ** 2 * sd * sd + sg(t) ** 2) * z;
  const errs: number[] = [];
  for (const n of [5, 10, 20]) {
    const plan = dpmSolverPlan(s, n), ts = plan.steps.map((c) => c.t);
    deepStrictEqual(ts, s.timesteps(n)); // the same grid as DDIM's with trailing spacing
    let x = onOde(ts[0]), prev = 0;
    for (const c of plan.steps.slice(0, -1)) {
      const x0 = c.xX * x + c.xOut * eps(x, c.t);
      x = c.cX * x + c.c0 * x0 + c.c1 * prev;
      prev = x0;
    }
    let y = onOde(ts[0]);
    for (const t of ts.slice(0, -1)) {
      const d = ddimCoefs(s, t, s.prevTimestep(t, n), 0), out = eps(y, t);
      y = d.c0 * (d.xX * y + d.xOut * out) + d.cEps * (d.eX * y + d.eOut * out);
    }
    const want = onOde(ts[n - 1]), dpmErr = Math.abs(x - want), ddimErr = Math.abs(y - want);
    console.log(
      `${n} steps: |x - x_ode| at t=${ts[n - 1]}: DPM-Solver++ ${dpmErr.toExponential(2)}, DDIM ${
        ddimErr.toExponential(2)
      }`,
    );
    if (!(dpmErr < 0.7 * ddimErr)) throw new Error(`${n} steps: DPM-Solver++ is no closer than DDIM`);
    errs.push(dpmErr);
  }
  if (!(errs[2] < errs[0] / 3)) throw new Error(`DPM-Solver++ errors ${errs} do not shrink with steps`);
});
