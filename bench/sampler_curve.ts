// deno task sampler-curve: the scorer's score against sampling steps per sampler, on one checkpoint,
// the eval prompts and fixed seeds (the same images' noise for every sampler and step count), with
// 95% bootstrap intervals, wall time per sample, a markdown table and an SVG chart (docs/SAMPLERS.md).
// Flags (--help lists them):
//   --ckpt DIR        default models/base-shapes-16
//   --prompts FILE    default data/generated/shapes-eval/prompts.jsonl
//   --samplers LIST   default ddim,dpmsolver++,euler; NAME:5/10/20 gives that sampler its own steps
//   --steps LIST      default 5,8,10,15,20,50
//   --seeds N         seeds per prompt (prompt seed + k), default 2
//   --guidance G      default 3; 1 on taste prompts (guidance 3 doubles the taste base's taste rate)
//   --ref S:N         the point others are compared with, paired per sample (default ddim:10, the
//                     SePPO reference sampler's old default)
// On taste-world prompts (rows with a `taste` field) each point also carries the taste rate, guard and
// headline per sample, and their paired, prompt-clustered differences to --ref (lib/eval/paired.ts);
// the score charted is the headline. That is how the SePPO reference sampler's steps are chosen: the
// fewest whose taste rate and guard are within 0.02 of a 50-step sampler (--ref ddim:50).
//   --json FILE, --svg FILE   results and chart (written atomically; the JSON after every point, and
//                     points already in it, for the same checkpoint, prompts, seeds and guidance, are kept
//                     instead of measured again)
import { defineCli, flag, type FlagValues } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { loadPrompts } from "../lib/data/metadata.ts";
import { type Sampler, samplerName, SAMPLERS } from "../lib/diffusion/sampler.ts";
import { IMAGE_EVAL_SAMPLING, scoreModel } from "../lib/eval/eval_image.ts";
import { loadTastePrompts } from "../lib/eval/eval_taste.ts";
import { diffBootstrap, type DiffInterval, promptClusters } from "../lib/eval/paired.ts";
import {
  metricValues,
  sampleTaste,
  TASTE_EVAL_SAMPLING,
  TASTE_METRICS,
  type TasteMetric,
} from "../lib/eval/taste_eval.ts";
import { isTastePrompts } from "../lib/train/compare_taste.ts";
import { bootstrapCI, type Interval } from "../lib/eval/stats.ts";
import { lineChart } from "../lib/eval/svg.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/atomic.ts";
import { TextToImage } from "../lib/nn/pipeline.ts";
import { UsageError } from "../lib/util/errors.ts";
import { Rng } from "../lib/util/rng.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export interface CurvePoint {
  sampler: Sampler;
  steps: number;
  score: Interval;
  /** Per-sample scores in item order (prompt-major, then seed). */
  scores: number[];
  msPerSample: number;
  /** Paired difference to the --ref point (same prompts and seeds): mean and 95% bootstrap interval. */
  vsRef?: Interval;
  /** Taste prompts: per-sample values of every taste metric (score = headline). */
  metrics?: Record<TasteMetric, number[]>;
  /** Taste prompts: each metric's paired, prompt-clustered difference to the --ref point. */
  metricsVsRef?: Record<TasteMetric, DiffInterval>;
}

/** What --json writes: the run's checkpoint, prompts, seeds and guidance, and every point. */
export interface CurveFile {
  ckpt: string;
  prompts: string;
  seeds: number;
  guidance: number;
  backend: string;
  points: CurvePoint[];
}

/** The largest |difference| to the reference a point may have and still count as "as good". */
export const WITHIN = 0.02;

const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x);

export const CLI = defineCli({
  task: "sampler-curve",
  purpose: "the scorer's score against sampling steps per sampler on one checkpoint, the eval prompts and " +
    "fixed seeds (paired with a reference point), as a markdown table, JSON and an SVG chart.",
  flags: {
    ckpt: flag.str("checkpoint folder", { default: "models/base-shapes-16", arg: "DIR" }),
    prompts: flag.str("eval prompts (JSONL)", {
      default: "data/generated/shapes-eval/prompts.jsonl",
      arg: "FILE",
    }),
    samplers: flag.str("samplers; NAME:5/10/20 gives that sampler its own steps", {
      default: "ddim,dpmsolver++,euler",
      arg: "LIST",
    }),
    steps: flag.str("step counts", { default: "5,8,10,15,20,50", arg: "LIST" }),
    seeds: flag.int("seeds per prompt (prompt seed + k)", { default: 2, min: 1 }),
    guidance: flag.num("classifier-free guidance scale; default 3, on taste prompts 1 (docs/SAMPLERS.md)", {
      min: 1,
    }),
    batch: flag.int("images per GPU batch", { default: 32, min: 1 }),
    ref: flag.str("the point the others are compared with, paired per sample", {
      default: "ddim:10",
      arg: "S:N",
    }),
    json: flag.str("results (kept points are reused on a rerun)", { arg: "FILE" }),
    svg: flag.str("chart", { arg: "FILE" }),
  },
  examples: [
    "deno task sampler-curve --samplers dpmsolver++:5/10/20,ddim:5/10/20/50 --seeds 1 --json out/curve.json",
  ],
});

async function main(v: FlagValues<typeof CLI.flags>) {
  const [refSampler, refSteps] = v.ref.split(":");
  const stepList = (flag: string, xs: string[]) =>
    xs.map((s) => {
      const n = Number(s);
      if (!(Number.isInteger(n) && n >= 1)) throw new UsageError(`${flag}: "${s}" is not a positive integer`);
      return n;
    });
  const steps = stepList("--steps", list(v.steps));
  const runs = list(v.samplers).map((item) => {
    const [name, own] = item.split(":");
    if (!(SAMPLERS as readonly string[]).includes(name)) {
      throw new UsageError(`--samplers: "${name}" is not one of ${SAMPLERS.join(", ")}`);
    }
    return { sampler: name as Sampler, steps: own ? stepList("--samplers", own.split("/")) : steps };
  });
  const { seeds, batch } = v;
  const ctx = await GpuContext.create(host);
  console.log(`backend / adapter: ${ctx.label}`);
  const taste = await isTastePrompts(host, v.prompts);
  const guidance = v.guidance ?? (taste ? TASTE_EVAL_SAMPLING : IMAGE_EVAL_SAMPLING).guidance;
  const prompts = taste ? await loadTastePrompts(host, v.prompts) : await loadPrompts(host, v.prompts);
  const model = await TextToImage.load(ctx, v.ckpt);
  console.log(`${v.ckpt}: ${prompts.length} prompts x ${seeds} seeds, guidance ${guidance}`);
  const points: CurvePoint[] = [];
  const head = { ckpt: v.ckpt, prompts: v.prompts, seeds, guidance };
  const save = async () => {
    if (v.json) {
      await writeJsonAtomic(host, v.json, { ...head, backend: ctx.label, points } satisfies CurveFile);
    }
  };
  const old = v.json ? await Deno.readTextFile(v.json).then(JSON.parse).catch(() => null) : null;
  const same = old && Object.entries(head).every(([k, x]) => old[k] === x);
  for (const { sampler, steps } of runs) {
    for (const n of steps) {
      const kept = same
        ? (old.points as CurvePoint[]).find((p) => p.sampler === sampler && p.steps === n)
        : null;
      if (kept) {
        points.push(kept);
        console.log(`${samplerName(sampler).padEnd(17)} ${String(n).padStart(3)} steps: kept from ${v.json}`);
        continue;
      }
      const t0 = performance.now();
      let perSample: number[], metrics: Record<TasteMetric, number[]> | undefined;
      if (taste) {
        const o = { seeds, sampler, steps: n, guidance, batch, progress: false };
        const { scores } = await sampleTaste(ctx, model, prompts, o, `${sampler}:${n}`);
        metrics = Object.fromEntries(TASTE_METRICS.map((m) => [m, metricValues(scores, m)])) as Record<
          TasteMetric,
          number[]
        >;
        perSample = metrics.headline;
      } else {
        const o = { seeds, sampler, steps: n, guidance, batch, saveImages: false };
        perSample = (await scoreModel(ctx, model, prompts, o, null)).scores.scores;
      }
      const ms = (performance.now() - t0) / perSample.length;
      const score = bootstrapCI(perSample, new Rng(0).fork("sampler-curve"), { iters: 2000 });
      points.push({ sampler, steps: n, score, scores: perSample, msPerSample: ms, metrics });
      await save();
      console.log(
        `${samplerName(sampler).padEnd(17)} ${String(n).padStart(3)} steps: score ${score.mean.toFixed(4)} ` +
          `[${score.lo.toFixed(4)}, ${score.hi.toFixed(4)}]  ${ms.toFixed(0)} ms/sample`,
      );
    }
  }
  const ref = points.find((p) => p.sampler === refSampler && p.steps === Number(refSteps));
  if (ref) {
    for (const p of points) {
      const d = p.scores.map((x, i) => x - ref.scores[i]);
      p.vsRef = bootstrapCI(d, new Rng(0).fork("sampler-curve-paired"), { iters: 2000 });
      if (p.metrics && ref.metrics) {
        const cluster = promptClusters(p.scores.length, seeds);
        p.metricsVsRef = Object.fromEntries(TASTE_METRICS.map((m) => [
          m,
          diffBootstrap([p.metrics![m]], [ref.metrics![m]], cluster, new Rng(0).fork(`sampler-curve-${m}`)),
        ])) as Record<TasteMetric, DiffInterval>;
      }
    }
  }
  console.log(`\n${curveTable(points)}`);
  if (ref) {
    console.log(
      `\npaired difference to ${samplerName(ref.sampler)} ${ref.steps} steps:\n${pairedTable(points)}`,
    );
  }
  if (ref?.metrics) {
    console.log(
      `\ntaste rate and guard, paired difference to ${samplerName(ref.sampler)} ${ref.steps} steps:`,
    );
    console.log(tasteTable(points));
    for (const sm of [...new Set(points.map((p) => p.sampler))]) {
      const n = fewestWithin(points.filter((p) => p.sampler === sm));
      console.log(
        `${samplerName(sm)}: ${
          n === null ? "no step count" : `${n} steps is the fewest`
        } with taste rate and guard within ${WITHIN} of the reference`,
      );
    }
  }
  await save();
  if (v.svg) await writeFileAtomic(host, v.svg, curveChart(points, v.ckpt) + "\n");
  model.dispose();
  ctx.destroy();
}

/** Markdown: one row per step count, one column per sampler (mean [95% CI]). */
export function curveTable(points: CurvePoint[]): string {
  const samplers = [...new Set(points.map((p) => p.sampler))];
  const steps = [...new Set(points.map((p) => p.steps))].sort((a, b) => a - b);
  const cell = (s: Sampler, n: number) => {
    const p = points.find((q) => q.sampler === s && q.steps === n);
    return p ? `${p.score.mean.toFixed(3)} [${p.score.lo.toFixed(3)}, ${p.score.hi.toFixed(3)}]` : "-";
  };
  return [
    `| steps | ${samplers.map(samplerName).join(" | ")} |`,
    `|---:|${samplers.map(() => "---|").join("")}`,
    ...steps.map((n) => `| ${n} | ${samplers.map((s) => cell(s, n)).join(" | ")} |`),
  ].join("\n");
}

/** Markdown: the paired difference of each point to the reference point. */
export function pairedTable(points: CurvePoint[]): string {
  const samplers = [...new Set(points.map((p) => p.sampler))];
  const steps = [...new Set(points.map((p) => p.steps))].sort((a, b) => a - b);
  const cell = (s: Sampler, n: number) => {
    const d = points.find((q) => q.sampler === s && q.steps === n)?.vsRef;
    return d ? `${d.mean >= 0 ? "+" : ""}${d.mean.toFixed(3)} [${d.lo.toFixed(3)}, ${d.hi.toFixed(3)}]` : "-";
  };
  return [
    `| steps | ${samplers.map(samplerName).join(" | ")} |`,
    `|---:|${samplers.map(() => "---|").join("")}`,
    ...steps.map((n) => `| ${n} | ${samplers.map((s) => cell(s, n)).join(" | ")} |`),
  ].join("\n");
}

/** The fewest steps whose taste rate and guard differ from the reference by at most WITHIN. */
export function fewestWithin(points: CurvePoint[]): number | null {
  const ok = points.filter((p) =>
    p.metricsVsRef && Math.abs(p.metricsVsRef.taste_rate.diff) <= WITHIN &&
    Math.abs(p.metricsVsRef.guard.diff) <= WITHIN
  );
  return ok.length ? Math.min(...ok.map((p) => p.steps)) : null;
}

/** "0.250 (+0.012 [-0.020, 0.041])": the mean of xs and, when given, its paired difference d. */
export function meanWithDiff(xs: readonly number[], d?: DiffInterval): string {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = d
    ? ` (${d.diff >= 0 ? "+" : ""}${d.diff.toFixed(3)} [${d.lo.toFixed(3)}, ${d.hi.toFixed(3)}])`
    : "";
  return `${mean.toFixed(3)}${sd}`;
}

/** Markdown: taste rate and guard of every point, with the paired difference to the reference. */
export function tasteTable(points: CurvePoint[]): string {
  const m = (p: CurvePoint, k: TasteMetric) => meanWithDiff(p.metrics![k], p.metricsVsRef?.[k]);
  return [
    "| sampler | steps | taste rate (vs ref) | guard (vs ref) | ms/sample |",
    "|---|---:|---|---|---:|",
    ...points.filter((p) => p.metrics).map((p) =>
      `| ${samplerName(p.sampler)} | ${p.steps} | ${m(p, "taste_rate")} | ${m(p, "guard")} | ${
        p.msPerSample.toFixed(0)
      } |`
    ),
  ].join("\n");
}

export function curveChart(points: CurvePoint[], ckpt: string): string {
  const samplers = [...new Set(points.map((p) => p.sampler))];
  const series = samplers.map((s) => ({
    name: samplerName(s),
    points: points.filter((p) => p.sampler === s).map((p) => [p.steps, p.score.mean] as [number, number]),
  }));
  return lineChart(`scorer score vs sampling steps (${ckpt})`, series, { xLabel: "steps", yLabel: "score" });
}

if (import.meta.main) await runTask(host, CLI, ({ flags }) => main(flags));
