// The experiment of BENCHMARK.md: from one base, train every method and ablation with the same
// number of updates over several training seeds, evaluate each on the same prompts and seeds, and
// write one report (tables, SVG plots of training curves and scores, contact sheets). Resumable:
// a run with eval.json is reused, a run with a checkpoint is resumed.
// Clips: when the train config has data.frames > 0, every model (the base lifted to video if it is an
// image checkpoint) is sampled and scored by lib/eval/eval_video.ts (eval-t2v's report per model
// under <run>/eval-t2v); the score is the clip's prompt-following mean, the columns video metrics.
// Taste world: when the eval prompts are taste prompts, every sample is scored for taste, guard and
// headline (the score), reference samples are judged for the AAF diagnostics, and the report answers
// the paper's claims with paired, seed-aware intervals (lib/train/compare_taste.ts). A variant
// "sft:time=seppo" is SFT given the wall time of the same seed's seppo run.
import { DEFAULT_SAMPLER, type Sampler, samplerName, SAMPLERS } from "../diffusion/sampler.ts";
import type { GpuContext } from "../gpu/context.ts";
import { latestCheckpoint } from "../io/checkpoint.ts";
import { defineSchema, int, list, num, oneOf, str } from "../io/config.ts";
import { loadYamlConfig } from "../io/config.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { loadPrompts } from "../data/metadata.ts";
import { ATTRS, evalItems, scoreModel } from "../eval/eval_image.ts";
import { evalVideo, type EvalVideoResult, type VideoMetric } from "../eval/eval_video.ts";
import { type Block, type Section, writeReport } from "../eval/report.ts";
import { bootstrapCI, type Interval, winRate } from "../eval/stats.ts";
import { barChart, lineChart, smooth } from "../eval/svg.ts";
import { contactSheet, writeImage } from "../io/images.ts";
import { Rng } from "../util/rng.ts";
import { fmtSecs, readMetrics } from "./run.ts";
import { resolveMethod, train, TRAIN_SCHEMA, type TrainConfig } from "./seppo.ts";
import { isTastePrompts, TASTE_COLUMNS, tasteColumns, tasteCompareSections } from "./compare_taste.ts";
import { sampleTaste, tasteJudge } from "../eval/taste_eval.ts";
import type { Host } from "../host/host.ts";

export interface CompareConfig {
  train_config: string;
  base: string;
  variants: string[];
  seeds: number[];
  /** ref_steps: DDIM steps of the reference sampler (0: the train config's ref.steps). */
  train: { steps: number; batch: number; ref_steps: number };
  /** sampler: the eval sampler (default DEFAULT_SAMPLER). */
  eval: { prompts: string; sampler?: string; seeds: number; steps: number; guidance: number; batch: number };
  out: string;
}

export const COMPARE_DEFAULTS: CompareConfig = {
  train_config: "configs/seppo-shapes.yaml",
  base: "models/base-shapes-16",
  variants: [
    "sft",
    "dpo",
    "spin",
    "seppo",
    "seppo:ref=initial",
    "seppo:ref=latest",
    "seppo:aaf=indicator",
    "seppo:aaf=off",
  ],
  seeds: [0, 1],
  train: { steps: 60, batch: 8, ref_steps: 0 },
  eval: {
    prompts: "data/generated/shapes-eval/prompts.jsonl",
    sampler: DEFAULT_SAMPLER,
    seeds: 2,
    steps: 20,
    guidance: 3,
    batch: 32,
  },
  out: "runs/compare-shapes",
};

export const COMPARE_SCHEMA = defineSchema(COMPARE_DEFAULTS, {
  "train_config": str(),
  "base": str(),
  "variants": list(str(), { minLength: 1 }),
  "seeds": list(int({ min: 0 }), { minLength: 1 }),
  "train.steps": int({ min: 1 }),
  "train.ref_steps": int({ min: 0 }),
  "train.batch": int({ min: 1 }),
  "eval.prompts": str(),
  "eval.sampler": oneOf(...SAMPLERS),
  "eval.seeds": int({ min: 1 }),
  "eval.steps": int({ min: 1 }),
  "eval.guidance": num({ min: 1 }),
  "eval.batch": int({ min: 1 }),
  "out": str(),
});

/** "seppo:ref=initial,aaf=off" (also beta=B, lr=L) -> a TrainConfig patch; errors name the variant. */
export function parseVariant(
  v: string,
  base: TrainConfig,
): { name: string; slug: string; config: TrainConfig; timeOf?: string } {
  const [method, opts = ""] = v.split(":");
  const c: TrainConfig = structuredClone(base);
  if (!["sft", "dpo", "spin", "seppo"].includes(method)) {
    throw new Error(`variants: "${v}": unknown method "${method}"`);
  }
  c.method = method;
  const explicit = new Set<string>();
  let timeOf: string | undefined;
  for (const kv of opts ? opts.split(",") : []) {
    const [k, val] = kv.split("=");
    if (k === "time" && /^[a-z]+$/.test(val ?? "")) timeOf = val;
    else if (k === "ref" && ["initial", "latest", "uniform"].includes(val)) {
      (c.ref.strategy = val, explicit.add("ref.strategy"));
    } else if (k === "aaf" && ["sign", "indicator", "off"].includes(val)) (c.aaf = val, explicit.add("aaf"));
    else if (k === "beta" && Number(val) > 0) c.beta = Number(val);
    else if (k === "lr" && Number(val) > 0) c.train.lr = Number(val);
    else {throw new Error(
        `variants: "${v}": expected ref=initial|latest|uniform, aaf=sign|indicator|off, beta=<number > 0>, ` +
          `lr=<number > 0> or time=<variant> (equal wall clock), got "${kv}"`,
      );}
  }
  resolveMethod(c, explicit); // refuses e.g. spin:ref=uniform
  return { name: v, slug: v.replace(/[:=,]/g, "-"), config: c, ...(timeOf ? { timeOf } : {}) };
}

export interface RunResult {
  variant: string;
  seed: number;
  /** Updates trained (an equal-wall-clock variant's count is measured, not configured). */
  steps?: number;
  scores: number[];
  perAttr: Record<string, number[]>;
  updatesPerSecond: number;
  trainSeconds: number;
  evalSeconds: number;
}

async function readJson<T>(host: Host, path: string): Promise<T | null> {
  try {
    return JSON.parse(await host.fs.readTextFile(path)) as T;
  } catch {
    return null;
  }
}

/** Per-sample scores of one model (prompt-major, seed-minor) and per-column values. */
export interface Scored {
  scores: number[];
  perAttr: Record<string, number[]>;
  /** Wall time of sampling and scoring (absent in files from before it was recorded). */
  seconds?: number;
}

/** Video columns of the report: never NaN (size and growth are, on clips that do or do not grow). */
const VIDEO_COLUMNS: VideoMetric[] = [
  "frame",
  "motion",
  "consistency",
  "flicker",
  "smoothness",
  "dynamic",
  "psnr",
  "ssim",
];
/** Clips per model shown as GIFs in the report (first seed of the first prompts). */
const REPORT_GIFS = 4;

/** An eval-t2v folder's summary (the source of a video run's per-clip scores and GIFs). */
async function videoSummary(host: Host, evalDir: string): Promise<EvalVideoResult & { options?: unknown }> {
  const r = await readJson<EvalVideoResult>(host, `${evalDir}/summary.json`);
  if (!r) throw new Error(`${evalDir}/summary.json: missing or unreadable (rerun this model's evaluation)`);
  return r;
}

/**
 * Fills what a result file written before it was recorded lacks (video columns; the base's eval time)
 * from its eval-t2v summary; reads nothing when the file is complete.
 */
async function withVideoColumns<T extends { perAttr: Record<string, number[]>; seconds?: number }>(
  host: Host,
  s: T,
  evalDir: string,
  needSeconds: boolean,
): Promise<T> {
  if (VIDEO_COLUMNS.every((m) => s.perAttr[m]) && (!needSeconds || s.seconds !== undefined)) return s;
  const { model } = await videoSummary(host, evalDir);
  const perAttr = { ...s.perAttr };
  for (const m of VIDEO_COLUMNS) perAttr[m] ??= model.clips.map((x) => x.scores[m]);
  return { ...s, perAttr, ...(needSeconds ? { seconds: s.seconds ?? model.seconds } : {}) };
}

async function metricsOf(host: Host, dir: string): Promise<Record<string, number>[]> {
  return await readMetrics(host, `${dir}/metrics.jsonl`) as Record<string, number>[];
}

export async function compare(ctx: GpuContext, c: CompareConfig, log: (s: string) => void = console.log) {
  const t0 = performance.now();
  const baseTrain = loadYamlConfig(ctx.host, c.train_config, TRAIN_SCHEMA);
  baseTrain.base = c.base;
  baseTrain.train.steps = c.train.steps;
  baseTrain.train.batch = c.train.batch;
  if (c.train.ref_steps > 0) baseTrain.ref.steps = c.train.ref_steps;
  baseTrain.log.sample_every = 0;
  baseTrain.log.ckpt_every = Math.max(1, Math.ceil(c.train.steps / 3));
  const variants = c.variants.map((v) => parseVariant(v, baseTrain));
  const F = baseTrain.data.frames ?? 0;
  const prompts = await loadPrompts(ctx.host, c.eval.prompts);
  const taste = F === 0 && await isTastePrompts(ctx.host, c.eval.prompts);
  for (const v of variants) {
    if (v.timeOf && !variants.some((w) => w.name === v.timeOf && !w.timeOf)) {
      throw new Error(`variants: "${v.name}": time=${v.timeOf} needs the variant "${v.timeOf}" in the list`);
    }
  }
  const evo = {
    sampler: (c.eval.sampler ?? DEFAULT_SAMPLER) as Sampler,
    seeds: c.eval.seeds,
    steps: c.eval.steps,
    guidance: c.eval.guidance,
    batch: c.eval.batch,
    saveImages: false,
    progress: true, // sampling takes most of an evaluation: show its rate and time left
  };
  await ctx.host.fs.mkdir(`${c.out}/report`, { recursive: true });
  const sheetFor = async (name: string, images: { data: Uint8Array; width: number; height: number }[]) => {
    const firsts = images.filter((_, i) => i % c.eval.seeds === 0).slice(0, 32);
    await writeImage(
      ctx.host,
      `${c.out}/report/${name}.png`,
      contactSheet(firsts, { cols: 8, scale: 3, pad: 2 }),
    );
  };
  // Samples and scores a checkpoint on the eval prompts and seeds; writes report/<sheet>.png if asked.
  // Clips go through eval-t2v into `evalDir` (its contact sheet: first clips, one per row).
  const score = async (
    ckpt: string,
    evalDir: string,
    sheet: string | null,
  ): Promise<Scored & { seconds: number }> => {
    const ts = performance.now();
    if (taste) {
      const r = await sampleTaste(ctx, ckpt, prompts, { ...evo, progress: false }, sheet ?? "model");
      if (sheet) await sheetFor(sheet, r.images);
      return { ...tasteColumns(r.scores), seconds: (performance.now() - ts) / 1000 };
    }
    if (F === 0) {
      const r = await scoreModel(ctx, ckpt, prompts, evo, null);
      if (sheet) await sheetFor(sheet, r.images);
      return { scores: r.scores.scores, perAttr: r.scores.perAttr, seconds: (performance.now() - ts) / 1000 };
    }
    const { model } = await evalVideo(ctx, {
      ckpt,
      prompts: c.eval.prompts,
      seeds: c.eval.seeds,
      out: evalDir,
      sampler: evo.sampler,
      steps: c.eval.steps,
      guidance: c.eval.guidance,
      batch: c.eval.batch,
      frames: F,
      log: (s) => log(`  ${s}`),
    });
    if (sheet) {
      await ctx.host.fs.copyFile(`${evalDir}/${model.samples}/sheet.png`, `${c.out}/report/${sheet}.png`);
    }
    return {
      scores: model.clips.map((x) => x.scores.mean),
      perAttr: Object.fromEntries(VIDEO_COLUMNS.map((m) => [m, model.clips.map((x) => x.scores[m])])),
      seconds: (performance.now() - ts) / 1000,
    };
  };

  // The base model, evaluated once on the same prompts and seeds.
  const basePath = `${c.out}/base-eval.json`;
  let base = await readJson<Scored>(ctx.host, basePath);
  if (!base) {
    log(`compare: evaluating the base ${c.base}${F ? ` (clips of ${F} frames)` : ""}`);
    base = await score(c.base, `${c.out}/base-eval-t2v`, "base");
    await writeJsonAtomic(ctx.host, basePath, base);
  }

  if (F) base = await withVideoColumns(ctx.host, base, `${c.out}/base-eval-t2v`, true);

  const results: RunResult[] = [];
  const total = variants.length * c.seeds.length;
  let k = 0;
  // Equal-wall-clock variants run after the variant whose time they take.
  const ordered = [...variants.filter((v) => !v.timeOf), ...variants.filter((v) => v.timeOf)];
  for (const seed of c.seeds) {
    for (const v of ordered) {
      k++;
      const dir = `${c.out}/runs/${v.slug}-s${seed}`;
      const done = await readJson<RunResult>(ctx.host, `${dir}/result.json`);
      if (done) {
        results.push(F ? await withVideoColumns(ctx.host, done, `${dir}/eval-t2v`, false) : done);
        log(`compare [${k}/${total}] ${v.name} seed ${seed}: done earlier (${done.scores.length} samples)`);
        continue;
      }
      const cfg: TrainConfig = { ...structuredClone(v.config), out: dir };
      cfg.train.seed = seed;
      if (v.timeOf) cfg.train.steps = equalTimeSteps(v, seed, results, cfg, log);
      log(`compare [${k}/${total}] ${v.name} seed ${seed}: training ${cfg.train.steps} updates`);
      const tr = await train(ctx, cfg, {
        resume: true,
        quiet: true,
        log: (s) => log(`  ${s}`),
        ...(taste ? { judge: tasteJudge(cfg.data.size) } : {}),
      });
      const ck = await latestCheckpoint(ctx.host, dir);
      if (!ck) throw new Error(`${dir}: training left no checkpoint`);
      const r = await score(ck.dir, `${dir}/eval-t2v`, seed === c.seeds[0] ? v.slug : null);
      const res: RunResult = {
        variant: v.name,
        seed,
        steps: tr.steps,
        scores: r.scores,
        perAttr: r.perAttr,
        updatesPerSecond: tr.updatesPerSecond,
        trainSeconds: tr.seconds,
        evalSeconds: r.seconds,
      };
      await writeJsonAtomic(ctx.host, `${dir}/result.json`, res);
      results.push(res);
      const m = res.scores.reduce((a, b) => a + b, 0) / res.scores.length;
      log(
        `  score ${m.toFixed(4)}, ${tr.updatesPerSecond.toFixed(3)} updates/s, train ${fmtSecs(tr.seconds)}`,
      );
    }
  }
  const cols = F ? VIDEO_COLUMNS : taste ? TASTE_COLUMNS : ATTRS;
  const sections = taste
    ? await tasteCompareSections(ctx.host, c, baseTrain, variants, results, base, prompts)
    : await reportSections(ctx.host, c, baseTrain, variants, results, base, prompts.length, cols, F);
  const world = F ? `moving-shapes world (clips of ${F} frames)` : taste ? "taste world" : "shapes world";
  await writeReport(ctx.host, `${c.out}/report`, `SePPO and baselines on the ${world}`, sections);
  await writeJsonAtomic(ctx.host, `${c.out}/report/results.json`, { config: c, base, results });
  log(`compare: report ${c.out}/report/report.md (${fmtSecs((performance.now() - t0) / 1000)})`);
  return results;
}

/**
 * Updates an equal-wall-clock variant gets: the training seconds of the same seed's `timeOf` run times
 * this method's measured updates per second (from a probe of a few updates, reused on reruns).
 */
function equalTimeSteps(
  v: { name: string; timeOf?: string },
  seed: number,
  results: RunResult[],
  cfg: TrainConfig,
  log: (s: string) => void,
): number {
  const ref = results.find((r) => r.variant === v.timeOf && r.seed === seed);
  if (!ref) {
    throw new Error(`compare: ${v.name} seed ${seed}: no finished ${v.timeOf} run to take the time of`);
  }
  const same = results.find((r) => r.seed === seed && r.variant === cfg.method && r.steps);
  const ups = same?.updatesPerSecond;
  if (!ups) {
    throw new Error(
      `compare: ${v.name}: add the plain "${cfg.method}" variant (its measured updates/s sets the step count)`,
    );
  }
  const steps = Math.max(1, Math.round(ref.trainSeconds * ups));
  log(
    `  ${v.name}: ${v.timeOf} trained ${fmtSecs(ref.trainSeconds)}; at ${
      ups.toFixed(3)
    } updates/s: ${steps} updates`,
  );
  return steps;
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const std = (
  a: number[],
) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1)));
const f4 = (x: number) => x.toFixed(4);
/** Column mean over finite values (JSON turns a NaN score into null). */
const colMean = (a: (number | null)[]) =>
  mean(a.filter((x): x is number => x !== null && Number.isFinite(x)));
const fci = (i: Interval) => `${f4(i.mean)} [${f4(i.lo)}, ${f4(i.hi)}]`;

async function reportSections(
  host: Host,
  c: CompareConfig,
  t: TrainConfig,
  variants: { name: string; slug: string }[],
  results: RunResult[],
  base: Scored,
  nPrompts: number,
  cols: readonly string[],
  frames: number,
): Promise<Section[]> {
  const rows: (string | number)[][] = [];
  const bars = [];
  const baseCi = bootstrapCI(base.scores, new Rng(1), { iters: 2000 });
  const secs = (x: number | undefined) => (x === undefined ? "-" : fmtSecs(x));
  rows.push([
    "base",
    fci(baseCi),
    "-",
    ...cols.map((a) => f4(colMean(base.perAttr[a]))),
    "-",
    "-",
    "-",
    secs(base.seconds),
  ]);
  bars.push({ name: "base", value: baseCi.mean, lo: baseCi.lo, hi: baseCi.hi });
  const summary: { name: string; mean: number }[] = [{ name: "base", mean: baseCi.mean }];
  for (const v of variants) {
    const rs = results.filter((r) => r.variant === v.name);
    if (!rs.length) continue;
    const pooled = rs.flatMap((r) => r.scores);
    const ci = bootstrapCI(pooled, new Rng(1), { iters: 2000 });
    const perSeed = rs.map((r) => mean(r.scores));
    const wins = rs.map((r) => winRate(r.scores, base.scores));
    rows.push([
      v.name,
      fci(ci),
      `${f4(std(perSeed))} (${rs.length})`,
      ...cols.map((a) => f4(colMean(rs.flatMap((r) => r.perAttr[a])))),
      `${(100 * mean(wins)).toFixed(1)}%`,
      mean(rs.map((r) => r.updatesPerSecond)).toFixed(3),
      secs(mean(rs.map((r) => r.trainSeconds))),
      secs(mean(rs.map((r) => r.evalSeconds))),
    ]);
    bars.push({ name: v.name, value: ci.mean, lo: ci.lo, hi: ci.hi });
    summary.push({ name: v.name, mean: ci.mean });
  }
  const order = [...summary].sort((a, b) => b.mean - a.mean).map((s) => `${s.name} ${f4(s.mean)}`).join(
    " > ",
  );
  const get = (n: string) => summary.find((s) => s.name === n)?.mean;
  const claims: string[] = [];
  const cmp = (a: string, b: string) => {
    const x = get(a), y = get(b);
    if (x !== undefined && y !== undefined) {
      claims.push(`${a} ${x > y ? ">" : "<="} ${b} (${f4(x)} vs ${f4(y)})`);
    }
  };
  cmp("seppo", "spin");
  cmp("spin", "sft");
  cmp("sft", "base");
  cmp("seppo", "base");
  for (const v of variants) if (v.name.startsWith("seppo:")) cmp("seppo", v.name);
  // Training curves of the first seed.
  const curves: Record<string, { name: string; points: [number, number][] }[]> = {
    loss: [],
    implicit_acc: [],
    flip_rate: [],
  };
  for (const v of variants) {
    const m = await metricsOf(host, `${c.out}/runs/${v.slug}-s${c.seeds[0]}`);
    for (const key of Object.keys(curves)) {
      curves[key].push({
        name: v.name,
        points: smooth(m.map((r) => [r.step, r[key]] as [number, number]), 3),
      });
    }
  }
  const blocks: Block[] = [
    {
      kind: "text",
      text:
        `Base ${c.base}; ${c.train.steps} updates of batch ${c.train.batch} per run; training seeds ${
          c.seeds.join(", ")
        }; ` +
        `from ${c.train_config}: beta ${t.beta}, lr ${t.train.lr}, reference sampler ${t.ref.steps} ${
          samplerName(t.ref.sampler)
        } steps at ` +
        `guidance ${t.ref.guidance}, pool of ${t.pool.size} every ${t.pool.interval} updates (a variant's own ` +
        `beta= or lr= wins); ` +
        `evaluation on ${nPrompts} prompts x ${c.eval.seeds} seed${
          c.eval.seeds === 1 ? "" : "s"
        } (${c.eval.steps} ${samplerName(c.eval.sampler)} steps, guidance ${c.eval.guidance}). ` +
        `Intervals: 95% bootstrap over all samples of all seeds; spread: standard deviation of the per-seed means.` +
        (frames
          ? ` Clips of ${frames} frames scored by eval-t2v: score = prompt following (mean of the per-frame ` +
            `attribute score and motion accuracy); columns: per-frame score, motion accuracy, subject ` +
            `consistency, temporal flickering, motion smoothness, dynamic degree, PSNR (dB) and SSIM against the ` +
            `clean render (full ` +
            `eval-t2v reports in <run>/eval-t2v).`
          : ""),
    },
    {
      kind: "text",
      text: `Ordering by mean score: ${order}.\nThe paper's claims here: ${claims.join("; ")}.`,
    },
    {
      kind: "table",
      header: [
        "method",
        "score (95% CI)",
        "seed std (n)",
        ...cols,
        "win rate vs base",
        "updates/s",
        "train time / run",
        "eval time / run",
      ],
      rows,
    },
    { kind: "svg", alt: "scores", svg: barChart("mean score, 95% CI", bars) },
    {
      kind: "svg",
      alt: "loss",
      svg: lineChart("training loss (seed 0, smoothed)", curves.loss, { xLabel: "update" }),
    },
    {
      kind: "svg",
      alt: "implicit accuracy",
      svg: lineChart("implicit accuracy (z > 0)", curves.implicit_acc, { xLabel: "update" }),
    },
    {
      kind: "svg",
      alt: "AAF flip rate",
      svg: lineChart("AAF flip rate (share of s != +1)", curves.flip_rate, { xLabel: "update" }),
    },
  ];
  const sheets: Block[] = [{ kind: "image", src: "base.png", alt: "base" }];
  for (const v of variants) {
    sheets.push({ kind: "image", src: `${v.slug}.png`, alt: `${v.name} (seed ${c.seeds[0]})` });
  }
  const out: Section[] = [{ title: "Results", blocks }, {
    title: "Samples (first seed of each prompt)",
    blocks: sheets,
  }];
  if (frames) out.push({ title: "Sample clips (GIFs)", blocks: await gifBlocks(host, c, variants) });
  return out;
}

/**
 * Copies the first REPORT_GIFS clips (first eval seed) of the base and of each variant's first
 * training seed into report/clips/<model>-<i>.gif; one image block per clip, prompt-major.
 */
async function gifBlocks(
  host: Host,
  c: CompareConfig,
  variants: { name: string; slug: string }[],
): Promise<Block[]> {
  const models = [
    { name: "base", slug: "base", dir: `${c.out}/base-eval-t2v` },
    ...variants.map((v) => ({
      ...v,
      dir: `${c.out}/runs/${v.slug}-s${c.seeds[0]}/eval-t2v`,
    })),
  ];
  await host.fs.mkdir(`${c.out}/report/clips`, { recursive: true });
  const blocks: Block[] = [{
    kind: "text",
    text: `The first ${REPORT_GIFS} eval prompts (first eval seed), one GIF per model (training seed ${
      c.seeds[0]
    }); files report/clips/<model>-<prompt>.gif.`,
  }];
  const clips = await Promise.all(
    models.map(async (m) => (await videoSummary(host, m.dir)).model.clips.filter((x) => x.k === 0)),
  );
  for (let i = 0; i < Math.min(REPORT_GIFS, clips[0].length); i++) {
    for (let j = 0; j < models.length; j++) {
      const clip = clips[j][i];
      if (!clip) continue;
      const src = `clips/${models[j].slug}-${i}.gif`;
      await host.fs.copyFile(`${models[j].dir}/${clip.gif}`, `${c.out}/report/${src}`);
      blocks.push({ kind: "image", src, alt: `${models[j].name}: "${clip.text}" (${src})` });
    }
  }
  return blocks;
}

export { evalItems };
