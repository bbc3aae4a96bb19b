// Text-to-image evaluation: samples every eval prompt with fixed seeds, scores the pixels with the
// programmatic scorer, and reports the mean with a 95% bootstrap interval, per-attribute scores, the
// held-out compositions separately, the win rate against a base model on the same prompts and
// seeds, and contact sheets; JSON + Markdown + HTML.
import type { GpuContext } from "../gpu/context.ts";
import type { PromptRow } from "../data/metadata.ts";
import { contactSheet, writeImage } from "../io/images.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { type ImageModel, loadImageModel, pixelSize } from "../nn/bundle.ts";
import { DEFAULT_SAMPLER, type Sampler, samplerName } from "../diffusion/sampler.ts";
import { Progress } from "../util/progress.ts";
import { Rng } from "../util/rng.ts";
import type { SceneAttrs } from "../world/attrs.ts";
import { generateImages, type GenItem, writeImageFolder } from "./generate.ts";
import { barChart } from "./svg.ts";
import { type Block, type Section, writeReport } from "./report.ts";
import { scoreImage } from "./score_image.ts";
import { bootstrapCI, type Interval, winRate } from "./stats.ts";

export const ATTRS = ["background", "color", "shape", "size", "position"] as const;

/** How shapes-world prompts are sampled for evaluation unless told otherwise (taste prompts:
 * TASTE_EVAL_SAMPLING, lib/eval/taste_eval.ts). */
export const IMAGE_EVAL_SAMPLING = { sampler: DEFAULT_SAMPLER as Sampler, steps: 20, guidance: 3 };

export interface EvalImageOptions {
  seeds: number;
  /** Default DEFAULT_SAMPLER (lib/diffusion/sampler.ts). */
  sampler?: Sampler;
  steps: number;
  guidance: number;
  batch: number;
  /** Write the generated images as an imagefolder under out/samples (and out/base-samples). */
  saveImages: boolean;
  log?: (s: string) => void;
  /** Show a progress bar (rate, ETA) while sampling (default: when `log` is given). */
  progress?: boolean;
}

export interface ModelScores {
  ckpt: string;
  /** Per sample (prompt-major, seed-minor) mean score. */
  scores: number[];
  perAttr: Record<string, number[]>;
  heldout: boolean[];
}

export interface EvalSummary {
  ckpt: string;
  base: string | null;
  n: number;
  mean: Interval;
  perAttr: Record<string, Interval>;
  heldout: Interval | null;
  seen: Interval | null;
  winRateVsBase: number | null;
  baseMean: Interval | null;
  basePerAttr: Record<string, Interval> | null;
  seconds: number;
}

export function evalItems(
  prompts: PromptRow[],
  seeds: number,
): (GenItem & { attrs: SceneAttrs; heldout: boolean })[] {
  return prompts.flatMap((p) =>
    Array.from({ length: seeds }, (_, k) => ({
      text: p.text,
      seed: (p.seed + k) >>> 0,
      attrs: p.attrs as SceneAttrs,
      heldout: p.heldout,
      meta: { ...(p.attrs as unknown as Record<string, unknown>), heldout: p.heldout, prompt_id: p.id },
    }))
  );
}

/** Generates and scores one model on the eval items; writes its samples when asked. */
export async function scoreModel(
  ctx: GpuContext,
  ckpt: string | ImageModel,
  prompts: PromptRow[],
  o: EvalImageOptions,
  samplesDir: string | null,
) {
  const model = typeof ckpt === "string" ? await loadImageModel(ctx, ckpt) : ckpt;
  const items = evalItems(prompts, o.seeds);
  const progress = (o.progress ?? !!o.log)
    ? new Progress(ctx.host, `  sampling ${typeof ckpt === "string" ? ckpt : "model"}`, items.length, {
      unit: "images",
    })
    : undefined;
  const images = await generateImages(ctx, model, items, {
    sampler: o.sampler,
    steps: o.steps,
    guidance: o.guidance,
    batch: o.batch,
    progress,
  });
  progress?.finish();
  const size = images[0]?.width ?? pixelSize(model);
  if (typeof ckpt === "string") model.dispose();
  const s: ModelScores = {
    ckpt: typeof ckpt === "string" ? ckpt : "(in memory)",
    scores: [],
    perAttr: Object.fromEntries(ATTRS.map((a) => [a, []])),
    heldout: [],
  };
  images.forEach((img, i) => {
    const r = scoreImage(img.data, size, items[i].attrs);
    s.scores.push(r.mean);
    for (const a of ATTRS) s.perAttr[a].push(r[a]);
    s.heldout.push(items[i].heldout);
  });
  if (samplesDir) await writeImageFolder(ctx.host, samplesDir, items, images);
  return { scores: s, images, items };
}

function ci(values: number[], seed: number): Interval {
  return bootstrapCI(values, new Rng(seed), { iters: 2000, level: 0.95 });
}

export async function evalT2I(
  ctx: GpuContext,
  ckpt: string,
  base: string | null,
  prompts: PromptRow[],
  out: string,
  o: EvalImageOptions,
): Promise<EvalSummary> {
  const t0 = performance.now();
  await ctx.host.fs.mkdir(out, { recursive: true });
  o.log?.(
    `eval: ${ckpt} on ${prompts.length} prompts x ${o.seeds} seeds, ${samplerName(o.sampler)} ` +
      `${o.steps} steps, guidance ${o.guidance}`,
  );
  const mine = await scoreModel(ctx, ckpt, prompts, o, o.saveImages ? `${out}/samples` : null);
  let theirs: Awaited<ReturnType<typeof scoreModel>> | null = null;
  if (base) {
    o.log?.(`eval: base ${base}`);
    theirs = await scoreModel(ctx, base, prompts, o, o.saveImages ? `${out}/base-samples` : null);
  }
  const split = (held: boolean) => mine.scores.scores.filter((_, i) => mine.scores.heldout[i] === held);
  const summary: EvalSummary = {
    ckpt,
    base,
    n: mine.scores.scores.length,
    mean: ci(mine.scores.scores, 1),
    perAttr: Object.fromEntries(ATTRS.map((a) => [a, ci(mine.scores.perAttr[a], 2)])),
    heldout: split(true).length ? ci(split(true), 3) : null,
    seen: split(false).length ? ci(split(false), 4) : null,
    winRateVsBase: theirs ? winRate(mine.scores.scores, theirs.scores.scores) : null,
    baseMean: theirs ? ci(theirs.scores.scores, 1) : null,
    basePerAttr: theirs ? Object.fromEntries(ATTRS.map((a) => [a, ci(theirs!.scores.perAttr[a], 2)])) : null,
    seconds: (performance.now() - t0) / 1000,
  };
  // Contact sheets: the first sample of up to 32 prompts, ckpt (and base) side by side.
  const firsts = (imgs: typeof mine.images) => imgs.filter((_, i) => i % o.seeds === 0).slice(0, 32);
  const scale = Math.max(1, Math.round(48 / mine.images[0].width));
  await writeImage(
    ctx.host,
    `${out}/sheet.png`,
    contactSheet(firsts(mine.images), { cols: 8, scale, pad: 2 }),
  );
  if (theirs) {
    await writeImage(
      ctx.host,
      `${out}/base-sheet.png`,
      contactSheet(firsts(theirs.images), { cols: 8, scale, pad: 2 }),
    );
  }
  await writeJsonAtomic(ctx.host, `${out}/eval.json`, {
    summary,
    scores: mine.scores.scores,
    baseScores: theirs?.scores.scores ?? null,
  });
  await writeReport(ctx.host, out, `Text-to-image evaluation: ${ckpt}`, evalSections(summary, !!theirs));
  return summary;
}

const fmtCi = (
  i: Interval | null,
) => (i ? `${i.mean.toFixed(4)} [${i.lo.toFixed(4)}, ${i.hi.toFixed(4)}]` : "-");

export function evalSections(s: EvalSummary, hasBase: boolean): Section[] {
  const rows: (string | number)[][] = [["mean", fmtCi(s.mean), fmtCi(s.baseMean)]];
  for (const a of ATTRS) rows.push([a, fmtCi(s.perAttr[a]), fmtCi(s.basePerAttr?.[a] ?? null)]);
  rows.push(["held-out compositions", fmtCi(s.heldout), "-"], ["seen compositions", fmtCi(s.seen), "-"]);
  const blocks: Block[] = [
    {
      kind: "text",
      text: `${s.n} samples (prompts x seeds). Scores in [0, 1] from the programmatic scorer; ` +
        `95% bootstrap intervals (2000 resamples).` +
        (s.winRateVsBase !== null
          ? ` Win rate against the base on the same prompts and seeds: ${
            (100 * s.winRateVsBase).toFixed(1)
          }% (ties count half).`
          : ""),
    },
    { kind: "table", header: ["score", "model", hasBase ? "base" : "-"], rows },
    {
      kind: "svg",
      alt: "scores",
      svg: barChart("mean score (95% CI)", [
        { name: "model", value: s.mean.mean, lo: s.mean.lo, hi: s.mean.hi },
        ...(s.baseMean
          ? [{ name: "base", value: s.baseMean.mean, lo: s.baseMean.lo, hi: s.baseMean.hi }]
          : []),
      ], { min: 0, max: 1 }),
    },
    { kind: "image", src: "sheet.png", alt: "model samples (first seed of each prompt)" },
  ];
  if (hasBase) {
    blocks.push({ kind: "image", src: "base-sheet.png", alt: "base samples (same prompts and seeds)" });
  }
  return [{ title: "Scores", blocks }];
}
