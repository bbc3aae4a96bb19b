// Taste-world evaluation of a model against its base (docs/DATA.md): both sample every prompt with the
// same eval seeds; every sample is scored for taste, guard and headline; each metric's difference to
// the base is a paired, prompt-clustered bootstrap interval (lib/eval/paired.ts) with the design's
// minimum detectable effect. Writes eval.json (per-sample scores of both models), labelled side-by-side
// sample pairs and a report that opens with the verdict.
import type { Sampler } from "../diffusion/sampler.ts";
import type { GpuContext } from "../gpu/context.ts";
import type { PromptRow } from "../data/metadata.ts";
import { contactSheet, type RgbImage, writeImage } from "../io/images.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { TextToImage } from "../nn/pipeline.ts";
import { Progress } from "../util/progress.ts";
import { Rng } from "../util/rng.ts";
import { generateImages } from "./generate.ts";
import { scoreTasteSamples, tasteEvalItems, type TasteSampleScores } from "./eval_taste.ts";
import { describeDiff, diffBootstrap, type DiffInterval, mde } from "./paired.ts";
import type { Block, Section } from "./report.ts";
import { writeReport } from "./report.ts";
import { scoreTaste, summariseTaste, type TasteScore, type TasteSummary } from "./score_taste.ts";
import type { MetadataRow } from "../data/metadata.ts";
import { barChart } from "./svg.ts";
import type { Host } from "../host/host.ts";

export interface TasteEvalOptions {
  seeds: number;
  /** Default DEFAULT_SAMPLER (lib/diffusion/sampler.ts). */
  sampler?: Sampler;
  steps: number;
  guidance: number;
  batch: number;
  /** Label of the evaluated model in reports (e.g. "SePPO"). */
  label?: string;
  /** Backend and adapter, named in the report. */
  adapter?: string;
  log?: (s: string) => void;
  /** Show a progress bar/lines while sampling (default true). */
  progress?: boolean;
}

/**
 * The AAF judge of the taste world: a reference sample's quality is its taste score (good when it has
 * the taste), read from planar pixels [3, H, W] in [-1, 1] against its prompt's content.
 */
export function tasteJudge(size: number): (px: Float32Array, row: MetadataRow) => number {
  return (px, row) => {
    if (!row.attrs) {
      throw new Error(
        `metadata.jsonl:${row.line}: no world attributes; the taste judge (AAF diagnostics) reads them`,
      );
    }
    return scoreTaste(px, size, row.attrs).taste;
  };
}

/**
 * How the taste world is evaluated unless told otherwise (docs/SAMPLERS.md, taste base): DPM-Solver++(2M) at
 * 10 steps reads the taste rate and guard of 50 DDIM steps within 0.02, and guidance 1, because guidance 3
 * doubles the base's taste rate by itself (samples pulled to the corpus's average look) for no guard.
 */
export const TASTE_EVAL_SAMPLING = { sampler: "dpmsolver++" as Sampler, steps: 10, guidance: 1 };

/** The metrics every comparison reports, per sample. */
export const TASTE_METRICS = ["taste", "taste_rate", "guard", "headline"] as const;
export type TasteMetric = typeof TASTE_METRICS[number];

export const METRIC_TEXT: Record<TasteMetric, string> = {
  taste: "taste score (large and centred, from pixels; mean over samples)",
  taste_rate: "taste rate (share of samples that have the taste)",
  guard: "guard score (background, colour and shape as the prompt states them)",
  headline: "headline (taste x guard per sample: preferred and faithful)",
};

/** Per-sample values of one metric. */
export function metricValues(s: TasteSampleScores, m: TasteMetric): number[] {
  if (m === "taste_rate") return s.hasTaste.map((h) => (h ? 1 : 0));
  return s[m];
}

export interface ModelSamples {
  ckpt: string;
  scores: TasteSampleScores;
  images: RgbImage[];
  seconds: number;
}

/** Samples `items` with a model (a folder or a loaded model) and scores every sample. */
export async function sampleTaste(
  ctx: GpuContext,
  ckpt: string | TextToImage,
  prompts: PromptRow[],
  o: TasteEvalOptions,
  name: string,
): Promise<ModelSamples> {
  const t0 = performance.now();
  const model = typeof ckpt === "string" ? await TextToImage.load(ctx, ckpt) : ckpt;
  const items = tasteEvalItems(prompts, o.seeds);
  const bar = o.progress === false ? null : new Progress(ctx.host, `sample ${name}`, items.length);
  let shown = 0;
  try {
    const images = await generateImages(ctx, model, items, {
      sampler: o.sampler,
      steps: o.steps,
      guidance: o.guidance,
      batch: o.batch,
      onBatch: (done) => {
        bar?.tick(done - shown);
        shown = done;
      },
    });
    const scores = scoreTasteSamples(images, model.unet.config.sample_size, items);
    return {
      ckpt: typeof ckpt === "string" ? ckpt : "(in memory)",
      scores,
      images,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    bar?.finish();
    if (typeof ckpt === "string") model.dispose();
  }
}

export interface TasteEvalResult {
  ckpt: string;
  base: string | null;
  label: string;
  prompts: number;
  seeds: number;
  n: number;
  model: TasteSummary;
  baseSummary: TasteSummary | null;
  /** Held-out compositions only (content absent from the preference data). */
  heldout: { n: number; model: TasteSummary; base: TasteSummary | null } | null;
  /** model - base per metric, paired by prompt and seed; null without a base. */
  diff: Record<TasteMetric, DiffInterval> | null;
  heldoutDiff: Record<TasteMetric, DiffInterval> | null;
  /** Smallest difference this design detects with 80% power (alpha 0.05), per metric. */
  mde: Record<TasteMetric, number> | null;
  seconds: { model: number; base: number | null; total: number };
}

const toScores = (s: TasteSampleScores, keep: (i: number) => boolean): TasteScore[] =>
  s.taste.map((_, i) => i).filter(keep).map((i) => ({
    taste: s.taste[i],
    hasTaste: s.hasTaste[i],
    guard: s.guard[i],
    headline: s.headline[i],
    perAttr: {
      background: s.perAttr.background[i],
      color: s.perAttr.color[i],
      shape: s.perAttr.shape[i],
      size: s.perAttr.size[i],
      position: s.perAttr.position[i],
    },
  }));

/** Paired differences model - base per metric over the samples `keep` selects. */
export function pairedDiffs(
  model: TasteSampleScores,
  base: TasteSampleScores,
  seeds: number,
  keep: (i: number) => boolean = () => true,
  seed = 1,
): Record<TasteMetric, DiffInterval> {
  const idx = model.taste.map((_, i) => i).filter(keep);
  const cluster = idx.map((i) => Math.floor(i / seeds)); // prompt index: items are prompt-major
  const out = {} as Record<TasteMetric, DiffInterval>;
  TASTE_METRICS.forEach((m, k) => {
    const a = metricValues(model, m), b = metricValues(base, m);
    out[m] = diffBootstrap([idx.map((i) => a[i])], [idx.map((i) => b[i])], cluster, new Rng(seed).fork(k), {
      iters: 2000,
    });
  });
  return out;
}

/** Summaries and paired differences of two sample sets on the same items. */
export function compareTaste(
  model: ModelSamples,
  base: ModelSamples | null,
  prompts: PromptRow[],
  o: Pick<TasteEvalOptions, "seeds" | "label">,
): Omit<TasteEvalResult, "seconds"> {
  const n = model.scores.taste.length;
  const held = (i: number) => model.scores.heldout[i];
  const anyHeld = model.scores.heldout.some((h) => h);
  const diff = base ? pairedDiffs(model.scores, base.scores, o.seeds) : null;
  return {
    ckpt: model.ckpt,
    base: base?.ckpt ?? null,
    label: o.label ?? "model",
    prompts: prompts.length,
    seeds: o.seeds,
    n,
    model: summariseTaste(toScores(model.scores, () => true)),
    baseSummary: base ? summariseTaste(toScores(base.scores, () => true)) : null,
    heldout: anyHeld
      ? {
        n: model.scores.heldout.filter((h) => h).length,
        model: summariseTaste(toScores(model.scores, held)),
        base: base ? summariseTaste(toScores(base.scores, held)) : null,
      }
      : null,
    diff,
    heldoutDiff: base && anyHeld ? pairedDiffs(model.scores, base.scores, o.seeds, held, 2) : null,
    mde: diff
      ? Object.fromEntries(TASTE_METRICS.map((m) => [m, mde(diff[m].se)])) as Record<TasteMetric, number>
      : null,
  };
}

/** Writes the first seed of every prompt as upscaled PNGs (pairs/NNN-base.png, -model.png). */
async function writePairs(
  host: Host,
  out: string,
  model: ModelSamples,
  base: ModelSamples | null,
  seeds: number,
) {
  await host.fs.mkdir(`${out}/pairs`, { recursive: true });
  const scale = Math.max(1, Math.round(64 / model.images[0].width));
  const up = (img: RgbImage) => contactSheet([img], { cols: 1, scale, pad: 0 });
  const files: { left: string; right: string; index: number }[] = [];
  for (let i = 0; i < model.images.length; i += seeds) {
    const id = String(i / seeds).padStart(3, "0");
    await writeImage(host, `${out}/pairs/${id}-model.png`, up(model.images[i]));
    if (base) await writeImage(host, `${out}/pairs/${id}-base.png`, up(base.images[i]));
    files.push({ left: `pairs/${id}-base.png`, right: `pairs/${id}-model.png`, index: i });
  }
  return files;
}

const f3 = (v: number) => v.toFixed(3);

/** The one-sentence answer: how taste and guard moved against the base. */
export function tasteVerdict(r: Omit<TasteEvalResult, "seconds">): string {
  if (!r.diff) {
    return `${r.label}: taste ${f3(r.model.taste)}, guard ${f3(r.model.guard)} (no base to compare with).`;
  }
  const d = r.diff;
  const guardOk = d.guard.lo > 0 || d.guard.hi >= 0;
  return `Against the base on ${r.n} samples (${r.prompts} prompts x ${r.seeds} seeds), ${r.label}'s taste score is ` +
    `${describeDiff(d.taste)} (taste rate ${f3(r.baseSummary!.tasteRate)} -> ${
      f3(r.model.tasteRate)
    }), and its ` +
    `guard score is ${describeDiff(d.guard)}` + (guardOk ? "." : ": prompt following got worse.");
}

/** Report sections: verdict, the metric table with paired differences, pairs, held-out compositions. */
export function tasteSections(
  r: Omit<TasteEvalResult, "seconds"> & { seconds?: TasteEvalResult["seconds"] },
  pairs: { left: string; right: string; caption: string }[],
  note = "",
): Section[] {
  const rows: (string | number)[][] = TASTE_METRICS.map((m) => {
    const key = m === "taste_rate" ? "tasteRate" : m;
    const mv = r.model[key as keyof TasteSummary] as number;
    const bv = r.baseSummary ? r.baseSummary[key as keyof TasteSummary] as number : NaN;
    const d = r.diff?.[m];
    return [
      METRIC_TEXT[m],
      r.baseSummary ? f3(bv) : "-",
      f3(mv),
      d ? `${d.diff >= 0 ? "+" : ""}${f3(d.diff)} [${f3(d.lo)}, ${f3(d.hi)}]` : "-",
      r.mde ? f3(r.mde[m]) : "-",
    ];
  });
  for (const a of ["background", "color", "shape", "size", "position"] as const) {
    rows.push([
      `  ${a} score`,
      r.baseSummary ? f3(r.baseSummary.perAttr[a]) : "-",
      f3(r.model.perAttr[a]),
      "",
      "",
    ]);
  }
  const blocks: Block[] = [
    { kind: "text", text: tasteVerdict(r), verdict: true },
    {
      kind: "text",
      text: `Each difference is ${r.label} minus the base on the same prompts and eval seeds, with a 95% ` +
        `bootstrap interval that resamples prompts (with all their seeds). "Detectable" is the smallest true ` +
        `difference this design finds with 80% power at alpha 0.05 (2.8 standard errors). ${note}`,
    },
    { kind: "table", header: ["metric", "base", r.label, "difference (95% CI)", "detectable"], rows },
  ];
  if (r.diff) {
    blocks.push({
      kind: "svg",
      alt: "taste and guard, base vs model",
      svg: barChart(
        "taste score and guard score (mean; bars: base, model)",
        [
          {
            name: "base taste",
            value: r.baseSummary!.taste,
            lo: r.baseSummary!.taste,
            hi: r.baseSummary!.taste,
          },
          { name: `${r.label} taste`, value: r.model.taste, lo: r.model.taste, hi: r.model.taste },
          {
            name: "base guard",
            value: r.baseSummary!.guard,
            lo: r.baseSummary!.guard,
            hi: r.baseSummary!.guard,
          },
          { name: `${r.label} guard`, value: r.model.guard, lo: r.model.guard, hi: r.model.guard },
        ],
        { min: 0, max: 1 },
      ),
    });
  }
  const sections: Section[] = [{ title: "What changed", blocks }];
  if (pairs.length) {
    sections.push({
      title: "Samples, side by side",
      blocks: [
        {
          kind: "text",
          text:
            `The first eval seed of every prompt (${pairs.length} of ${r.n} samples), the base and ${r.label} ` +
            `from the same starting noise. Preferred look: a large object in the centre.`,
        },
        { kind: "pairs", labels: ["base", r.label], pairs },
      ],
    });
  }
  if (r.heldout) {
    const h = r.heldout, hd = r.heldoutDiff;
    sections.push({
      title: "Held-out compositions",
      blocks: [{
        kind: "text",
        text: `${h.n} samples whose (colour, shape) pair never appears in the preference data: taste ` +
          `${h.base ? f3(h.base.taste) + " -> " : ""}${f3(h.model.taste)}` +
          (hd ? ` (${describeDiff(hd.taste)})` : "") +
          `, guard ${h.base ? f3(h.base.guard) + " -> " : ""}${f3(h.model.guard)}` +
          (hd ? ` (${describeDiff(hd.guard)})` : "") + ".",
      }],
    });
  }
  return sections;
}

/** Evaluates `ckpt` (and `base`) on the taste prompts; writes eval.json, pairs/ and report.{md,html}. */
export async function evalTaste(
  ctx: GpuContext,
  ckpt: string,
  base: string | null,
  prompts: PromptRow[],
  out: string,
  o: TasteEvalOptions,
): Promise<TasteEvalResult> {
  const t0 = performance.now();
  await ctx.host.fs.mkdir(out, { recursive: true });
  o.log?.(
    `eval: ${ckpt}${base ? ` and base ${base}` : ""} on ${prompts.length} taste prompts x ${o.seeds} seeds`,
  );
  const mine = await sampleTaste(ctx, ckpt, prompts, o, o.label ?? "model");
  const theirs = base ? await sampleTaste(ctx, base, prompts, o, "base") : null;
  const cmp = compareTaste(mine, theirs, prompts, o);
  const result: TasteEvalResult = {
    ...cmp,
    seconds: { model: mine.seconds, base: theirs?.seconds ?? null, total: (performance.now() - t0) / 1000 },
  };
  const files = await writePairs(ctx.host, out, mine, theirs, o.seeds);
  const items = tasteEvalItems(prompts, o.seeds);
  await writeJsonAtomic(ctx.host, `${out}/eval.json`, {
    result,
    items: items.map((it) => ({ text: it.text, seed: it.seed, heldout: it.heldout })),
    model: mine.scores,
    base: theirs?.scores ?? null,
  });
  const pairs = theirs
    ? files.map((f) => ({ left: f.left, right: f.right, caption: items[f.index].text }))
    : [];
  const note = o.adapter ? `Sampled on ${o.adapter}.` : "";
  await writeReport(ctx.host, out, `Taste evaluation: ${ckpt}`, tasteSections(result, pairs, note));
  return result;
}
