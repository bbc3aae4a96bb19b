// Schedules and timesteps against known diffusers values and closed forms (float64, no GPU).
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { NoiseSchedule, roundHalfEven, schedulerConfig } from "../../lib/diffusion/schedule.ts";
import { ddimCoefs, ddpmCoefs, stepPlan } from "../../lib/diffusion/steps.ts";

const near = (a: number, b: number, tol = 1e-12) => {
  if (!(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)))) throw new Error(`${a} != ${b}`);
};

Deno.test("timestep spacing matches diffusers (Lin et al. 2023, Table 2: T=1000, 10 steps)", () => {
  const ts = (spacing: "leading" | "trailing" | "linspace", offset = 0) =>
    new NoiseSchedule(schedulerConfig({ timestep_spacing: spacing, steps_offset: offset })).timesteps(10);
  assertEquals(ts("linspace"), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assertEquals(ts("leading"), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  assertEquals(ts("trailing"), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  // SD-1.5's scheduler: leading with steps_offset 1, 50 steps -> 981, 961, ..., 1.
  const sd = new NoiseSchedule(schedulerConfig({ steps_offset: 1 })).timesteps(50);
  assertEquals([sd[0], sd[1], sd.at(-1), sd.length], [981, 961, 1, 50]);
  // Uneven division: trailing with T=1000, 3 steps rounds 1000, 666.67, 333.33 -> 999, 666, 332.
  assertEquals(new NoiseSchedule(schedulerConfig({ timestep_spacing: "trailing" })).timesteps(3), [
    999,
    666,
    332,
  ]);
  assertEquals([roundHalfEven(2.5), roundHalfEven(3.5), roundHalfEven(-1.5)], [2, 4, -2]);
});

Deno.test("beta schedules: endpoints and closed forms", () => {
  const lin = new NoiseSchedule(schedulerConfig({ beta_start: 1e-4, beta_end: 0.02 }));
  near(lin.betas[0], 1e-4);
  near(lin.betas[999], 0.02);
  near(lin.betas[500] - lin.betas[499], (0.02 - 1e-4) / 999);
  const sl = new NoiseSchedule(
    schedulerConfig({ beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012 }),
  );
  near(sl.betas[0], 0.00085);
  near(sl.betas[999], 0.012);
  near(Math.sqrt(sl.betas[2]) - Math.sqrt(sl.betas[1]), (Math.sqrt(0.012) - Math.sqrt(0.00085)) / 999);
  let p = 1;
  for (const b of sl.betas) p *= 1 - b;
  near(sl.alphasCumprod[999], p);
  // SD-1.5's terminal sqrt(alpha_bar_T) = 0.068265 (Lin et al. 2023, Table 1).
  near(Math.sqrt(sl.alphasCumprod[999]), 0.068265, 1e-5);
  // Cosine: the product telescopes to abar((t+1)/T) / abar(0) wherever beta is not capped.
  const cos = new NoiseSchedule(schedulerConfig({ beta_schedule: "squaredcos_cap_v2" }));
  const f = (u: number) => Math.cos((u + 0.008) / 1.008 * Math.PI / 2) ** 2;
  for (const t of [0, 10, 500, 900]) near(cos.alphasCumprod[t], f((t + 1) / 1000) / f(0), 1e-10);
  near(cos.betas[999], 0.999);
});

Deno.test("DDIM with eta = 1 has DDPM's fixed_small standard deviation", () => {
  const s = new NoiseSchedule(
    schedulerConfig({ beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012 }),
  );
  for (const [t, prev] of [[999, 899], [500, 400], [100, 0]]) {
    near(ddimCoefs(s, t, prev, 1).std, ddpmCoefs(s, t, prev).std, 1e-12);
  }
});

Deno.test("with the true noise, DDIM (eta 0) lands exactly on q(x_prev | x0, eps)", () => {
  const s = new NoiseSchedule(schedulerConfig({ beta_schedule: "squaredcos_cap_v2" }));
  for (const c of stepPlan("ddim", s, 7, 0)) {
    const x0 = 0.3, e = -1.2;
    const [sa, sb] = s.noiseCoefs(c.t);
    const xt = sa * x0 + sb * e;
    const x0hat = (xt - c.sqrtOneMinusA * e) / c.sqrtA;
    const prev = c.c0 * x0hat + c.cEps * e + c.cX * xt;
    const ap = s.alphaProd(c.prevT);
    near(prev, Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * e, 1e-12);
  }
});

Deno.test("zero terminal SNR rescale: abar_T = 0, abar_0 kept, sqrt(abar) an affine map of the original", () => {
  for (const beta_schedule of ["linear", "scaled_linear"] as const) {
    const raw = new NoiseSchedule(schedulerConfig({ beta_schedule, prediction_type: "v_prediction" }));
    const z = new NoiseSchedule(
      schedulerConfig({ beta_schedule, prediction_type: "v_prediction", rescale_betas_zero_snr: true }),
    );
    near(z.alphasCumprod[999], 0, 1e-15);
    near(z.betas[999], 1, 1e-12);
    near(z.alphasCumprod[0], raw.alphasCumprod[0], 1e-12);
    const r0 = Math.sqrt(raw.alphasCumprod[0]), rT = Math.sqrt(raw.alphasCumprod[999]);
    for (const t of [1, 250, 600, 998]) {
      near(Math.sqrt(z.alphasCumprod[t]), (Math.sqrt(raw.alphasCumprod[t]) - rT) * r0 / (r0 - rT), 1e-10);
    }
  }
  throws(() => schedulerConfig({ rescale_betas_zero_snr: true }), /needs prediction_type v_prediction/);
  throws(() => schedulerConfig({ prediction_type: "sample" as "epsilon" }), /prediction_type/);
});

Deno.test("v_prediction: with the true v, DDIM and DDPM steps land on the true posterior quantities", () => {
  const s = new NoiseSchedule(
    schedulerConfig({
      prediction_type: "v_prediction",
      rescale_betas_zero_snr: true,
      timestep_spacing: "trailing",
    }),
  );
  const x0 = 0.3, e = -1.2;
  for (const c of stepPlan("ddim", s, 7, 0)) {
    const [sa, sb] = s.noiseCoefs(c.t);
    const xt = sa * x0 + sb * e, v = sa * e - sb * x0;
    const [tx, te] = s.targetCoefs(c.t);
    near(tx * x0 + te * e, v, 1e-12);
    near(c.xX * xt + c.xOut * v, x0, 1e-12); // x0 estimate, also at abar = 0 (t = 999)
    near(c.eX * xt + c.eOut * v, e, 1e-12);
    const prev = c.c0 * x0 + c.cEps * (c.eX * xt + c.eOut * v) + c.cX * xt;
    const ap = s.alphaProd(c.prevT);
    near(prev, Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * e, 1e-12);
  }
});

Deno.test("config validation names the key and value", () => {
  throws(
    () => schedulerConfig({ beta_schedule: "cosine" as "linear" }, "unet.yaml"),
    new RegExp("beta_schedule"),
  );
  throws(() => schedulerConfig({ beta_start: 0.5, beta_end: 0.1 }), new RegExp("beta_end"));
  throws(() => new NoiseSchedule(schedulerConfig()).timesteps(0), new RegExp("num_inference_steps"));
});
