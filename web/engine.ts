// What the page runs, as plain functions of a GpuContext, so that they run the same on both hosts:
// sampling a grid of one prompt, and a short SePPO fine-tune of a site model on its bundled
// preference set through the trainer itself (lib/train/seppo.ts: run folder, metrics, pool,
// checkpoint; in a page all of it lands in the browser host's in-memory files). The browser test
// (tests/web/browser_test.ts) runs these same functions under Deno and compares with the page.
import type { GpuContext } from "../lib/gpu/context.ts";
import type { TextToImage } from "../lib/nn/pipeline.ts";
import type { StopFlag } from "../lib/train/run.ts";
import {
  type StepStats,
  train,
  TRAIN_DEFAULTS,
  type TrainConfig,
  type TrainResult,
} from "../lib/train/seppo.ts";

export interface SampleRequest {
  prompt: string;
  /** Seed of the first image; image k uses seed + k (as `deno task sample`). */
  seed: number;
  n: number;
  steps: number;
  guidance: number;
}

/** n images of one prompt: planar floats [n, 3, H, W] in about [-1, 1] (DDIM with CFG). */
export async function samplePlanar(
  ctx: GpuContext,
  model: TextToImage,
  r: SampleRequest,
): Promise<Float32Array> {
  const seeds = Array.from({ length: r.n }, (_, k) => (r.seed + k) >>> 0);
  const x = await model.generate(ctx, seeds.map(() => r.prompt), seeds, {
    steps: r.steps,
    guidance: r.guidance,
  });
  try {
    return await x.read();
  } finally {
    x.dispose();
  }
}

export interface FinetuneRequest {
  /** Checkpoint folder of the base model. */
  base: string;
  /** Imagefolder of winners (captions are the prompts; the loser slot is the reference's sample). */
  prefs: string;
  /** Run folder (in a page: in memory). */
  out: string;
  /** Image side of the model. */
  size: number;
  updates: number;
  batch: number;
  /** DDIM steps of the reference model's samples (with CFG 3). */
  refSteps: number;
  lr: number;
  beta: number;
  /** A sample grid every this many updates (0: none). */
  gridEvery: number;
  gridSteps: number;
  gridPrompts: string[];
  seed: number;
}

export const FINETUNE_DEFAULTS = {
  updates: 12,
  batch: 4,
  refSteps: 4,
  lr: 1e-4,
  beta: 2000,
  gridEvery: 3,
  gridSteps: 10,
  seed: 0,
};

/**
 * The trainer config of a page fine-tune: method seppo (reference drawn uniformly from the pool of
 * the policy's own checkpoints, AAF sign), no warmup and no EMA (a dozen updates; the grids show the
 * policy itself), a pool snapshot every quarter of the run, one checkpoint at the end.
 */
export function finetuneConfig(r: FinetuneRequest): TrainConfig {
  const d = TRAIN_DEFAULTS;
  return {
    ...d,
    base: r.base,
    data: { prefs: r.prefs, size: r.size, frames: 0 },
    method: "seppo",
    ref: { ...d.ref, steps: r.refSteps },
    beta: r.beta,
    pool: { ...d.pool, interval: Math.max(1, Math.ceil(r.updates / 4)) },
    train: {
      ...d.train,
      steps: r.updates,
      batch: r.batch,
      lr: r.lr,
      warmup: 0,
      ema: 0,
      seed: r.seed,
      checkpoints_total_limit: 1,
    },
    log: {
      ...d.log,
      every: 1,
      sample_every: r.gridEvery,
      ckpt_every: r.updates,
      sample_steps: r.gridSteps,
      sample_prompts: r.gridPrompts,
    },
    save: { dtype: "F32", keep_all: false },
    out: r.out,
  };
}

/** Runs the fine-tune; onUpdate sees every update's stats (the page's progress, grids and curves). */
export function finetune(
  ctx: GpuContext,
  r: FinetuneRequest,
  o: {
    onUpdate?: (done: number, stats: StepStats | null) => unknown;
    stop?: StopFlag;
    log?: (s: string) => void;
  } = {},
): Promise<TrainResult> {
  return train(ctx, finetuneConfig(r), {
    quiet: true,
    log: o.log ?? (() => {}),
    onUpdate: o.onUpdate,
    stop: o.stop,
  });
}
