// The compare report on the taste world: does the paper's ordering hold here, and by how much? Every
// claim is a paired difference on the same eval prompts and seeds, with a seed-aware 95% interval (runs
// resampled per method, prompts jointly; lib/eval/paired.ts), a Holm-corrected verdict over the family
// of the paper's pre-stated claims, and the design's minimum detectable effect.
import { samplerName } from "../diffusion/sampler.ts";
import type { PromptRow } from "../data/metadata.ts";
import { parseJsonl } from "../data/metadata.ts";
import type { TasteSampleScores } from "../eval/eval_taste.ts";
import {
  describeDiff,
  diffBootstrap,
  type DiffInterval,
  holm,
  mde,
  promptClusters,
  type Verdict,
  verdict,
} from "../eval/paired.ts";
import type { Block, Section } from "../eval/report.ts";
import { barChart, lineChart, smooth } from "../eval/svg.ts";
import { Rng } from "../util/rng.ts";
import { aafAgreement, readAafLog } from "./aaf_log.ts";
import type { CompareConfig, RunResult, Scored } from "./compare.ts";
import { fmtSecs, readMetrics } from "./run.ts";
import type { TrainConfig } from "./seppo.ts";
import type { Host } from "../host/host.ts";

/** Per-sample columns a taste run stores (result.json perAttr). */
export const TASTE_COLUMNS = [
  "taste",
  "taste_rate",
  "guard",
  "headline",
  "background",
  "color",
  "shape",
  "size",
  "position",
];

/** Equivalence margin for "a ~ b" claims, in headline units (stated before any run). */
export const EQUIVALENCE_MARGIN = 0.03;

/** Whether a prompts file is the taste world's (its rows carry `taste`). */
export async function isTastePrompts(host: Host, path: string): Promise<boolean> {
  const rows = parseJsonl(await host.fs.readTextFile(path), path);
  return rows.length > 0 && "taste" in rows[0].obj;
}

/** A sample set's columns: score = headline, plus every taste column per sample. */
export function tasteColumns(s: TasteSampleScores): Scored {
  return {
    scores: s.headline,
    perAttr: {
      taste: s.taste,
      taste_rate: s.hasTaste.map((h) => (h ? 1 : 0)),
      guard: s.guard,
      headline: s.headline,
      ...s.perAttr,
    },
  };
}

/** A pre-stated claim of the paper (SEPPO.md, "What the paper reports"), on the headline. */
export interface Claim {
  a: string;
  b: string;
  kind: ">" | "~";
  text: string;
}

export const PAPER_CLAIMS: Claim[] = [
  { a: "seppo", b: "spin", kind: ">", text: "SePPO > SPIN-Diffusion" },
  { a: "spin", b: "sft", kind: ">", text: "SPIN > SFT" },
  { a: "sft", b: "base", kind: ">", text: "SFT > base" },
  { a: "seppo", b: "seppo:ref=initial", kind: ">", text: "reference uniform over the pool > initial" },
  { a: "seppo", b: "seppo:ref=latest", kind: ">", text: "reference uniform over the pool > latest" },
  { a: "seppo", b: "seppo:aaf=off", kind: ">", text: "AAF sign > no AAF" },
  { a: "seppo", b: "seppo:aaf=indicator", kind: "~", text: "AAF sign ~ AAF indicator" },
];

/** Further comparisons, reported with intervals but outside the corrected family. */
const EXTRA: Claim[] = [
  { a: "seppo", b: "base", kind: ">", text: "SePPO > base" },
  { a: "seppo", b: "sft", kind: ">", text: "SePPO > SFT (same updates)" },
  { a: "seppo", b: "sft:time=seppo", kind: ">", text: "SePPO > SFT given SePPO's wall time" },
  { a: "dpo", b: "base", kind: ">", text: "Diffusion-DPO (human-style losers) > base" },
  { a: "seppo", b: "dpo", kind: ">", text: "SePPO > Diffusion-DPO" },
];

export interface ClaimResult extends Claim {
  metric: string;
  d: DiffInterval;
  padj: number;
  verdict: Verdict;
  mde: number;
}

const mean = (a: readonly number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const f3 = (v: number) => v.toFixed(3);
const ci = (d: DiffInterval) => `${d.diff >= 0 ? "+" : ""}${f3(d.diff)} [${f3(d.lo)}, ${f3(d.hi)}]`;

/** Runs x samples of one column for a method ("base" is the base model's single run). */
function side(name: string, col: string, results: RunResult[], base: Scored): number[][] {
  if (name === "base") return [base.perAttr[col]];
  return results.filter((r) => r.variant === name).map((r) => r.perAttr[col]);
}

/** Evaluates claims on one column; Holm over `family` claims only when `correct`. */
export function evaluateClaims(
  claims: Claim[],
  col: string,
  results: RunResult[],
  base: Scored,
  seeds: number,
  correct: boolean,
): ClaimResult[] {
  const n = base.perAttr[col].length;
  const cluster = promptClusters(n, seeds);
  const have = claims.filter((c) =>
    side(c.a, col, results, base).length > 0 && side(c.b, col, results, base).length > 0
  );
  const ds = have.map((c, k) =>
    diffBootstrap(side(c.a, col, results, base), side(c.b, col, results, base), cluster, new Rng(7).fork(k), {
      iters: 4000,
    })
  );
  const padj = correct ? holm(ds.map((d) => d.p)) : ds.map((d) => d.p);
  return have.map((c, k) => ({
    ...c,
    metric: col,
    d: ds[k],
    padj: padj[k],
    verdict: verdict(c.kind, ds[k], padj[k], { margin: EQUIVALENCE_MARGIN }),
    mde: mde(ds[k].se),
  }));
}

const PLAIN: Record<Verdict, string> = {
  holds: "holds",
  contradicted: "is contradicted",
  inconclusive: "is inconclusive at this power",
};

export async function tasteCompareSections(
  host: Host,
  c: CompareConfig,
  t: TrainConfig,
  variants: { name: string; slug: string; timeOf?: string }[],
  results: RunResult[],
  base: Scored,
  prompts: PromptRow[],
): Promise<Section[]> {
  const S = c.eval.seeds;
  const family = evaluateClaims(PAPER_CLAIMS, "headline", results, base, S, true);
  const extra = evaluateClaims(EXTRA, "headline", results, base, S, false);
  const vsBase = (col: string) =>
    evaluateClaims(
      variants.map((v) => ({ a: v.name, b: "base", kind: ">" as const, text: v.name })),
      col,
      results,
      base,
      S,
      false,
    );
  const dTaste = vsBase("taste"), dGuard = vsBase("guard"), dHead = vsBase("headline");
  const answer = family.map((r) =>
    `${r.text}: ${PLAIN[r.verdict]} (${r.a} - ${r.b} = ${ci(r.d)}, Holm p ${r.padj.toFixed(3)}, detectable ${
      f3(r.mde)
    }).`
  );
  const missing = PAPER_CLAIMS.filter((p) => !family.some((r) => r.text === p.text)).map((p) => p.text);
  const seedsOf = (name: string) => results.filter((r) => r.variant === name);
  const rows: (string | number)[][] = [[
    "base",
    "-",
    f3(mean(base.perAttr.taste)),
    f3(mean(base.perAttr.taste_rate)),
    f3(mean(base.perAttr.guard)),
    f3(mean(base.perAttr.headline)),
    "-",
    "-",
    "-",
    base.seconds !== undefined ? fmtSecs(base.seconds) : "-",
    "-",
  ]];
  const agreement = new Map<string, string>();
  for (const v of variants) {
    const rs = seedsOf(v.name);
    if (!rs.length) continue;
    const aaf = (await Promise.all(
      rs.map((r) => readAafLog(host, `${c.out}/runs/${v.slug}-s${r.seed}/aaf.jsonl`).catch(() => [])),
    )).flat();
    if (aaf.length) agreement.set(v.name, `${(100 * aafAgreement(aaf, 1e9).all.agreement).toFixed(0)}%`);
    const col = (k: string) => f3(mean(rs.map((r) => mean(r.perAttr[k]))));
    const h = dHead.find((x) => x.a === v.name);
    rows.push([
      v.name,
      `${rs.length} (${rs.map((r) => r.steps ?? c.train.steps).join(", ")} updates)`,
      col("taste"),
      col("taste_rate"),
      col("guard"),
      col("headline"),
      h ? ci(h.d) : "-",
      rs.map((r) => f3(mean(r.perAttr.headline))).join(", "),
      mean(rs.map((r) => r.updatesPerSecond)).toFixed(3),
      `${fmtSecs(mean(rs.map((r) => r.trainSeconds)))} / ${fmtSecs(mean(rs.map((r) => r.evalSeconds)))}`,
      agreement.get(v.name) ?? "-",
    ]);
  }
  const setup =
    `Base ${c.base}; ${c.train.steps} updates of ${c.train.batch * t.train.grad_accum} examples per run ` +
    `(equal-wall-clock variants: measured); training seeds ${
      c.seeds.join(", ")
    }; from ${c.train_config}: beta ` +
    `${t.beta}, lr ${t.train.lr}, EMA ${t.train.ema}, prompt dropout ${t.train.prompt_dropout}, reference sampler ` +
    `${t.ref.steps} ${
      samplerName(t.ref.sampler)
    } steps at guidance ${t.ref.guidance}, pool of ${t.pool.size} every ${t.pool.interval} ` +
    `updates. Evaluation: ${prompts.length} prompts (${prompts.filter((p) => p.heldout).length} held-out ` +
    `compositions) x ${S} seeds, ${c.eval.steps} ${
      samplerName(c.eval.sampler)
    } steps, guidance ${c.eval.guidance}; every model on the same ` +
    `prompts and seeds. Headline = taste x guard per sample (docs/DATA.md). Intervals: 95%, bootstrap over ` +
    `training runs (per method) and prompts (jointly, with all their seeds). Verdicts: Holm-corrected over the ` +
    `${family.length} pre-stated claims at alpha 0.05; "~" claims hold when the difference is within ` +
    `+-${EQUIVALENCE_MARGIN} (90% interval). "Detectable": the smallest true difference found with 80% power.`;
  const blocks: Block[] = [
    {
      kind: "text",
      verdict: true,
      text: answer.join("\n") || "No claim could be evaluated yet (missing runs).",
    },
    ...(missing.length
      ? [{ kind: "text" as const, text: `Not evaluated (variant missing): ${missing.join("; ")}.` }]
      : []),
    { kind: "text", text: setup },
    {
      kind: "table",
      header: ["claim (headline)", "difference a - b (95% CI)", "p", "Holm p", "detectable", "verdict"],
      rows: family.map((r) => [r.text, ci(r.d), r.d.p.toFixed(3), r.padj.toFixed(3), f3(r.mde), r.verdict]),
    },
    {
      kind: "table",
      header: ["further comparison (not corrected)", "difference (95% CI)", "p", "detectable", "reading"],
      rows: extra.map((r) => [r.text, ci(r.d), r.d.p.toFixed(3), f3(r.mde), describeDiff(r.d)]),
    },
  ];
  const results_: Block[] = [
    {
      kind: "table",
      header: [
        "method",
        "runs",
        "taste",
        "taste rate",
        "guard",
        "headline",
        "headline - base (95% CI)",
        "headline per seed",
        "updates/s",
        "train / eval time per run",
        "AAF agreement",
      ],
      rows,
    },
    {
      kind: "table",
      header: ["method", "taste - base (95% CI)", "guard - base (95% CI)", "guard reading"],
      rows: dTaste.map((d, i) => [d.a, ci(d.d), ci(dGuard[i].d), describeDiff(dGuard[i].d)]),
    },
    ...guardByAttribute(variants, results, base, S),
    {
      kind: "svg",
      alt: "headline difference to the base",
      svg: barChart(
        "headline - base (95% CI, seed-aware)",
        dHead.map((d) => ({
          name: d.a,
          value: d.d.diff,
          lo: d.d.lo,
          hi: d.d.hi,
        })),
      ),
    },
  ];
  // Training curves of the first seed, and the AAF agreement over training.
  const curves: Record<string, { name: string; points: [number, number][] }[]> = {
    loss: [],
    implicit_acc: [],
    flip_rate: [],
    ref_quality: [],
  };
  const aafRows: (string | number)[][] = [];
  for (const v of variants) {
    const dir = `${c.out}/runs/${v.slug}-s${c.seeds[0]}`;
    const m = await readMetrics(host, `${dir}/metrics.jsonl`) as Record<string, number>[];
    for (const key of Object.keys(curves)) {
      if (m.some((r) => r[key] !== undefined)) {
        curves[key].push({
          name: v.name,
          points: smooth(m.map((r) => [r.step, r[key]] as [number, number]), 3),
        });
      }
    }
    const aaf = await readAafLog(host, `${dir}/aaf.jsonl`).catch(() => []);
    if (aaf.length) {
      const w = aafAgreement(aaf, Math.max(1, Math.ceil(c.train.steps / 4)));
      aafRows.push([
        v.name,
        ...w.windows.map((x) =>
          `${(100 * x.agreement).toFixed(0)}% (${(100 * x.goodRate).toFixed(0)}% good)`
        ),
      ]);
    }
  }
  const training: Block[] = [
    {
      kind: "text",
      text:
        `Training seed ${
          c.seeds[0]
        }, smoothed over 3 logs. Loss: the method's loss. Implicit accuracy: share ` +
        `of examples with z > 0 (the policy prefers the winner over the loser slot as oriented by s). Flip rate: ` +
        `share of reference samples AAF decided to learn from (s != +1). Reference taste: mean taste score of ` +
        `the reference samples the update drew (they come from pool snapshots of the policy).`,
    },
    ...Object.entries(curves).filter(([, s]) => s.length).map(([k, s]) => ({
      kind: "svg" as const,
      alt: k,
      svg: lineChart(k.replace("_", " "), s, { xLabel: "update" }),
    })),
  ];
  if (aafRows.length) {
    training.push({
      kind: "text",
      text:
        `AAF diagnostics: per quarter of training, the share of reference samples AAF called right (learn from ` +
        `a sample with the taste, push away one without), and in brackets the share that had the taste. With AAF ` +
        `off (spin, seppo:aaf=off) every call is "push away", so agreement is the share without the taste.`,
    }, {
      kind: "table",
      header: ["method (seed " + c.seeds[0] + ")", "1st quarter", "2nd", "3rd", "4th"],
      rows: aafRows,
    });
  }
  const sheets: Block[] = [{
    kind: "image",
    src: "base.png",
    alt: "base (first seed of the first 32 prompts)",
  }];
  for (const v of variants) {
    sheets.push({ kind: "image", src: `${v.slug}.png`, alt: `${v.name} (seed ${c.seeds[0]})` });
  }
  return [
    { title: "The paper's claims, answered", blocks },
    { title: "Every method against the base", blocks: results_ },
    { title: "Training and AAF diagnostics", blocks: training },
    { title: "Samples (first eval seed of the first 32 prompts)", blocks: sheets },
  ];
}

/**
 * The guard split into its attributes, each a paired difference to the base, and the shape score on the
 * samples where the base itself drew the preferred look (the same prompts and seeds, paired): a method
 * that only moved samples to the large, centred look, where the base also draws shapes less recognisably,
 * loses shape score without following prompts any worse than the base does there.
 */
export function guardByAttribute(
  variants: { name: string }[],
  results: RunResult[],
  base: Scored,
  seeds: number,
): Block[] {
  const n = base.perAttr.shape.length;
  const cluster = promptClusters(n, seeds);
  const look = base.perAttr.taste_rate.flatMap((t, i) => (t === 1 ? [i] : []));
  const rows: (string | number)[][] = [];
  variants.forEach((v, k) => {
    const runs = (col: string) => side(v.name, col, results, base);
    if (!runs("shape").length) return;
    const d = (col: string, idx: number[] | null, j: number) => {
      const pick = (rs: number[][]) => (idx ? rs.map((r) => idx.map((i) => r[i])) : rs);
      const cl = idx ? idx.map((i) => cluster[i]) : cluster;
      return diffBootstrap(pick(runs(col)), pick([base.perAttr[col]]), cl, new Rng(11).fork(k * 8 + j), {
        iters: 4000,
      });
    };
    rows.push([
      v.name,
      ci(d("background", null, 0)),
      ci(d("color", null, 1)),
      ci(d("shape", null, 2)),
      look.length ? ci(d("shape", look, 3)) : "-",
    ]);
  });
  if (!rows.length) return [];
  return [{
    kind: "text",
    text: `The guard by attribute, each method - base (95% CI, paired). Last column: shape on the ` +
      `${look.length} of ${n} samples where the base drew the preferred look (large and centred), paired on ` +
      `the same prompts and seeds: what is left of a shape change once the shift to that look is taken out.`,
  }, {
    kind: "table",
    header: [
      "method",
      "background",
      "colour",
      "shape",
      `shape where the base has the taste (${look.length})`,
    ],
    rows,
  }];
}
