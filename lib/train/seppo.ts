// Preference fine-tuning from a base checkpoint: SePPO and its baselines (SEPPO.md), one code path.
//   sft   : loss = e(theta, x_w)                          (winners only)
//   dpo   : Diffusion-DPO, data losers, reference theta_0 (frozen), s = +1
//   spin  : reference = latest pool snapshot, loser slot = its sample, s = +1
//   seppo : reference ~ pool (ref.strategy, default uniform), loser slot = its sample, AAF (default sign)
// Per optimizer update: pick the reference entry (pure, seeded), load it into the reference UNet,
// generate the loser-slot images with it on the GPU (DDIM + CFG, no readback), share one timestep
// and one noise per example between winner and loser slot, evaluate policy and reference on both
// in one batched forward each, apply the loss-family kernel, step AdamW, snapshot into the pool.
// Images or clips through the same loop: data.frames = F > 0 makes every example [F, 3, H, W] and the
// model a TextToVideo (lib/nn/bundle.ts); the per-example errors are then means over frames too.
import { DEFAULT_SAMPLER, type Sampler, SAMPLERS } from "../diffusion/sampler.ts";
import { backward } from "../autograd/backward.ts";
import { addNoise, dropPrompts, noiseFor, sampleTimesteps, trainingTarget } from "../diffusion/noise.ts";
import type { GpuContext } from "../gpu/context.ts";
import { checkpointDir } from "../io/checkpoint.ts";
import { bool, defineSchema, int, list, num, oneOf, type Schema, str } from "../io/config.ts";
import { loadImageFolder, requireLosers } from "../data/imagefolder.ts";
import type { MetadataRow } from "../data/metadata.ts";
import {
  exampleShape,
  generatePixels,
  loadBundle,
  pixelSize,
  referenceModel,
  toPixels,
} from "../nn/bundle.ts";
import { DEFAULT_LORA_TARGETS, loraFromConfig } from "../nn/lora.ts";
import { TextToVideo } from "../nn/pipeline_video.ts";
import { concat, filled, slice } from "../ops/copy.ts";
import { type AafMode, preferenceLoss } from "../ops/preference_loss.ts";
import { mean, mseRows } from "../ops/reduce.ts";
import { scale } from "../ops/scale.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { Progress } from "../util/progress.ts";
import { StoppedError } from "../util/errors.ts";
import { Rng } from "../util/rng.ts";
import { AdamW } from "./adamw.ts";
import type { AafRow } from "./aaf_log.ts";
import { Ema, emaDecayAt } from "./ema.ts";
export { emaDecayAt };
import { checkF16Range } from "./guard.ts";
import { samplePrompts, writeGrid } from "./images.ts";
import { lrAt } from "./lr.ts";
import { trainingExamples } from "./latent_data.ts";
import { CheckpointPool, copyWeights, type RefStrategy, selectReference } from "./pool.ts";
import {
  batchSchedule,
  decodeTrainerState,
  encodeTrainerState,
  fmtSecs,
  MetricsLog,
  StopFlag,
  withWeights,
} from "./run.ts";
import { RunFolder, type RunOptions } from "./run_folder.ts";

export type Method = "sft" | "dpo" | "spin" | "seppo";

export interface TrainConfig {
  base: string;
  /** frames: 0 (or absent) = images [3, H, W]; F > 0 = clips [F, 3, H, W] and a text-to-video model. */
  data: { prefs: string; size: number; frames?: number };
  method: string;
  /** sampler: ddim | dpmsolver++ | euler (| ddpm); default DEFAULT_SAMPLER; eta is ddim's only. */
  ref: { strategy: string; sampler?: string; steps: number; guidance: number; eta: number };
  aaf: string;
  beta: number;
  pool: { size: number; interval: number; gpu_budget_mb: number };
  train: {
    steps: number;
    /** Micro-batch size; an update sees batch * grad_accum examples. */
    batch: number;
    /** Micro-batches accumulated per optimizer update (the same update as one batch that many times larger). */
    grad_accum: number;
    lr: number;
    warmup: number;
    schedule: string;
    min_lr_ratio: number;
    weight_decay: number;
    max_grad_norm: number;
    /**
     * EMA of the fine-tuned weights, the weights checkpoints save as the model (what eval sees); 0 = off.
     * The decay after n updates is min(ema, (1 + n) / (10 + n)), diffusers' EMAModel warmup, so a short
     * run averages its last updates instead of staying at the base.
     */
    ema: number;
    /** Share of training captions replaced by "" (keeps the unconditional half of CFG trained). */
    prompt_dropout: number;
    seed: number;
    /** Clips only: train the motion modules alone, the spatial UNet frozen (AnimateDiff's recipe). */
    motion_only: boolean;
    /** Checkpoints kept in the run folder, newest first (0: all). */
    checkpoints_total_limit: number;
    /** A non-finite loss or gradient norm: "stop" the run, or "skip" the update (lib/train/guard.ts). */
    nan_policy: string;
    nan_max_skips: number;
  };
  log: {
    every: number;
    sample_every: number;
    ckpt_every: number;
    sample_steps: number;
    sample_guidance: number;
    /** Prompts of the sample grids, or .txt/.jsonl files of them ([]: the first 8 captions). */
    sample_prompts: string[];
  };
  save: { dtype: string; keep_all: boolean };
  /**
   * LoRA adapters on the UNet (latent models only): rank 0 trains the whole UNet; otherwise only the
   * adapters train and the pool and reference share the frozen base (alpha 0 means alpha = rank).
   */
  lora: { rank: number; alpha: number; targets: string[] };
  out: string;
}

export const TRAIN_DEFAULTS: TrainConfig = {
  base: "models/base-shapes-16",
  data: { prefs: "data/generated/shapes-prefs", size: 16, frames: 0 },
  method: "seppo",
  // 7 DDIM steps: the base's reference samples score as with 8 and not measurably below 10 (3 seeds,
  // docs/SAMPLERS.md), at 70% of the cost of 10
  ref: { strategy: "uniform", sampler: DEFAULT_SAMPLER, steps: 7, guidance: 3, eta: 0 },
  aaf: "sign",
  beta: 2000,
  pool: { size: 7, interval: 30, gpu_budget_mb: 512 },
  train: {
    steps: 200,
    batch: 16,
    grad_accum: 1,
    lr: 1e-4,
    warmup: 10,
    schedule: "constant",
    min_lr_ratio: 1,
    weight_decay: 0,
    max_grad_norm: 1,
    ema: 0.999,
    prompt_dropout: 0.1,
    seed: 0,
    motion_only: false,
    checkpoints_total_limit: 1,
    nan_policy: "stop",
    nan_max_skips: 5,
  },
  log: {
    every: 10,
    sample_every: 0,
    ckpt_every: 50,
    sample_steps: 20,
    sample_guidance: 3,
    sample_prompts: [],
  },
  save: { dtype: "F32", keep_all: false },
  lora: { rank: 0, alpha: 0, targets: DEFAULT_LORA_TARGETS },
  out: "runs/seppo",
};

export const TRAIN_SCHEMA: Schema<TrainConfig> = defineSchema(TRAIN_DEFAULTS, {
  "base": str(),
  "data.prefs": str(),
  "data.size": int({ min: 8 }),
  "data.frames": int({ min: 0 }),
  "method": oneOf("sft", "dpo", "spin", "seppo"),
  "ref.strategy": oneOf("initial", "latest", "uniform"),
  "ref.sampler": oneOf(...SAMPLERS),
  "ref.steps": int({ min: 1, max: 1000 }),
  "ref.guidance": num({ min: 1 }),
  "ref.eta": num({ min: 0, max: 1 }),
  "aaf": oneOf("sign", "indicator", "off"),
  "beta": num({ gt: 0 }),
  "pool.size": int({ min: 1 }),
  "pool.interval": int({ min: 1 }),
  "pool.gpu_budget_mb": num({ min: 0 }),
  "train.steps": int({ min: 1 }),
  "train.batch": int({ min: 1 }),
  "train.grad_accum": int({ min: 1 }),
  "train.lr": num({ gt: 0 }),
  "train.warmup": int({ min: 0 }),
  "train.schedule": oneOf("constant", "cosine", "linear"),
  "train.min_lr_ratio": num({ min: 0, max: 1 }),
  "train.weight_decay": num({ min: 0 }),
  "train.max_grad_norm": num({ min: 0 }),
  "train.ema": num({ min: 0, lt: 1 }),
  "train.prompt_dropout": num({ min: 0, max: 1 }),
  "train.seed": int({ min: 0 }),
  "train.motion_only": bool(),
  "train.checkpoints_total_limit": int({ min: 0 }),
  "train.nan_policy": oneOf("stop", "skip"),
  "train.nan_max_skips": int({ min: 1 }),
  "log.every": int({ min: 1 }),
  "log.sample_every": int({ min: 0 }),
  "log.ckpt_every": int({ min: 1 }),
  "log.sample_steps": int({ min: 1 }),
  "log.sample_guidance": num({ min: 1 }),
  "log.sample_prompts": list(str()),
  "save.dtype": oneOf("F16", "F32"),
  "save.keep_all": bool(),
  "lora.rank": int({ min: 0 }),
  "lora.alpha": num({ min: 0 }),
  "lora.targets": list(str(), { minLength: 1 }),
  "out": str(),
});

/** What a method fixes (SEPPO.md's table); seppo takes ref.strategy and aaf from the config. */
export const METHOD_PRESETS: Record<
  Method,
  { strategy?: RefStrategy; aaf?: AafMode; loser: "none" | "data" | "ref" }
> = {
  sft: { aaf: "off", loser: "none" }, // no loser slot: nothing to flip
  dpo: { strategy: "initial", aaf: "off", loser: "data" },
  spin: { strategy: "latest", aaf: "off", loser: "ref" },
  seppo: { loser: "ref" },
};

export interface Resolved {
  method: Method;
  strategy: RefStrategy;
  aaf: AafMode;
  loser: "none" | "data" | "ref";
}

/**
 * Applies the method's preset. `explicit` lists config keys the user set (file or flag): setting a
 * key that the method fixes to another value is an error, so an ablation is never silently ignored.
 */
export function resolveMethod(c: TrainConfig, explicit: Set<string> = new Set()): Resolved {
  const method = c.method as Method;
  const p = METHOD_PRESETS[method];
  for (
    const [key, fixed, given] of [["ref.strategy", p.strategy, c.ref.strategy], [
      "aaf",
      p.aaf,
      c.aaf,
    ]] as const
  ) {
    if (fixed && explicit.has(key) && given !== fixed) {
      throw new Error(
        `method ${method} fixes ${key} = ${fixed} (got ${given}); use method seppo for ablations`,
      );
    }
  }
  return {
    method,
    strategy: p.strategy ?? (c.ref.strategy as RefStrategy),
    aaf: p.aaf ?? (c.aaf as AafMode),
    loser: p.loser,
  };
}

export interface StepStats {
  step: number;
  loss: number;
  implicit_acc: number;
  flip_rate: number;
  e_theta_w: number;
  e_ref_w: number;
  e_theta_l: number;
  e_ref_l: number;
  ref_entry: number;
  ref_update: number;
  lr: number;
  grad_norm: number;
  updates_per_s: number;
  seconds: number;
  /** Mean quality of this update's reference samples (with a judge). */
  ref_quality?: number;
}

export interface TrainResult {
  out: string;
  steps: number;
  seconds: number;
  updatesPerSecond: number;
  last: StepStats | null;
  /** The newest checkpoint folder (what to pass to --ckpt), or null when none was saved. */
  checkpoint: string | null;
}

/** The world's reading of one reference sample: quality in [0, 1], good when > 0.5 (AAF diagnostics). */
export type RefJudge = (pixels: Float32Array, row: MetadataRow) => number;

export async function train(
  ctx: GpuContext,
  c: TrainConfig,
  o: RunOptions & {
    explicit?: Set<string>;
    log?: (s: string) => void;
    quiet?: boolean;
    /** Scores every reference sample and writes aaf.jsonl (AAF call vs truth), see aaf_log.ts. */
    judge?: RefJudge;
    /** Called after every update (its grid and checkpoint written), with its stats when it logged. */
    onUpdate?: (done: number, stats: StepStats | null) => unknown;
    /** Stops the run like Ctrl-C when requested (the caller disposes it); default: the host's signals. */
    stop?: StopFlag;
  } = {},
): Promise<TrainResult> {
  const say = o.log ?? console.log;
  const r = resolveMethod(c, o.explicit);
  const B = c.train.batch, K = c.train.grad_accum, N = B * K, size = c.data.size, F = c.data.frames ?? 0;
  if (c.train.motion_only && F === 0) {
    throw new Error(`train.motion_only = true needs clips (data.frames > 0, got ${F})`);
  }
  const sampler = c.ref.sampler ?? DEFAULT_SAMPLER;
  if (c.ref.eta > 0 && sampler !== "ddim") {
    throw new Error(`ref.eta = ${c.ref.eta} applies to ref.sampler ddim only (ref.sampler = ${sampler})`);
  }
  const data = await loadImageFolder(ctx.host, c.data.prefs, { size, frames: F || undefined });
  if (r.loser === "data") requireLosers(data, `method ${r.method}`);
  const model = await loadBundle(ctx, c.base, F, { lora: loraFromConfig(c.lora), seed: c.train.seed });
  if (pixelSize(model) !== size) {
    throw new Error(`data.size ${size} does not match ${c.base}'s image size ${pixelSize(model)}`);
  }
  // Latent models train on VAE latents of the images (encoded once, cached beside the data).
  const examples = await trainingExamples(ctx, model, data, say);
  model.textEncoder.setTrainable(false);
  // The policy's whole UNet: what the pool snapshots and the reference model receives.
  const policy = model.unet.parameters();
  // What AdamW updates and the trainer state holds: the motion modules alone with motion_only.
  let trainable = policy;
  if (c.train.motion_only && model instanceof TextToVideo) {
    model.unet.unet.setTrainable(false);
    trainable = new Map(model.unet.motionParamNames().map((k) => [k, policy.get(k)!]));
  }
  const refModel = referenceModel(ctx, model);
  const refUnet = refModel.unet;
  const refWeights = refUnet.parameters();
  copyWeights(ctx, policy, refWeights);
  say(
    `train: method ${r.method}` +
      (r.loser === "none" ? "" : `, reference ${r.strategy}, aaf ${r.aaf}, beta ${c.beta}`) +
      `, ${data.items.length} winners${F ? ` (clips of ${F} frames)` : ""}, base ${c.base}` +
      `, ${N} examples per update${K > 1 ? ` (${K} x ${B})` : ""}` +
      (c.train.ema > 0 ? `, EMA ${c.train.ema}` : "") +
      (trainable === policy ? "" : `, motion modules only (${trainable.size} tensors)`),
  );
  const opt = new AdamW(ctx, [...trainable.values()], {
    lr: c.train.lr,
    weightDecay: c.train.weight_decay,
    maxGradNorm: c.train.max_grad_norm,
  });
  const ema = c.train.ema > 0 ? new Ema(ctx, trainable, c.train.ema) : null;
  const run = await RunFolder.open(ctx.host, "train", c, TRAIN_SCHEMA, o, say);
  const poolOpts = {
    size: c.pool.size,
    interval: c.pool.interval,
    gpuBudgetBytes: c.pool.gpu_budget_mb * 2 ** 20,
    dir: `${c.out}/pool-spill`,
  };
  let pool: CheckpointPool;
  let start = 0;
  const last = run.from;
  if (last) {
    const path = `${last.dir}/trainer_state.safetensors`;
    const meta = decodeTrainerState(
      ctx,
      await ctx.host.fs.readFile(path),
      path,
      trainable,
      opt,
      ema?.weights ?? null,
    );
    start = Number(meta.step);
    pool = await CheckpointPool.restore(ctx, poolOpts, policy, `${last.dir}/pool`);
    say(`resume: ${last.dir} (update ${start}, pool of ${pool.length})`);
  } else {
    pool = new CheckpointPool(ctx, poolOpts);
    await pool.add(0, policy); // theta_0
  }
  if (c.save.dtype === "F16") await checkF16Range(ctx, ema?.weights ?? policy, last ? last.dir : c.base);
  const metrics = await run.metrics();
  const guard = run.guard(opt, c);
  let skips = 0; // updates skipped since the last metrics row (train.nan_policy skip)
  const judged = o.judge && r.loser === "ref";
  const aafLog = judged ? await MetricsLog.open(ctx.host, `${c.out}/aaf.jsonl`, last ? start : null) : null;
  const stop = o.stop ?? new StopFlag(ctx.host);
  await stop.ready;
  const T = model.schedule.config.num_train_timesteps;
  const shape = exampleShape(model); // [3, H, W] or [F, 3, H, W]
  const per = shape.reduce((a, b) => a * b, 1);
  // The data order depends on the examples per update only, so grad_accum k x batch b and 1 x (k b)
  // see the same examples.
  const batchAt = batchSchedule(examples, N, c.train.seed, c.data.prefs);
  let loadedEntry = -1; // pool entry id currently in the reference UNet
  const progress = o.quiet ? null : new Progress(ctx.host, `train ${r.method}`, c.train.steps);
  progress?.skip(start);
  const t0 = performance.now();
  let lastStats: StepStats | null = null;
  const sampleDir = `${c.out}/samples`;
  const gridPrompts = await samplePrompts(ctx.host, c.log.sample_prompts, data.items.map((x) => x.text));
  // Checkpoints and sample grids show the EMA weights (what evaluation uses) when EMA is on.
  const asEvaluated = <T>(
    fn: () => Promise<T>,
  ) => (ema ? withWeights(ctx, trainable, ema.weights, fn) : fn());

  const saveCheckpoint = async (step: number) => {
    skips += (await guard.check()).newSkips; // never save after a non-finite update (policy stop)
    const dir = checkpointDir(c.out, step);
    const state = await encodeTrainerState(trainable, opt, ema?.weights ?? null, {
      step: String(step),
      method: r.method,
    });
    const extra = {
      "trainer_state.safetensors": state,
      ...(await pool.files("pool/")),
      ...run.checkpointFiles(),
    };
    await asEvaluated(() => model.save(dir, extra, c.save.dtype as "F16" | "F32"));
    await run.saved(step);
  };

  let step = start;
  try {
    for (; step < c.train.steps && !stop.requested; step++) {
      const lr = lrAt(step, {
        lr: c.train.lr,
        warmup: c.train.warmup,
        schedule: c.train.schedule as "constant",
        total: c.train.steps,
        minRatio: c.train.min_lr_ratio,
      });
      const rng = new Rng(c.train.seed).fork(`update-${step}`);
      const batch = batchAt(step);
      const refIndex = r.loser === "none" ? 0 : selectReference(r.strategy, pool.length, c.train.seed, step);
      const entry = pool.entries[refIndex];
      if (r.loser !== "none" && entry.id !== loadedEntry) {
        await pool.loadInto(refIndex, refWeights);
        loadedEntry = entry.id;
      }
      // Every random draw of the update is made for all N examples up front, in this order, so the
      // draws of example i do not depend on how the update is split into micro-batches.
      const refSeeds = batch.texts.map(() => rng.next());
      const ts = sampleTimesteps(rng, N, T);
      const noiseSeeds = ts.map(() => rng.next());
      // Prompt dropout on the training captions only; reference samples follow the real prompt.
      const texts = c.train.prompt_dropout > 0
        ? dropPrompts(batch.texts, c.train.prompt_dropout, rng)
        : batch.texts;
      const kept: Tensor[] = [];
      const aafRow: AafRow | null = judged
        ? { step: step + 1, ref_update: entry.update, s: [], quality: [] }
        : null;
      for (let a = 0; a < K; a++) {
        const lo = a * B, hi = lo + B;
        // Loser slot [B, ...shape]: data losers (dpo), or samples of the reference model for the same
        // prompts (clips from a video reference).
        let xl: Tensor | null = null;
        if (r.loser === "data") {
          xl = tensor(ctx, batch.losers!.subarray(lo * per, hi * per), [B, ...shape]).keep();
        }
        if (r.loser === "ref") {
          xl = (await refModel.generate(ctx, batch.texts.slice(lo, hi), refSeeds.slice(lo, hi), {
            kind: sampler as Sampler,
            steps: c.ref.steps,
            guidance: c.ref.guidance,
            eta: c.ref.eta,
          })).keep();
          if (aafRow) {
            const pixels = toPixels(ctx, model, xl); // decoded for a latent model
            const px = await pixels.read(), pp = px.length / B;
            if (pixels !== xl) pixels.dispose();
            for (let i = 0; i < B; i++) {
              aafRow.quality.push(
                o.judge!(px.subarray(i * pp, (i + 1) * pp), data.items[batch.indices[lo + i]]),
              );
            }
          }
        }
        kept.push(
          await microBatch(ctx, {
            model,
            refUnet,
            aaf: r.aaf,
            beta: c.beta,
            xw: batch.images.subarray(lo * per, hi * per),
            xl,
            texts: texts.slice(lo, hi),
            ts: ts.slice(lo, hi),
            noiseSeeds: noiseSeeds.slice(lo, hi),
            shape,
            weight: 1 / K,
          }),
        );
        xl?.dispose();
        ctx.flush();
      }
      opt.update(lr, kept); // skipped on the GPU when a loss or the gradient norm is not finite
      opt.zeroGrad();
      if (ema) {
        ema.decay = emaDecayAt(step + 1, c.train.ema);
        ema.update();
      }
      ctx.flush();
      const done = step + 1;
      await pool.maybeSnapshot(done, policy);
      progress?.tick();
      const logNow = done % c.log.every === 0 || done === c.train.steps;
      if (logNow || aafRow) {
        // [loss, s, z, e_theta_w, e_ref_w, e_theta_l, e_ref_l] per micro-batch, each B long.
        const parts = await Promise.all(kept.map((k) => k.read()));
        const col = (j: number) => parts.flatMap((v) => Array.from(v.subarray(j * B, (j + 1) * B)));
        if (aafRow) {
          aafRow.s = col(1);
          aafLog!.write({ ...aafRow });
          await aafLog!.flush();
        }
        if (logNow) {
          const g = await guard.check();
          const secs = (performance.now() - t0) / 1000;
          const s = col(1), z = col(2);
          const avg = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
          lastStats = {
            step: done,
            loss: avg(col(0)),
            implicit_acc: z.filter((x) => x > 0).length / N,
            flip_rate: r.loser === "none" ? 0 : s.filter((x) => x !== 1).length / N,
            e_theta_w: avg(col(3)),
            e_ref_w: avg(col(4)),
            e_theta_l: avg(col(5)),
            e_ref_l: avg(col(6)),
            ref_entry: r.loser === "none" ? -1 : refIndex,
            ref_update: r.loser === "none" ? -1 : entry.update,
            lr,
            grad_norm: g.gradNorm,
            updates_per_s: (done - start) / secs,
            seconds: secs,
            ...(aafRow ? { ref_quality: avg(aafRow.quality) } : {}),
          };
          metrics.write({ ...lastStats, nan_skips: skips + g.newSkips });
          skips = 0;
          progress?.note(
            `loss ${lastStats.loss.toFixed(4)}` +
              (r.loser === "none"
                ? ""
                : ` acc ${lastStats.implicit_acc.toFixed(2)} flip ${lastStats.flip_rate.toFixed(2)}`),
          );
          await metrics.flush();
        }
      }
      for (const k of kept) {
        k.persistent = false;
        k.dispose();
      }
      if (c.log.sample_every > 0 && done % c.log.sample_every === 0) {
        await ctx.host.fs.mkdir(sampleDir, { recursive: true });
        await asEvaluated(async () => {
          const imgs = await generatePixels(ctx, model, gridPrompts, gridPrompts.map((_, i) => i), {
            steps: c.log.sample_steps,
            guidance: c.log.sample_guidance,
          });
          // Images: 4 per row; clips: one per row, F frames wide.
          await writeGrid(
            ctx.host,
            `${sampleDir}/step-${done}.png`,
            await imgs.read(),
            size,
            F || 4,
            gridPrompts,
          );
          imgs.dispose();
        });
      }
      if (done % c.log.ckpt_every === 0 || done === c.train.steps) await saveCheckpoint(done);
      await o.onUpdate?.(done, logNow ? lastStats : null);
    }
    if (stop.requested && step < c.train.steps) {
      await saveCheckpoint(step);
      throw new StoppedError(step);
    }
  } finally {
    if (!o.stop) stop.dispose();
    progress?.finish();
  }
  const seconds = (performance.now() - t0) / 1000;
  say(
    `train ${r.method}: ${step - start} updates in ${fmtSecs(seconds)} (${
      ((step - start) / seconds).toFixed(3)
    } updates/s)`,
  );
  pool.dispose();
  refUnet.dispose();
  ema?.dispose();
  opt.dispose();
  model.dispose();
  return {
    out: c.out,
    steps: step,
    seconds,
    updatesPerSecond: (step - start) / seconds,
    last: lastStats,
    checkpoint: run.latest(),
  };
}

/**
 * One micro-batch of B examples: forward and backward of the method's loss, scaled by `weight`
 * (1 / grad_accum), gradients accumulated into the policy's. Returns the per-example statistics
 * [loss, s, z, e_theta_w, e_ref_w, e_theta_l, e_ref_l] (7B, persistent: the caller disposes them).
 */
async function microBatch(
  ctx: GpuContext,
  m: {
    model: Awaited<ReturnType<typeof loadBundle>>;
    refUnet: ReturnType<typeof referenceModel>["unet"];
    aaf: AafMode;
    beta: number;
    /** Winners [B, ...shape] in [-1, 1]. */
    xw: Float32Array;
    /** Loser slot [B, ...shape], or null (sft). */
    xl: Tensor | null;
    texts: string[];
    ts: number[];
    noiseSeeds: number[];
    shape: number[];
    weight: number;
  },
): Promise<Tensor> {
  const { model, refUnet, xl, texts, ts, shape } = m;
  const B = texts.length;
  return await ctx.scope(() => {
    const cond = ctx.noGrad(() => model.encode(ctx, texts));
    const xw = tensor(ctx, m.xw, [B, ...shape]);
    const eps = noiseFor(ctx, m.noiseSeeds, shape);
    if (!xl) {
      const target = ctx.noGrad(() => trainingTarget(ctx, model.schedule, xw, eps, ts));
      const ew = mseRows(
        ctx,
        model.unet.forward(ctx, addNoise(ctx, model.schedule, xw, eps, ts), ts, cond.hidden, cond.mask),
        target,
      );
      const none = filled(ctx, [B], 0); // SFT ignores the other three errors
      const out = preferenceLoss(ctx, ew, none, none, none, { beta: m.beta, aaf: "off", sft: true });
      const loss = scale(ctx, mean(ctx, out.loss), m.weight);
      const keep = ctx.noGrad(() => concat(ctx, [out.loss, out.s, out.z, ew, none, none, none], 0)).keep();
      backward(ctx, loss);
      return keep;
    }
    // One batched forward of [winners; loser slot] ([2B, ...shape]) with the same t and eps for
    // both halves; mseRows averages over everything but the batch axis (frames too) -> [2B].
    const x2 = concat(ctx, [xw, xl], 0);
    const eps2 = concat(ctx, [eps, eps], 0);
    const ts2 = [...ts, ...ts];
    const h2 = concat(ctx, [cond.hidden, cond.hidden], 0);
    const m2 = concat(ctx, [cond.mask, cond.mask], 0);
    const xt2 = ctx.noGrad(() => addNoise(ctx, model.schedule, x2, eps2, ts2));
    // The regression target (eps, or v for a v_prediction model), shared by policy and reference.
    const tgt2 = ctx.noGrad(() => trainingTarget(ctx, model.schedule, x2, eps2, ts2));
    const eTheta = mseRows(ctx, model.unet.forward(ctx, xt2, ts2, h2, m2), tgt2);
    const eRef = ctx.noGrad(() => mseRows(ctx, refUnet.forward(ctx, xt2, ts2, h2, m2), tgt2));
    const ethw = slice(ctx, eTheta, 0, 0, B), ethl = slice(ctx, eTheta, 0, B, 2 * B);
    const erw = slice(ctx, eRef, 0, 0, B), erl = slice(ctx, eRef, 0, B, 2 * B);
    const out = preferenceLoss(ctx, ethw, erw, ethl, erl, { beta: m.beta, aaf: m.aaf });
    const loss = scale(ctx, mean(ctx, out.loss), m.weight);
    const keep = ctx.noGrad(() => concat(ctx, [out.loss, out.s, out.z, ethw, erw, ethl, erl], 0)).keep();
    backward(ctx, loss);
    return keep;
  });
}
