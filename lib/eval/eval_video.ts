// Text-to-video evaluation (deno task eval-t2v): samples every eval prompt with N fixed seeds
// (prompt row seed + k, k < N) from a checkpoint (and a base checkpoint on the same prompts and seeds),
// writes the clips in the moving-shapes layout (PNG frames, GIF, metadata.jsonl; docs/DATA.md), scores
// them with lib/eval/score_video.ts, and writes a report (report.md, report.html, summary.json) with
// 95% bootstrap intervals and win rates against the base.
import { type Sampler, samplerName } from "../diffusion/sampler.ts";
import { join } from "node:path";
import type { GpuContext } from "../gpu/context.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { contactSheet, type RgbImage, writeAnimation, writeImage } from "../io/images.ts";
import { loadPrompts, type PromptRow } from "../data/metadata.ts";
import { pool } from "../data/pool.ts";
import { TextToVideo } from "../nn/pipeline_video.ts";
import { planarToImages } from "../train/images.ts";
import { Progress } from "../util/progress.ts";
import { Rng } from "../util/rng.ts";
import type { ClipAttrs } from "../world/attrs.ts";
import { renderClip } from "../world/shapes.ts";
import { type Block, type Section, writeReport } from "./report.ts";
import { scoreClip } from "./score_video.ts";
import { bootstrapCI, type Interval, winRate } from "./stats.ts";
import { barChart } from "./svg.ts";
import type { Host } from "../host/host.ts";

/** Reported metrics, in table order; all are "higher is better" except where noted in METRIC_NOTES. */
export const VIDEO_METRICS = [
  "mean",
  "frame",
  "background",
  "color",
  "shape",
  "size",
  "motion",
  "growth",
  "consistency",
  "flicker",
  "smoothness",
  "dynamic",
  "psnr",
  "ssim",
] as const;
export type VideoMetric = typeof VIDEO_METRICS[number];

const METRIC_NOTES: Record<VideoMetric, string> = {
  mean: "prompt following: mean of frame score, motion (and growth)",
  frame: "per-frame attribute score, mean over frames",
  background: "per-frame background colour",
  color: "per-frame object colour",
  shape: "per-frame shape",
  size: "per-frame size (clips that do not grow)",
  motion: "motion-direction accuracy (centroid track)",
  growth: "growth accuracy (clips that grow or shrink)",
  consistency: "subject consistency: frames with the modal colour and shape",
  flicker: "temporal flickering: 1 - mean absolute frame difference / 255",
  smoothness: "motion smoothness (motion-compensated interpolation)",
  dynamic: "dynamic degree: share of clips whose object moves or changes size",
  psnr: "PSNR (dB) against the clean render of the prompt",
  ssim: "SSIM against the clean render of the prompt",
};

/** Metrics whose win rate is reported (dynamic degree is descriptive, not better-is-higher). */
const WIN_METRICS: VideoMetric[] = [
  "mean",
  "frame",
  "motion",
  "consistency",
  "flicker",
  "smoothness",
  "psnr",
  "ssim",
];

export interface EvalVideoOptions {
  /** The checkpoint to evaluate (a TextToVideo folder, or an image one lifted frame by frame). */
  ckpt: string;
  /** The model to compare with on the same prompts and seeds. */
  base?: string;
  /** prompts.jsonl of a moving-shapes eval split, or its folder. */
  prompts: string;
  /** Seeds per prompt: row.seed + k for k < seeds. */
  seeds: number;
  out: string;
  /** Default DEFAULT_SAMPLER (lib/diffusion/sampler.ts). */
  sampler?: Sampler;
  steps?: number;
  guidance?: number;
  /** Clips per generate() call (default 8). */
  batch?: number;
  /** Clip length; default: the checkpoint's num_frames. */
  frames?: number;
  /** Only the first `limit` prompts. */
  limit?: number;
  /** Seed of the bootstrap resampling (default 0). */
  bootstrapSeed?: number;
  /** Shown in the report's setup section (e.g. the adapter name). */
  note?: string;
  log?: (s: string) => void;
}

/** One generated clip and its scores. */
export interface ClipResult {
  prompt_id: number;
  k: number;
  /** Noise seed: the prompt's seed + k. */
  seed: number;
  text: string;
  /** The GIF, relative to the report folder. */
  gif: string;
  scores: Record<VideoMetric, number>;
  readMotion: string;
}

export interface ModelResult {
  dir: string;
  /** Sample folder (moving-shapes layout), relative to the report folder. */
  samples: string;
  frames: number;
  size: number;
  clips: ClipResult[];
  summary: Partial<Record<VideoMetric, Interval & { n: number }>>;
  seconds: number;
}

export interface EvalVideoResult {
  model: ModelResult;
  base?: ModelResult;
  /** Share of (prompt, seed) pairs where the model beats the base (ties half), with a 95% interval. */
  winRates?: Partial<Record<VideoMetric, Interval>>;
}

const pad = (i: number, n = 6) => String(i).padStart(n, "0");

/** The eval prompts, checked to be clip prompts. */
async function clipPrompts(host: Host, path: string, limit?: number): Promise<PromptRow[]> {
  const rows = await loadPrompts(host, path);
  const bad = rows.find((r) => !("motion" in r.attrs));
  if (bad) {
    const file = path.endsWith(".jsonl") ? path : join(path, "prompts.jsonl");
    throw new Error(
      `${file}: prompt ${bad.id} ("${bad.text}") has no motion: eval-t2v needs a moving-shapes eval split`,
    );
  }
  return limit === undefined ? rows : rows.slice(0, limit);
}

/** Generates, writes and scores every (prompt, seed) clip of one model into out/<name>/. */
async function evalModel(
  ctx: GpuContext,
  dir: string,
  name: string,
  rows: PromptRow[],
  o: EvalVideoOptions,
  frames = o.frames,
): Promise<ModelResult> {
  const say = o.log ?? console.log;
  const t0 = performance.now();
  const model = await TextToVideo.load(ctx, dir, { frames });
  const F = model.frames, size = model.unet.config.sample_size;
  say(`${name}: ${dir} (${F} frames, ${size}x${size})`);
  const jobs = rows.flatMap((r) => Array.from({ length: o.seeds }, (_, k) => ({ row: r, k })));
  const folder = join(o.out, name);
  await ctx.host.fs.mkdir(join(folder, "clips"), { recursive: true });
  const progress = new Progress(ctx.host, `eval-t2v ${name}`, jobs.length, { unit: "clips" });
  const batch = o.batch ?? 8, clips: ClipResult[] = [], meta: string[] = [], sheet: RgbImage[] = [];
  try {
    for (let s = 0; s < jobs.length; s += batch) {
      const part = jobs.slice(s, s + batch);
      const steps = o.steps ?? 20;
      let ticked = 0; // clips, in fractions per sampling step
      const x = await model.generate(ctx, part.map((j) => j.row.text), part.map((j) => j.row.seed + j.k), {
        kind: o.sampler,
        steps,
        guidance: o.guidance ?? 3,
        onStep: () => {
          const n = Math.min(part.length / steps, part.length - ticked);
          ticked += n;
          progress.tick(n);
        },
      });
      // [B, F, 3, H, W] planar -> B * F RGB byte frames, clip-major.
      const frames = planarToImages(await x.read(), size);
      x.dispose();
      const done = await pool(part.length, 4, async (b) => {
        const { row, k } = part[b], i = s + b;
        const clip = frames.slice(b * F, (b + 1) * F);
        const rel = `clips/${pad(i)}`;
        await ctx.host.fs.mkdir(join(folder, rel), { recursive: true });
        await Promise.all(clip.map((f, t) => writeImage(ctx.host, join(folder, rel, `${pad(t, 2)}.png`), f)));
        await writeAnimation(ctx.host, join(folder, `${rel}.gif`), clip);
        // Scored from the bytes written, so `deno task score` on the folder gives the same numbers;
        // PSNR/SSIM against the clean render of the prompt row (its seed fixes the layout jitter).
        const attrs = row.attrs as ClipAttrs;
        const ref = await renderClip(ctx.host, attrs, size, F, new Rng(row.seed));
        const sc = scoreClip(clip.map((f) => f.data), size, attrs, ref);
        const scores = Object.fromEntries(VIDEO_METRICS.map((m) => [m, sc[m]])) as Record<
          VideoMetric,
          number
        >;
        const res: ClipResult = {
          prompt_id: row.id,
          k,
          seed: row.seed + k,
          text: row.text,
          gif: `${name}/${rel}.gif`,
          scores,
          readMotion: sc.readMotion,
        };
        const line = JSON.stringify({
          file_name: `${rel}.gif`,
          frames_dir: rel,
          text: row.text,
          ...attrs,
          seed: row.seed,
          noise_seed: row.seed + k,
          prompt_id: row.id,
          frames: F,
        });
        return { res, line, clip };
      });
      for (const d of done) {
        clips.push(d.res);
        meta.push(d.line);
        if (sheet.length < 8 * F) sheet.push(...d.clip);
      }
      progress.tick(part.length - ticked);
    }
  } finally {
    progress.finish();
    model.dispose();
  }
  await writeFileAtomic(ctx.host, join(folder, "metadata.jsonl"), meta.join("\n") + "\n");
  if (sheet.length) {
    await writeImage(
      ctx.host,
      join(folder, "sheet.png"),
      contactSheet(sheet, { cols: F, scale: Math.max(1, Math.round(64 / size)) }),
    );
  }
  return {
    dir,
    samples: name,
    frames: F,
    size,
    clips,
    summary: summarise(clips, new Rng(o.bootstrapSeed ?? 0).fork(name)),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Mean and 95% bootstrap interval per metric (NaN values, e.g. growth on non-growing clips, skipped). */
export function summarise(clips: ClipResult[], rng: Rng): ModelResult["summary"] {
  const out: ModelResult["summary"] = {};
  for (const m of VIDEO_METRICS) {
    const v = clips.map((c) => c.scores[m]).filter((x) => !Number.isNaN(x));
    if (v.length) out[m] = { ...bootstrapCI(v, rng.fork(m)), n: v.length };
  }
  return out;
}

/** Win rate of a over b per metric on paired clips (same prompt and seed), with a bootstrap interval. */
export function pairedWinRates(
  a: ClipResult[],
  b: ClipResult[],
  rng: Rng,
): Partial<Record<VideoMetric, Interval>> {
  if (a.length !== b.length || a.some((c, i) => c.prompt_id !== b[i].prompt_id || c.seed !== b[i].seed)) {
    throw new Error("pairedWinRates: the two runs do not cover the same prompts and seeds in the same order");
  }
  const out: Partial<Record<VideoMetric, Interval>> = {};
  for (const m of WIN_METRICS) {
    const pairs = a.map((c, i) => [c.scores[m], b[i].scores[m]]).filter(([x, y]) => !Number.isNaN(x + y));
    if (!pairs.length) continue;
    const wins = pairs.map(([x, y]) => (x > y ? 1 : x === y ? 0.5 : 0));
    const ci = bootstrapCI(wins, rng.fork(m));
    out[m] = { ...ci, mean: winRate(pairs.map((p) => p[0]), pairs.map((p) => p[1])) };
  }
  return out;
}

export async function evalVideo(ctx: GpuContext, o: EvalVideoOptions): Promise<EvalVideoResult> {
  if (!Number.isInteger(o.seeds) || o.seeds < 1) {
    throw new Error(`--seeds: must be a positive integer, got ${o.seeds}`);
  }
  const rows = await clipPrompts(ctx.host, o.prompts, o.limit);
  await ctx.host.fs.mkdir(o.out, { recursive: true });
  const model = await evalModel(ctx, o.ckpt, "model", rows, o);
  // The base samples clips of the model's length (an image checkpoint as base is lifted to it).
  const base = o.base ? await evalModel(ctx, o.base, "base", rows, o, model.frames) : undefined;
  if (base && (base.frames !== model.frames || base.size !== model.size)) {
    throw new Error(
      `--base ${o.base}: ${base.frames} frames at ${base.size}px vs the model's ${model.frames} at ${model.size}px`,
    );
  }
  const winRates = base
    ? pairedWinRates(model.clips, base.clips, new Rng(o.bootstrapSeed ?? 0).fork("win"))
    : undefined;
  const result: EvalVideoResult = { model, base, winRates };
  await writeFileAtomic(
    ctx.host,
    join(o.out, "summary.json"),
    JSON.stringify(
      { options: { ...o, log: undefined }, prompts: rows.length, ...result },
      (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
      1,
    ) + "\n",
  );
  await writeReport(ctx.host, o.out, "Text-to-video evaluation", reportSections(o, rows.length, result));
  return result;
}

const fmt = (x: number | undefined, d = 3) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d));
const ci = (s: (Interval & { n?: number }) | undefined, d = 3) =>
  s ? `${fmt(s.mean, d)} [${fmt(s.lo, d)}, ${fmt(s.hi, d)}]` : "-";

/** The report: setup, the score table (with win rates), a chart, contact sheets and the GIFs. */
export function reportSections(o: EvalVideoOptions, prompts: number, r: EvalVideoResult): Section[] {
  const { model, base, winRates } = r;
  const setup = [
    `Checkpoint: ${o.ckpt}${o.base ? `; base: ${o.base}` : ""}.`,
    `Prompts: ${prompts} from ${o.prompts}, ${o.seeds} seed(s) each (prompt seed + k), ${model.clips.length} clips ` +
    `of ${model.frames} frames at ${model.size}x${model.size}.`,
    `Sampling: ${samplerName(o.sampler)}, ${o.steps ?? 20} steps, guidance ${
      o.guidance ?? 3
    }. Intervals: 95% percentile bootstrap ` +
    `over clips; win rate: share of (prompt, seed) pairs where the model scores higher than the base (ties half).`,
    `Generation took ${model.seconds.toFixed(1)} s${base ? ` (base ${base.seconds.toFixed(1)} s)` : ""}.` +
    (o.note ? ` ${o.note}` : ""),
  ].join("\n");
  const header = [
    "metric",
    "model (95% CI)",
    ...(base ? ["base (95% CI)", "win rate vs base (95% CI)"] : []),
    "what",
  ];
  const rows = VIDEO_METRICS.filter((m) => model.summary[m] || base?.summary[m]).map((m) => {
    const d = m === "psnr" ? 2 : 3;
    return [
      m,
      ci(model.summary[m], d),
      ...(base ? [ci(base.summary[m], d), ci(winRates?.[m])] : []),
      METRIC_NOTES[m],
    ];
  });
  const bars = (["mean", "frame", "motion", "consistency", "smoothness", "ssim"] as const).flatMap((m) =>
    [["model", model], ["base", base] as const].flatMap(([n, res]) => {
      const s = (res as ModelResult | undefined)?.summary[m];
      return s ? [{ name: `${m} (${n})`, value: s.mean, lo: s.lo, hi: s.hi }] : [];
    })
  );
  const samples: Block[] = [
    { kind: "image", src: `${model.samples}/sheet.png`, alt: "model: first clips, one per row" },
  ];
  if (base) {
    samples.push({
      kind: "image",
      src: `${base.samples}/sheet.png`,
      alt: "base: the same prompts and seeds",
    });
  }
  const show = model.clips.slice(0, 8);
  show.forEach((c, i) => {
    samples.push({
      kind: "image",
      src: c.gif,
      alt: `model: "${c.text}" seed ${c.seed}, mean ${fmt(c.scores.mean)}`,
    });
    const b = base?.clips[i];
    if (b) {
      samples.push({
        kind: "image",
        src: b.gif,
        alt: `base: same prompt and seed, mean ${fmt(b.scores.mean)}`,
      });
    }
  });
  const clipRows = model.clips.map((c, i) => [
    c.text,
    c.seed,
    c.gif,
    fmt(c.scores.mean),
    c.readMotion,
    ...(base ? [base.clips[i].gif, fmt(base.clips[i].scores.mean)] : []),
  ]);
  return [
    { title: "Setup", blocks: [{ kind: "text", text: setup }] },
    {
      title: "Scores",
      blocks: [
        { kind: "table", header, rows },
        {
          kind: "svg",
          svg: barChart("Scores with 95% bootstrap intervals", bars, { min: 0, max: 1 }),
          alt: "scores",
        },
      ],
    },
    { title: "Samples", blocks: samples },
    {
      title: "Every clip",
      blocks: [{
        kind: "table",
        header: ["prompt", "seed", "GIF", "mean", "motion read", ...(base ? ["base GIF", "base mean"] : [])],
        rows: clipRows,
      }],
    },
  ];
}
