// Pretraining a text-to-image (or text-to-video) diffusion model on a noisy-caption corpus: the
// base model that SePPO later aligns. AdamW with warmup and a schedule, gradient clipping and
// accumulation, EMA, prompt dropout (for classifier-free guidance), metrics as JSONL, sample grids
// and diffusers-style checkpoints with the trainer state for an exact resume. One command-buffer
// submission per micro-batch; the loss is read back asynchronously every `log.every` updates.
import { backward } from "../autograd/backward.ts";
import { dropPrompts, noiseFor, sampleTimesteps } from "../diffusion/noise.ts";
import type { GpuContext } from "../gpu/context.ts";
import { checkpointDir } from "../io/checkpoint.ts";
import { bool, defineSchema, int, list, num, oneOf, type Schema, str } from "../io/config.ts";
import { loadImageFolder } from "../data/imagefolder.ts";
import { TextToImage } from "../nn/pipeline.ts";
import { TextToVideo } from "../nn/pipeline_video.ts";
import { mean } from "../ops/reduce.ts";
import { accumulate, scale } from "../ops/scale.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { Progress } from "../util/progress.ts";
import { StoppedError } from "../util/errors.ts";
import { Rng } from "../util/rng.ts";
import { AdamW } from "./adamw.ts";
import { Ema, emaDecayAt } from "./ema.ts";
import { checkF16Range } from "./guard.ts";
import { samplePrompts, writeGrid } from "./images.ts";
import { lrAt } from "./lr.ts";
import type { Weights } from "./pool.ts";
import {
  batchSchedule,
  decodeTrainerState,
  encodeTrainerState,
  fmtSecs,
  StopFlag,
  withWeights,
} from "./run.ts";
import { RunFolder, type RunOptions } from "./run_folder.ts";

export interface PretrainConfig {
  /** frames > 0: a clip corpus [B, F, 3, H, W] and a text-to-video model (0: stills). */
  data: { dir: string; size: number; frames: number };
  model: {
    block_out_channels: number[];
    layers_per_block: number;
    down_block_types: string[];
    up_block_types: string[];
    norm_num_groups: number;
    cross_attention_dim: number;
    attention_head_dim: number;
    /**
     * "text": diffusers' addition_embed_type "text", a pooled prompt embedding added to the timestep
     * embedding (global conditioning for every ResNet block). "none": the shipped architecture.
     */
    addition_embed_type: string;
    /** Heads of the add embedding's attention pooling; must divide cross_attention_dim. */
    addition_embed_heads: number;
    text_layers: number;
    text_heads: number;
    max_length: number;
    beta_schedule: string;
    num_train_timesteps: number;
    /** What the UNet predicts: epsilon (the shipped bases) or v_prediction (diffusers' names). */
    prediction_type: string;
    /** Rescale betas to zero terminal SNR (needs v_prediction); pair with timestep_spacing trailing. */
    rescale_betas_zero_snr: boolean;
    timestep_spacing: string;
    init_seed: number;
    /** Video only: an image checkpoint to start from (spatial weights copied, motion modules fresh). */
    init_from_image: string | null;
    motion_heads: number;
  };
  train: {
    steps: number;
    batch: number;
    grad_accum: number;
    lr: number;
    warmup: number;
    schedule: string;
    min_lr_ratio: number;
    weight_decay: number;
    max_grad_norm: number;
    prompt_dropout: number;
    ema: number;
    /**
     * EMA decay min(ema, (1 + n) / (10 + n)) after n updates (diffusers' EMAModel warmup) instead of a
     * fixed `ema`: with a fixed 0.999 the EMA still holds 0.999^n of the initial weights (60% at 500).
     */
    ema_warmup: boolean;
    seed: number;
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
  out: string;
}

export const PRETRAIN_DEFAULTS: PretrainConfig = {
  data: { dir: "data/generated/shapes-pretrain", size: 16, frames: 0 },
  model: {
    block_out_channels: [32, 64],
    layers_per_block: 1,
    // Attention only at 8x8 (and in the mid block): self-attention over 256 tokens at 16x16 cost
    // half of a training step on the software adapter and conditioning works at 8x8.
    down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"],
    norm_num_groups: 8,
    cross_attention_dim: 64,
    attention_head_dim: 4,
    addition_embed_type: "none",
    addition_embed_heads: 4,
    text_layers: 2,
    text_heads: 4,
    max_length: 16,
    beta_schedule: "linear",
    num_train_timesteps: 1000,
    prediction_type: "epsilon",
    rescale_betas_zero_snr: false,
    timestep_spacing: "leading",
    init_seed: 0,
    init_from_image: null,
    motion_heads: 8,
  },
  train: {
    steps: 1500,
    batch: 16,
    grad_accum: 1,
    lr: 1e-3,
    warmup: 100,
    schedule: "cosine",
    min_lr_ratio: 0.1,
    weight_decay: 0.01,
    max_grad_norm: 1,
    prompt_dropout: 0.1,
    ema: 0.995,
    ema_warmup: false,
    seed: 0,
    checkpoints_total_limit: 1,
    nan_policy: "stop",
    nan_max_skips: 5,
  },
  log: {
    every: 25,
    sample_every: 500,
    ckpt_every: 250,
    sample_steps: 20,
    sample_guidance: 3,
    sample_prompts: [],
  },
  save: { dtype: "F16", keep_all: false },
  out: "runs/pretrain-shapes",
};

export const PRETRAIN_SCHEMA: Schema<PretrainConfig> = defineSchema(PRETRAIN_DEFAULTS, {
  "data.dir": str(),
  "data.size": int({ min: 8 }),
  "data.frames": int({ min: 0 }),
  "model.block_out_channels": list(int({ min: 1 }), { minLength: 1 }),
  "model.layers_per_block": int({ min: 1 }),
  "model.down_block_types": list(oneOf("CrossAttnDownBlock2D", "DownBlock2D"), { minLength: 1 }),
  "model.up_block_types": list(oneOf("CrossAttnUpBlock2D", "UpBlock2D"), { minLength: 1 }),
  "model.norm_num_groups": int({ min: 1 }),
  "model.cross_attention_dim": int({ min: 1 }),
  "model.attention_head_dim": int({ min: 1 }),
  "model.addition_embed_type": oneOf("none", "text"),
  "model.addition_embed_heads": int({ min: 1 }),
  "model.text_layers": int({ min: 1 }),
  "model.text_heads": int({ min: 1 }),
  "model.max_length": int({ min: 4 }),
  "model.beta_schedule": oneOf("linear", "scaled_linear", "squaredcos_cap_v2"),
  "model.num_train_timesteps": int({ min: 2 }),
  "model.prediction_type": oneOf("epsilon", "v_prediction"),
  "model.rescale_betas_zero_snr": bool(),
  "model.timestep_spacing": oneOf("leading", "trailing", "linspace"),
  "model.init_seed": int({ min: 0 }),
  "model.init_from_image": str({ nullable: true }),
  "model.motion_heads": int({ min: 1 }),
  "train.steps": int({ min: 1 }),
  "train.batch": int({ min: 1 }),
  "train.grad_accum": int({ min: 1 }),
  "train.lr": num({ gt: 0 }),
  "train.warmup": int({ min: 0 }),
  "train.schedule": oneOf("constant", "cosine", "linear"),
  "train.min_lr_ratio": num({ min: 0, max: 1 }),
  "train.weight_decay": num({ min: 0 }),
  "train.max_grad_norm": num({ min: 0 }),
  "train.prompt_dropout": num({ min: 0, max: 1 }),
  "train.ema": num({ min: 0, lt: 1 }),
  "train.ema_warmup": bool(),
  "train.seed": int({ min: 0 }),
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
  "out": str(),
});

/** All trainable weights of the bundle, names prefixed by component. */
export function bundleWeights(m: TextToImage | TextToVideo): Weights {
  const w: Weights = new Map();
  for (const [k, t] of m.unet.parameters()) w.set(`unet/${k}`, t);
  for (const [k, t] of m.textEncoder.parameters()) w.set(`text_encoder/${k}`, t);
  return w;
}

export function createModel(ctx: GpuContext, c: PretrainConfig): TextToImage {
  const m = c.model;
  if (m.addition_embed_type === "text" && m.cross_attention_dim % m.addition_embed_heads !== 0) {
    throw new Error(
      `model.addition_embed_heads = ${m.addition_embed_heads} does not divide model.cross_attention_dim ` +
        `${m.cross_attention_dim} (the add embedding pools the text in heads)`,
    );
  }
  return TextToImage.create(ctx, {
    seed: m.init_seed,
    maxLength: m.max_length,
    unet: {
      sample_size: c.data.size,
      block_out_channels: m.block_out_channels,
      layers_per_block: m.layers_per_block,
      down_block_types: m.down_block_types as never,
      up_block_types: m.up_block_types as never,
      norm_num_groups: m.norm_num_groups,
      cross_attention_dim: m.cross_attention_dim,
      attention_head_dim: m.attention_head_dim,
      // Only with "text", so a "none" model's unet config is exactly the shipped one's.
      ...(m.addition_embed_type === "text"
        ? { addition_embed_type: "text" as const, addition_embed_type_num_heads: m.addition_embed_heads }
        : {}),
    },
    text: { num_hidden_layers: m.text_layers, num_attention_heads: m.text_heads },
    scheduler: {
      beta_schedule: m.beta_schedule as never,
      num_train_timesteps: m.num_train_timesteps,
      prediction_type: m.prediction_type as never,
      rescale_betas_zero_snr: m.rescale_betas_zero_snr,
      timestep_spacing: m.timestep_spacing as never,
    },
  });
}

/**
 * The model a config describes: stills -> createModel; clips (data.frames > 0) -> a text-to-video
 * model (AnimateDiff-style: image weights plus fresh motion modules) lifted from the image checkpoint
 * model.init_from_image (whose architecture then wins over the model.* keys), or from a fresh
 * createModel when that is null.
 */
export async function createBundle(ctx: GpuContext, c: PretrainConfig): Promise<TextToImage | TextToVideo> {
  const F = c.data.frames, from = c.model.init_from_image;
  if (F === 0) {
    if (from) {
      throw new Error(`model.init_from_image = ${JSON.stringify(from)} needs data.frames > 0 (video)`);
    }
    return createModel(ctx, c);
  }
  const img = from ? await TextToImage.load(ctx, from) : createModel(ctx, c);
  try {
    if (img.unet.config.sample_size !== c.data.size) {
      throw new Error(
        `${from}: sample_size ${img.unet.config.sample_size} != data.size ${c.data.size} (model.init_from_image)`,
      );
    }
    const motion = { motion_num_attention_heads: c.model.motion_heads };
    return await TextToVideo.fromImageModel(ctx, img, F, { seed: c.model.init_seed, motion });
  } finally {
    img.dispose();
  }
}

export interface PretrainResult {
  out: string;
  steps: number;
  finalLoss: number;
  seconds: number;
  samplesPerSecond: number;
  /** The newest checkpoint folder (what to pass to --ckpt), or null when none was saved. */
  checkpoint: string | null;
}

export async function pretrain(
  ctx: GpuContext,
  c: PretrainConfig,
  o: RunOptions & { log?: (s: string) => void } = {},
): Promise<PretrainResult> {
  const say = o.log ?? console.log;
  const F = c.data.frames;
  const data = await loadImageFolder(ctx.host, c.data.dir, { size: c.data.size, frames: F || undefined })
    .catch((e) => {
      const world = F ? `moving-shapes --frames ${F}` : "shapes";
      throw new Error(
        `${e.message}\n  generate the corpus first, e.g.: deno task data --world ${world} --split pretrain --count 20000 ` +
          `--size ${c.data.size} --caption-noise 0.25 --out ${c.data.dir}`,
      );
    });
  say(`data: ${data.items.length} images from ${c.data.dir}`);
  const model = await createBundle(ctx, c);
  const weights = bundleWeights(model);
  say(`model: unet ${model.unet.numParams()} + text encoder ${model.textEncoder.numParams()} parameters`);
  const opt = new AdamW(ctx, [...weights.values()], {
    lr: c.train.lr,
    weightDecay: c.train.weight_decay,
    maxGradNorm: c.train.max_grad_norm,
  });
  const ema = c.train.ema > 0 ? new Ema(ctx, weights, c.train.ema) : null;
  const run = await RunFolder.open(ctx.host, "pretrain", c, PRETRAIN_SCHEMA, o, say);
  let start = 0;
  const last = run.from;
  if (last) {
    const path = `${last.dir}/trainer_state.safetensors`;
    const meta = decodeTrainerState(
      ctx,
      await ctx.host.fs.readFile(path),
      path,
      weights,
      opt,
      ema?.weights ?? null,
    );
    start = Number(meta.step);
    say(`resume: ${last.dir} (update ${start})`);
  }
  if (c.save.dtype === "F16") {
    await checkF16Range(ctx, ema?.weights ?? weights, last ? last.dir : "the initial model");
  }
  const metrics = await run.metrics();
  const guard = run.guard(opt, c);
  let skips = 0; // updates skipped since the last metrics row (train.nan_policy skip)
  const stop = new StopFlag(ctx.host);
  await stop.ready;
  const shape = F ? [F, 3, c.data.size, c.data.size] : [3, c.data.size, c.data.size];
  const T = model.schedule.config.num_train_timesteps;
  const prompts = await samplePrompts(ctx.host, c.log.sample_prompts, data.items.map((r) => r.text));
  const perUpdate = c.train.batch * c.train.grad_accum;
  const progress = new Progress(ctx.host, "pretrain", c.train.steps);
  progress.skip(start);
  const t0 = performance.now();
  let lastLoss = NaN;
  let reads = Promise.resolve();
  const batchAt = batchSchedule(data, c.train.batch, c.train.seed, c.data.dir);
  const saveCheckpoint = async (step: number) => {
    skips += (await guard.check()).newSkips; // never save after a non-finite update (policy stop)
    const dir = checkpointDir(c.out, step);
    const state = await encodeTrainerState(weights, opt, ema?.weights ?? null, { step: String(step) });
    const write = () =>
      model.save(dir, {
        "trainer_state.safetensors": state,
        ...run.checkpointFiles(),
      }, c.save.dtype as "F16" | "F32");
    if (ema) await withWeights(ctx, weights, ema.weights, write);
    else await write();
    await run.saved(step);
  };
  let step = start;
  try {
    for (; step < c.train.steps && !stop.requested; step++) {
      const lr = lrAt(step, {
        lr: c.train.lr,
        warmup: c.train.warmup,
        schedule: c.train.schedule as "cosine",
        total: c.train.steps,
        minRatio: c.train.min_lr_ratio,
      });
      let lossSum: Tensor | null = null;
      for (let a = 0; a < c.train.grad_accum; a++) {
        const k = step * c.train.grad_accum + a;
        const rng = new Rng(c.train.seed).fork(`step-${k}`);
        const batch = batchAt(k);
        const held = await ctx.scope(() => {
          const texts = dropPrompts(batch.texts, c.train.prompt_dropout, rng);
          const x0 = tensor(ctx, batch.images, [c.train.batch, ...shape]);
          const cond = model.encode(ctx, texts);
          const ts = sampleTimesteps(rng, c.train.batch, T);
          const eps = noiseFor(ctx, ts.map(() => rng.next()), shape);
          const errs = model.denoiseErrors(ctx, x0, eps, ts, cond);
          const loss = scale(ctx, mean(ctx, errs), 1 / c.train.grad_accum);
          const keep = ctx.noGrad(() => scale(ctx, loss, 1)).keep();
          backward(ctx, loss);
          return keep;
        });
        if (lossSum) {
          accumulate(ctx, lossSum, held);
          held.dispose();
        } else lossSum = held;
        ctx.flush();
      }
      opt.update(lr, lossSum!); // skipped on the GPU when the loss or the gradient norm is not finite
      opt.zeroGrad();
      if (ema && c.train.ema_warmup) ema.decay = emaDecayAt(step + 1, c.train.ema);
      ema?.update();
      ctx.flush();
      progress.tick();
      const done = step + 1;
      if (done % c.log.every === 0 || done === c.train.steps) {
        const l = lossSum!;
        const value = l.item();
        const norm = guard.check();
        const secs = (performance.now() - t0) / 1000;
        reads = reads.then(async () => {
          lastLoss = (await value) * c.train.grad_accum;
          progress.note(`loss ${lastLoss.toFixed(4)}`);
          metrics.write({
            step: done,
            loss: lastLoss,
            grad_norm: (await norm).gradNorm,
            nan_skips: skips + (await norm).newSkips,
            lr,
            samples_per_s: ((done - start) * perUpdate) / secs,
            seconds: secs,
          });
          skips = 0;
          await metrics.flush();
        });
        await reads;
      }
      lossSum!.persistent = false;
      lossSum!.dispose();
      if (c.log.sample_every > 0 && done % c.log.sample_every === 0) {
        await ctx.host.fs.mkdir(`${c.out}/samples`, { recursive: true });
        const imgs = await model.generate(ctx, prompts, prompts.map((_, i) => i), {
          steps: c.log.sample_steps,
          guidance: c.log.sample_guidance,
        });
        await writeGrid(
          ctx.host,
          `${c.out}/samples/step-${done}.png`,
          await imgs.read(),
          c.data.size,
          F || 4,
          prompts,
        );
        imgs.dispose();
      }
      if (done % c.log.ckpt_every === 0 || done === c.train.steps) await saveCheckpoint(done);
    }
    if (stop.requested && step < c.train.steps) {
      await saveCheckpoint(step);
      throw new StoppedError(step);
    }
  } finally {
    stop.dispose();
    progress.finish();
  }
  await reads;
  const seconds = (performance.now() - t0) / 1000;
  say(`pretrain: ${step - start} updates in ${fmtSecs(seconds)}, last loss ${lastLoss.toFixed(4)}`);
  return {
    out: c.out,
    steps: step,
    finalLoss: lastLoss,
    seconds,
    samplesPerSecond: ((step - start) * perUpdate) / seconds,
    checkpoint: run.latest(),
  };
}
