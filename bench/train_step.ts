// deno task bench-step: end-to-end throughput of the three loops the project runs, in one process:
//   training step   forward + backward + AdamW of the pretraining model at --batch (default 16)
//   sampling step   one guided sampler step (the UNet on [uncond; cond] = 2B, CFG combine, update),
//                   inside a frozen-weights section as sample() runs its steps (weights packed once)
//   SePPO update    one update at --seppo-batch (default 8) from the shipped base --base, with the
//                   trainer's default reference sampler (TRAIN_DEFAULTS.ref), as lib/train/seppo.ts
// plus dispatches and submissions per step, GPU time per kernel from timestamps (where the adapter
// has them; each dispatch then gets its own pass, so these runs are not the timed ones), the share of
// that time outside GEMM kernels, and the effective GFLOP/s against our matmul kernel and the FMA probe.
//   --json FILE    everything as one JSON object (bench/compare.ts reads it)
//   --profile      also print the per-kernel tables
//   --only LIST    comma list of train, sample, seppo, peaks (default all)
//   --reps N       timed repetitions per loop (median; default 5, SePPO min(N, 3))
// The same file runs against older revisions (bench/compare.ts copies it into a worktree of one), so it
// only uses library APIs that exist there and treats newer ones as optional; that is also why it parses
// its flags with node:util rather than lib/cli (which older revisions lack).
import process from "node:process";
import { parseArgs } from "node:util";
import { backward } from "../lib/autograd/backward.ts";
import { addNoise, noiseFor } from "../lib/diffusion/noise.ts";
import { guided } from "../lib/diffusion/sampler.ts";
import { applyStep, stepPlan } from "../lib/diffusion/steps.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { Profiler } from "../lib/gpu/profiler.ts";
import { loadYamlConfig } from "../lib/io/config.ts";
import { exampleShape, loadBundle, referenceModel } from "../lib/nn/bundle.ts";
import { concat, slice } from "../lib/ops/copy.ts";
import { gemm } from "../lib/ops/matmul.ts";
import { preferenceLoss } from "../lib/ops/preference_loss.ts";
import { mean, mseRows } from "../lib/ops/reduce.ts";
import { randn } from "../lib/ops/rng.ts";
import { empty } from "../lib/tensor/tensor.ts";
import { AdamW } from "../lib/train/adamw.ts";
import { copyWeights } from "../lib/train/pool.ts";
import { createModel, PRETRAIN_SCHEMA, type PretrainConfig } from "../lib/train/pretrain.ts";
import { TRAIN_DEFAULTS } from "../lib/train/seppo.ts";
import { fmaProbe } from "./probes.ts";
import { median, timeOurs } from "./timing.ts";

/** Kernels that are GEMMs (multiply-add bound); everything else counts as non-GEMM time. */
export const GEMM_KERNELS = new Set([
  "matmul.wgsl#forward",
  "matmul.wgsl#forward_uniform",
  "matmul.wgsl#weight_grad_uniform",
  "conv2d.wgsl#forward",
  "conv2d.wgsl#forward_uniform",
  "conv2d.wgsl#backward_input",
  "conv2d.wgsl#backward_weight",
  "conv2d.wgsl#backward_weight_uniform",
  // the fused attention (forward, and the backward that recomputes P): multiply-adds with the softmax's
  // exps folded in
  "attention.wgsl#forward",
  "attention.wgsl#backwardQ",
  "attention.wgsl#backwardKV",
]);

const ONLY = ["train", "sample", "seppo", "peaks"];
const USAGE = {
  purpose: "training step, DDIM + CFG sampling step and one SePPO update (its default reference sampler) " +
    "in one run: samples/s, updates/s, dispatches and submits, the non-GEMM share of GPU time, effective " +
    "GFLOP/s against the matmul kernel and the FMA probe; --json writes it all.",
  examples: [
    "deno task bench-step --only train,sample --profile",
    "deno task bench-step --json out/step.json",
  ],
};

// Revisions with lib/host pass the host first to the functions that reach files or the process
// (startTask, configFlags, GpuContext.create); older ones take no host.
const host = await import("../lib/host/deno.ts").then((m) => m.denoHost()).catch(() => null);
// deno-lint-ignore no-explicit-any
function withHost<F extends (...a: any[]) => any>(f: F): (...a: unknown[]) => ReturnType<F> {
  return (...a: unknown[]) => f(...(host ? [host, ...a] : a));
}

interface Options {
  batch: number;
  seppoBatch: number;
  base: string;
  reps: number;
  profile: boolean;
  json?: string;
  only: Set<string>;
  cfg: PretrainConfig;
}

/**
 * The command line through lib/cli (--help, one-line errors); on older revisions, which lack
 * lib/cli (bench-against runs this file there), through node:util with the same flags.
 */
async function options(): Promise<Options> {
  const cli = await Promise.all([
    import("../lib/cli/flags.ts"),
    import("../lib/cli/main.ts"),
    import("../lib/cli/config_flags.ts"),
    import("../lib/util/errors.ts"),
  ]).catch(() => null);
  if (cli) {
    const [{ defineCli, flag }, { startTask }, { configFlags }, { UsageError }] = cli;
    const { flags: f, config } = withHost(startTask)(defineCli({
      task: "bench-step",
      purpose: USAGE.purpose,
      flags: {
        batch: flag.int("training and sampling batch", { default: 16, min: 1 }),
        "seppo-batch": flag.int("SePPO update batch", { default: 8, min: 1 }),
        base: flag.str("the checkpoint the SePPO update fine-tunes", {
          default: TRAIN_DEFAULTS.base,
          arg: "DIR",
        }),
        reps: flag.int("timed repetitions per loop (median; SePPO at most 3)", { default: 5, min: 1 }),
        profile: flag.bool("also print the per-kernel GPU time tables"),
        json: flag.str("write every figure as one JSON object", { arg: "FILE" }),
        only: flag.str(`comma list of ${ONLY.join(", ")}`, { default: ONLY.join(","), arg: "LIST" }),
      },
      config: withHost(configFlags)(PRETRAIN_SCHEMA, { flags: false, file: "configs/pretrain-shapes.yaml" }),
      examples: USAGE.examples,
    }));
    return {
      batch: f.batch,
      seppoBatch: f["seppo-batch"],
      base: f.base,
      reps: f.reps,
      profile: f.profile,
      json: f.json,
      only: onlySet(f.only, (m) => new UsageError(m)),
      cfg: config as PretrainConfig,
    };
  }
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      batch: { type: "string", default: "16" },
      "seppo-batch": { type: "string", default: "8" },
      config: { type: "string", default: "configs/pretrain-shapes.yaml" },
      base: { type: "string", default: TRAIN_DEFAULTS.base },
      reps: { type: "string", default: "5" },
      profile: { type: "boolean", default: false },
      json: { type: "string" },
      only: { type: "string", default: ONLY.join(",") },
    },
  });
  const positive = (name: string, s: string | undefined) => {
    const n = Number(s);
    if (!(Number.isInteger(n) && n > 0)) {
      throw new Error(`flag --${name}: expected a positive integer, got "${s}"`);
    }
    return n;
  };
  return {
    batch: positive("batch", v.batch),
    seppoBatch: positive("seppo-batch", v["seppo-batch"]),
    base: v.base!,
    reps: positive("reps", v.reps),
    profile: v.profile!,
    json: v.json,
    only: onlySet(v.only!, (m) => new Error(m)),
    cfg: withHost(loadYamlConfig)(v.config!, PRETRAIN_SCHEMA) as PretrainConfig,
  };
}

function onlySet(list: string, error: (message: string) => Error): Set<string> {
  const only = new Set(list.split(","));
  for (const k of only) {
    if (!ONLY.includes(k)) throw error(`flag --only: "${k}" is not one of ${ONLY.join(", ")}`);
  }
  return only;
}

const o = await options();
const B = o.batch, SB = o.seppoBatch, reps = o.reps, only = o.only, cfg = o.cfg;
const v = { profile: o.profile, base: o.base, json: o.json };
const ctx: GpuContext = await withHost(GpuContext.create.bind(GpuContext))();
const profiler = ctx.features.has("timestamp-query") ? new Profiler(ctx.device) : null;
const stats = ctx.stats as { dispatches: number; submits: number; flops?: number };
// "Vulkan / llvmpipe (lavapipe) ..., software" (older revisions have no label: the env override or
// wgpu's default, which is GL there on Linux)
const backend = (ctx as unknown as { label?: string }).label ??
  `${Deno.env.get("DENO_WEBGPU_BACKEND") ?? "wgpu default"} / ${ctx.adapterName}`;
const model = createModel(ctx, cfg);
const size = cfg.data.size;
const texts = Array(B).fill("a large red circle on the left, blue background");
const ts = Array.from({ length: B }, (_, i) => (97 * i) % 1000);

interface LoopResult {
  ms: number;
  /** Median process CPU ms per run (the software adapter's threads included): other processes on the
   * machine stretch wall time much more than this. */
  cpu_ms: number;
  dispatches: number;
  submits: number;
  gflop: number | null;
}

/** Median wall ms of `fn` (each run ends in a sync) and its per-run dispatch, submit and FLOP counts. */
async function time(fn: () => Promise<unknown>, n: number): Promise<LoopResult> {
  await fn();
  await ctx.sync();
  const ms: number[] = [], cpu: number[] = [];
  const d0 = stats.dispatches, s0 = stats.submits, f0 = stats.flops;
  for (let r = 0; r < n; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    await ctx.sync();
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return {
    ms: median(ms),
    cpu_ms: median(cpu),
    dispatches: (stats.dispatches - d0) / n,
    submits: (stats.submits - s0) / n,
    gflop: f0 === undefined ? null : (stats.flops! - f0) / n / 1e9,
  };
}

interface KernelRow {
  kernel: string;
  ms: number;
  share: number;
  count: number;
}
interface ProfileResult {
  /** Dispatches timed, of those run (the query set holds 2048; later ones go untimed). */
  timed: number;
  dispatches: number;
  gpu_ms: number;
  gemm_ms: number;
  non_gemm_share: number;
  kernels: KernelRow[];
  labels: { label: string; ms: number; share: number; count: number }[];
}

/** One run of `fn` with every dispatch timestamped; GPU ms per kernel entry point. */
async function profile(fn: () => Promise<unknown>): Promise<ProfileResult | null> {
  if (!profiler) return null;
  ctx.profiler = profiler;
  const d0 = stats.dispatches;
  try {
    await fn();
    await ctx.sync();
    const t = await profiler.read();
    const agg = new Map<string, [number, number]>(), byLabel = new Map<string, [number, number]>();
    for (const { label, ms } of t) {
      for (const [m, k] of [[agg, label.split(" ")[0]], [byLabel, label]] as const) {
        const a = m.get(k) ?? [0, 0];
        m.set(k, [a[0] + ms, a[1] + 1]);
      }
    }
    const total = t.reduce((a, x) => a + x.ms, 0);
    const gemmMs = [...agg].filter(([k]) => GEMM_KERNELS.has(k)).reduce((a, [, [ms]]) => a + ms, 0);
    const kernels = [...agg].sort((a, b) => b[1][0] - a[1][0])
      .map(([kernel, [ms, count]]) => ({ kernel, ms, share: ms / total, count }));
    const dispatches = stats.dispatches - d0;
    return {
      timed: t.length,
      dispatches,
      gpu_ms: total,
      gemm_ms: gemmMs,
      non_gemm_share: 1 - gemmMs / total,
      kernels,
      // the 60 costliest labels (kernel and shape, e.g. a GEMM's batch x M x K x N)
      labels: [...byLabel].sort((a, b) => b[1][0] - a[1][0]).slice(0, 60)
        .map(([label, [ms, count]]) => ({ label, ms, share: ms / total, count })),
    };
  } finally {
    ctx.profiler = null;
  }
}

function printProfile(title: string, p: ProfileResult | null) {
  if (!p) return;
  console.log(
    `\n${title}: GPU ${p.gpu_ms.toFixed(1)} ms, non-GEMM ${(100 * p.non_gemm_share).toFixed(1)}%` +
      (p.timed < p.dispatches ? ` (only ${p.timed} of ${p.dispatches} dispatches timed)` : "") +
      (v.profile ? "" : " (--profile lists the kernels)"),
  );
  if (!v.profile) return;
  for (const k of p.kernels.slice(0, 24)) {
    const tag = GEMM_KERNELS.has(k.kernel) ? "gemm" : "";
    console.log(
      `  ${k.kernel.padEnd(34)} ${k.ms.toFixed(1).padStart(8)} ms ${
        (100 * k.share).toFixed(1).padStart(5)
      }%` +
        `  x${String(k.count).padEnd(5)} ${tag}`,
    );
  }
}

const load = Deno.loadavg?.() ?? [];
console.log(`backend / adapter: ${backend}; load ${load.map((x) => x.toFixed(2)).join(" ")}`);
console.log(`unet ${model.unet.numParams()} params; batch ${B}, ${size}x${size}; median of ${reps}`);
const line = (label: string, r: LoopResult, rate: string) =>
  console.log(
    `${label.padEnd(36)} ${r.ms.toFixed(1).padStart(8)} ms (cpu ${r.cpu_ms.toFixed(0)} ms)  ${
      rate.padEnd(20)
    } ` +
      `${r.dispatches.toFixed(0)} dispatches, ${r.submits.toFixed(0)} submits` +
      (r.gflop === null ? "" : `, ${r.gflop.toFixed(2)} GFLOP`),
  );

// ---- training step ----------------------------------------------------------------------------
let train: (LoopResult & { samples_per_s: number; profile: ProfileResult | null }) | null = null;
if (only.has("train")) {
  const opt = new AdamW(ctx, model.paramList(), { lr: 1e-4, maxGradNorm: 1 });
  const trainStep = () =>
    ctx.scope(() => {
      const x0 = randn(ctx, [B, 3, size, size], 1), eps = randn(ctx, [B, 3, size, size], 2);
      const e = model.denoiseErrors(ctx, x0, eps, ts, model.encode(ctx, texts));
      backward(ctx, mean(ctx, e));
      opt.update();
      opt.zeroGrad();
    });
  const r = await time(trainStep, reps);
  train = { ...r, samples_per_s: B / (r.ms / 1000), profile: await profile(trainStep) };
  line("training step (fwd+bwd+AdamW)", r, `${train.samples_per_s.toFixed(2)} samples/s`);
  opt.dispose();
}

// ---- sampling step: DDIM + CFG ----------------------------------------------------------------
let sample: (LoopResult & { samples_per_s: number; profile: ProfileResult | null }) | null = null;
if (only.has("sample")) {
  const plan = stepPlan("ddim", model.schedule, 20);
  const clip = model.schedule.config.clip_sample ? model.schedule.config.clip_sample_range : 0;
  const { cond, uncond } = ctx.noGrad(() => ({
    cond: model.encode(ctx, texts),
    uncond: model.encode(ctx, texts.map(() => "")),
  }));
  const cfgEps = guided(
    ctx,
    (x, t, h, m) => model.unet.forward(ctx, x, t, h, m),
    cond.hidden,
    uncond.hidden,
    3,
    cond.mask,
    uncond.mask,
  );
  const x = ctx.noGrad(() => randn(ctx, [B, 3, size, size], 3)).keep();
  const sampleStep = () =>
    ctx.scope(() => ctx.noGrad(() => applyStep(ctx, plan[5], x, cfgEps.eps(x, plan[5].t), null, clip)));
  // A step inside a sampling loop, as sample() runs it: weights frozen, so their packed layouts are
  // made in the warm-up step and reused (revisions before withFrozenWeights pack in every step).
  const frozen = (ctx as { withFrozenWeights?: <T>(f: () => Promise<T>) => Promise<T> }).withFrozenWeights
    ?.bind(ctx) ?? (<T>(f: () => Promise<T>) => f());
  const { r, prof } = await frozen(async () => {
    const r = await time(sampleStep, reps);
    return { r, prof: await profile(sampleStep) };
  });
  sample = { ...r, samples_per_s: B / (r.ms / 1000), profile: prof };
  line("sampling step (DDIM + CFG, UNet on 2B)", r, `${sample.samples_per_s.toFixed(2)} samples/s`);
  cfgEps.dispose();
  x.persistent = false;
  x.dispose();
}

// ---- one SePPO update with the default reference sampler --------------------------------------
let seppo: (LoopResult & Record<string, unknown>) | null = null;
if (only.has("seppo")) {
  const base = await loadBundle(ctx, v.base!, 0);
  base.textEncoder.setTrainable(false);
  const policy = base.unet.parameters();
  const ref = referenceModel(ctx, base);
  copyWeights(ctx, policy, ref.unet.parameters());
  const opt = new AdamW(ctx, [...policy.values()], { lr: 1e-5, maxGradNorm: 1 });
  const refCfg = TRAIN_DEFAULTS.ref as typeof TRAIN_DEFAULTS.ref & { sampler?: string };
  const shape = exampleShape(base);
  const T = base.schedule.config.num_train_timesteps;
  const prompts = Array.from({ length: SB }, (_, i) => `a ${["red", "blue"][i % 2]} square at the top`);
  const sts = Array.from({ length: SB }, (_, i) => (131 * i + 17) % T);
  let round = 0;
  // The body of lib/train/seppo.ts's loop for method seppo (without pool I/O and logging).
  // split: set for one extra run after the timed ones, which syncs between the two parts
  let split: { generate_ms: number; train_ms: number } | null = null, splitting = false;
  const update = async () => {
    round++;
    const seeds = prompts.map((_, i) => 1000 * round + i);
    const t0 = performance.now();
    const xl = (await ref.generate(
      ctx,
      prompts,
      seeds,
      {
        steps: refCfg.steps,
        guidance: refCfg.guidance,
        eta: refCfg.eta,
        ...(refCfg.sampler ? { kind: refCfg.sampler } : {}),
      } as Parameters<typeof ref.generate>[3],
    )).keep();
    if (splitting) await ctx.sync();
    const t1 = performance.now();
    await ctx.scope(() => {
      const c = ctx.noGrad(() => base.encode(ctx, prompts));
      const xw = randn(ctx, [SB, ...shape], round);
      const eps = noiseFor(ctx, seeds, shape);
      const x2 = concat(ctx, [xw, xl], 0), eps2 = concat(ctx, [eps, eps], 0), ts2 = [...sts, ...sts];
      const h2 = concat(ctx, [c.hidden, c.hidden], 0), m2 = concat(ctx, [c.mask, c.mask], 0);
      const xt2 = ctx.noGrad(() => addNoise(ctx, base.schedule, x2, eps2, ts2));
      const eTheta = mseRows(ctx, base.unet.forward(ctx, xt2, ts2, h2, m2), eps2);
      const eRef = ctx.noGrad(() => mseRows(ctx, ref.unet.forward(ctx, xt2, ts2, h2, m2), eps2));
      const out = preferenceLoss(
        ctx,
        slice(ctx, eTheta, 0, 0, SB),
        slice(ctx, eRef, 0, 0, SB),
        slice(ctx, eTheta, 0, SB, 2 * SB),
        slice(ctx, eRef, 0, SB, 2 * SB),
        { beta: TRAIN_DEFAULTS.beta, aaf: TRAIN_DEFAULTS.aaf as "sign" },
      );
      backward(ctx, mean(ctx, out.loss));
    });
    xl.persistent = false;
    xl.dispose();
    opt.update();
    opt.zeroGrad();
    if (splitting) {
      await ctx.sync();
      split = { generate_ms: t1 - t0, train_ms: performance.now() - t1 };
    }
  };
  const r = await time(update, Math.min(reps, 3));
  splitting = true;
  await update();
  seppo = {
    ...r,
    updates_per_s: 1000 / r.ms,
    batch: SB,
    base: v.base,
    sampler: refCfg.sampler ?? "ddim",
    steps: refCfg.steps,
    guidance: refCfg.guidance,
    // one more update, synced between its parts: the reference sampler's images, then the loss step
    split,
  };
  line(
    `SePPO update (batch ${SB}, ${seppo.sampler} x${refCfg.steps})`,
    r,
    `${(1000 / r.ms).toFixed(3)} updates/s`,
  );
  const sp = split as { generate_ms: number; train_ms: number } | null;
  if (sp) {
    console.log(
      `  of one more, synced between its parts: reference sampler ${sp.generate_ms.toFixed(0)} ms, ` +
        `loss step (two forwards, a backward, AdamW) ${sp.train_ms.toFixed(0)} ms`,
    );
  }
  opt.dispose();
  ref.unet.dispose();
  base.dispose();
}

// ---- effective rate against the matmul kernel and the FMA probe --------------------------------
let peaks: Record<string, number | null> | null = null;
if (only.has("peaks")) {
  const n = 512;
  const a = randn(ctx, [n, n], 5), b = randn(ctx, [n, n], 6), c = empty(ctx, [n, n]);
  const mm = await timeOurs(
    ctx,
    () => gemm(ctx, a, b, c, { batch: 1, M: n, N: n, K: n, sam: n, sak: 1, sa1: 0, sbk: n, sbn: 1, sb1: 0 }),
  );
  for (const t of [a, b, c]) t.dispose();
  const fma = await fmaProbe(ctx, false);
  const matmulGflops = 2 * n ** 3 / mm.ms / 1e6;
  const eff = train?.gflop ? train.gflop / (train.ms / 1000) : null;
  peaks = {
    matmul_gflops: matmulGflops,
    fma_gflops: fma.gflops,
    train_effective_gflops: eff,
    train_vs_matmul: eff === null ? null : eff / matmulGflops,
    train_vs_fma: eff === null ? null : eff / fma.gflops,
  };
  console.log(
    `matmul kernel ${matmulGflops.toFixed(2)} GFLOP/s (${n}^3), FMA probe ${fma.gflops.toFixed(2)} GFLOP/s` +
      (eff === null
        ? ""
        : `; training step ${eff.toFixed(2)} GFLOP/s effective = ${(100 * eff / matmulGflops).toFixed(0)}% ` +
          `of matmul, ${(100 * eff / fma.gflops).toFixed(1)}% of FMA`),
  );
}

printProfile("training step", train?.profile ?? null);
printProfile("sampling step", sample?.profile ?? null);

if (v.json) {
  const result = {
    backend,
    adapter: ctx.adapterName,
    software: ctx.isSoftware,
    load_avg: load,
    batch: B,
    size,
    reps,
    train,
    sample,
    seppo,
    peaks,
  };
  await Deno.writeTextFile(v.json, JSON.stringify(result, null, 1) + "\n");
  console.log(`wrote ${v.json}`);
}
model.dispose();
ctx.destroy();
