// The main job on a small default (deno task demo): fine-tune the shipped taste base with SePPO on
// preferred winners only, evaluate it against the base on fixed eval prompts and seeds, and write a
// report that opens with what changed and by how much (runs/demo/report.html, summary.json).
// Generates the data it needs on first use; rerunning resumes the fine-tune.
import { type Sampler, samplerName } from "../diffusion/sampler.ts";

/** The demo's eval sampler and steps: the taste world's (TASTE_EVAL_SAMPLING, docs/SAMPLERS.md). */
export const DEMO_EVAL_SAMPLER: Sampler = TASTE_EVAL_SAMPLING.sampler;
export const DEMO_EVAL_STEPS = TASTE_EVAL_SAMPLING.steps;
import { generate } from "../../data/generate.ts";
import { DEFAULTS } from "../../data/generate.ts";
import type { GpuContext } from "../gpu/context.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { latestCheckpoint } from "../io/checkpoint.ts";
import { dumpYaml } from "../io/config.ts";
import { loadTastePrompts } from "../eval/eval_taste.ts";
import { type Section, writeReport } from "../eval/report.ts";
import { lineChart, smooth } from "../eval/svg.ts";
import {
  evalTaste,
  TASTE_EVAL_SAMPLING,
  type TasteEvalResult,
  tasteJudge,
  tasteSections,
} from "../eval/taste_eval.ts";
import { aafAgreement, readAafLog } from "./aaf_log.ts";
import { fmtSecs, readMetrics } from "./run.ts";
import { train, type TrainConfig } from "./seppo.ts";
import type { Host } from "../host/host.ts";

export interface DemoOptions {
  /** The SePPO config (configs/seppo-taste.yaml), already loaded; steps/out are set from here. */
  config: TrainConfig;
  configPath: string;
  steps: number;
  out: string;
  /** Eval prompts (the first `evalPrompts` rows of the eval split) and seeds per prompt. */
  evalPrompts: number;
  evalSeeds: number;
  /** The eval sampler and its steps (DEMO_EVAL_SAMPLER: as good as 50 DDIM steps on the taste base). */
  evalSampler?: Sampler;
  evalSteps: number;
  evalBatch: number;
  adapter: string;
  /** Eval prompts folder (default DEMO_DATA.eval.dir); generated when missing. */
  evalDir?: string;
  /** Move an earlier demo run in <out>/seppo aside (DIR.old-<time>) and start afresh. */
  overwrite?: boolean;
  /** Sampling progress bars (default true). */
  progress?: boolean;
  log?: (s: string) => void;
}

/** Where the demo's data lives and how it is made (fixed before any tuning: docs/DATA.md). */
export const DEMO_DATA = {
  prefs: { dir: "data/generated/taste-prefs", count: 2000, seed: 2 },
  eval: { dir: "data/generated/taste-eval", count: 128, seed: 3 },
};

/** What summary.json holds (the fields first). */
export interface DemoSummary {
  taste: { base: number; seppo: number; diff: number; ci: [number, number] };
  guard: { base: number; seppo: number; diff: number; ci: [number, number] };
  headline: { base: number; seppo: number; diff: number; ci: [number, number] };
  taste_rate: { base: number; seppo: number; diff: number; ci: [number, number] };
  seconds: number;
  seconds_by_part: { data: number; train: number; eval: number };
  samples: number;
  prompts: number;
  seeds: number;
  updates: number;
  adapter: string;
  checkpoint: string;
  verdict: string;
}

const exists = (host: Host, p: string) => host.fs.stat(p).then(() => true, () => false);

/** Generates the preference data and eval prompts when missing; returns seconds spent. */
export async function ensureDemoData(
  host: Host,
  log: (s: string) => void,
  dirs: { prefs: string; eval: string },
): Promise<number> {
  const t0 = performance.now();
  const p = { ...DEMO_DATA.prefs, dir: dirs.prefs }, e = { ...DEMO_DATA.eval, dir: dirs.eval };
  if (!await exists(host, `${p.dir}/metadata.jsonl`)) {
    log(`demo: generating ${p.count} preference pairs (preferred winners, non-preferred losers) in ${p.dir}`);
    await generate(host, {
      ...DEFAULTS,
      world: "taste",
      split: "prefs",
      count: p.count,
      size: 16,
      seed: p.seed,
      pairs: true,
      out: p.dir,
      progress: false,
    });
  }
  if (!await exists(host, `${e.dir}/prompts.jsonl`)) {
    log(`demo: generating ${e.count} eval prompts in ${e.dir}`);
    await generate(host, {
      ...DEFAULTS,
      world: "taste",
      split: "eval",
      count: e.count,
      size: 16,
      seed: e.seed,
      out: e.dir,
    });
  }
  return (performance.now() - t0) / 1000;
}

async function jsonl(host: Host, path: string): Promise<Record<string, number>[]> {
  return await readMetrics(host, path) as Record<string, number>[]; // a partial last line is dropped, said
}

export async function runDemo(ctx: GpuContext, o: DemoOptions): Promise<DemoSummary> {
  const say = o.log ?? console.log;
  const t0 = performance.now();
  const evalDir = o.evalDir ?? DEMO_DATA.eval.dir;
  const dataSeconds = await ensureDemoData(ctx.host, say, { prefs: o.config.data.prefs, eval: evalDir });
  const c: TrainConfig = structuredClone(o.config);
  c.train.steps = o.steps;
  c.out = `${o.out}/seppo`;
  c.log.ckpt_every = Math.max(1, Math.ceil(o.steps / 4));
  await ctx.host.fs.mkdir(o.out, { recursive: true });
  const yaml = dumpYaml(c);
  await writeFileAtomic(ctx.host, `${o.out}/config.yaml`, yaml);
  say(
    `demo: SePPO fine-tune of ${c.base}, ${o.steps} updates of ${
      c.train.batch * c.train.grad_accum
    } examples`,
  );
  const tTrain = performance.now();
  const tr = await train(ctx, c, {
    resume: !o.overwrite,
    overwrite: o.overwrite,
    configYaml: yaml,
    judge: tasteJudge(c.data.size),
    log: say,
    quiet: o.progress === false,
  });
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const ck = await latestCheckpoint(ctx.host, c.out);
  if (!ck) throw new Error(`${c.out}: no checkpoint after training`);
  const prompts = (await loadTastePrompts(ctx.host, evalDir)).slice(0, o.evalPrompts);
  say(`demo: evaluating ${ck.dir} against the base on ${prompts.length} prompts x ${o.evalSeeds} seeds`);
  const tEval = performance.now();
  const r = await evalTaste(ctx, ck.dir, c.base, prompts, `${o.out}/eval`, {
    seeds: o.evalSeeds,
    sampler: o.evalSampler ?? DEMO_EVAL_SAMPLER,
    steps: o.evalSteps,
    guidance: c.log.sample_guidance,
    batch: o.evalBatch,
    label: "SePPO",
    adapter: o.adapter,
    log: say,
    progress: o.progress,
  });
  const evalSeconds = (performance.now() - tEval) / 1000;
  const seconds = (performance.now() - t0) / 1000;
  const pick = (m: "taste" | "guard" | "headline" | "taste_rate") => {
    const d = r.diff![m];
    return { base: d.b, seppo: d.a, diff: d.diff, ci: [d.lo, d.hi] as [number, number] };
  };
  const summary: DemoSummary = {
    taste: pick("taste"),
    guard: pick("guard"),
    headline: pick("headline"),
    taste_rate: pick("taste_rate"),
    seconds,
    seconds_by_part: { data: dataSeconds, train: trainSeconds, eval: evalSeconds },
    samples: r.n,
    prompts: r.prompts,
    seeds: r.seeds,
    updates: tr.steps,
    adapter: o.adapter,
    checkpoint: ck.dir,
    verdict: "",
  };
  const sections = await demoSections(ctx.host, o, c, r, summary, tr.updatesPerSecond);
  summary.verdict = (sections[0].blocks[0] as { text: string }).text;
  await writeReport(ctx.host, o.out, "SePPO demo: aligning the taste base with its own samples", sections);
  await writeJsonAtomic(ctx.host, `${o.out}/summary.json`, summary);
  return summary;
}

async function demoSections(
  host: Host,
  o: DemoOptions,
  c: TrainConfig,
  r: TasteEvalResult,
  s: DemoSummary,
  updatesPerSecond: number,
): Promise<Section[]> {
  const pairs = [];
  for (let i = 0; i < r.prompts; i++) {
    const id = String(i).padStart(3, "0");
    pairs.push({ left: `eval/pairs/${id}-base.png`, right: `eval/pairs/${id}-model.png`, caption: "" });
  }
  const items = JSON.parse(await host.fs.readTextFile(`${o.out}/eval/eval.json`)).items as { text: string }[];
  pairs.forEach((p, i) => p.caption = items[i * r.seeds].text);
  const sections = tasteSections(r, pairs, `Sampled on ${o.adapter}.`);
  const metrics = await jsonl(host, `${c.out}/metrics.jsonl`);
  const curve = (key: string) => [{
    name: key,
    points: smooth(metrics.map((m) => [m.step, m[key]] as [number, number]), 3),
  }];
  const aaf = await readAafLog(host, `${c.out}/aaf.jsonl`).catch(() => []);
  const window = Math.max(1, Math.ceil(s.updates / 4));
  const agree = aaf.length ? aafAgreement(aaf, window) : null;
  sections.push({
    title: "Training",
    blocks: [
      {
        kind: "text",
        text: `${s.updates} updates of ${c.train.batch * c.train.grad_accum} preferred winners each, at ` +
          `${
            updatesPerSecond.toFixed(3)
          } updates/s with reference sampling included. Curves are smoothed over 3 logs.\n` +
          `Loss: the SePPO loss -log sigmoid(-(beta/2)(D_w - s D_r)), lower is better. ` +
          `Implicit accuracy: share of examples where the policy already prefers the winner over the reference ` +
          `sample as AAF orients it (z > 0). AAF flip rate: share of reference samples that AAF decided to learn ` +
          `from (s != +1) because the reference model denoises the winner better than the policy does.`,
      },
      {
        kind: "svg",
        alt: "loss",
        svg: lineChart("SePPO loss", curve("loss"), { xLabel: "update", yLabel: "loss" }),
      },
      {
        kind: "svg",
        alt: "implicit accuracy",
        svg: lineChart("implicit accuracy (z > 0)", curve("implicit_acc"), {
          xLabel: "update",
          yLabel: "share",
        }),
      },
      {
        kind: "svg",
        alt: "AAF flip rate",
        svg: lineChart("AAF flip rate (s != +1)", curve("flip_rate"), { xLabel: "update", yLabel: "share" }),
      },
      {
        kind: "svg",
        alt: "reference sample taste",
        svg: lineChart("taste score of the reference samples", curve("ref_quality"), {
          xLabel: "update",
          yLabel: "taste",
        }),
      },
    ],
  });
  if (agree) {
    const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
    sections.push({
      title: "AAF diagnostics: did the flipper call each reference sample right?",
      blocks: [
        {
          kind: "text",
          text:
            `Every reference sample was scored for taste. AAF calls it a loser (s = +1: push away) or a ` +
            `sample to learn from (s = -1); the call is right when a sample without the taste is pushed away or ` +
            `one with the taste is learned from. Over the run: ${pct(agree.all.agreement)} right on ` +
            `${agree.all.n} samples; AAF learned from ${pct(agree.all.learnRate)} of them, of which ` +
            `${agree.all.counts.learnGood} had the taste; ${
              pct(agree.all.goodRate)
            } of all reference samples ` +
            `had it. (With AAF off every call is "push away": agreement would be ${
              pct(1 - agree.all.goodRate)
            }.)`,
        },
        {
          kind: "table",
          header: ["updates", "samples", "agreement", "learned from", "had the taste"],
          rows: agree.windows.map((
            w,
          ) => [`${w.from}-${w.to}`, w.n, pct(w.agreement), pct(w.learnRate), pct(w.goodRate)]),
        },
      ],
    });
  }
  sections.push({
    title: "What ran",
    blocks: [
      {
        kind: "text",
        text:
          `Adapter: ${o.adapter}. From ${o.configPath} (effective config below and in config.yaml): method ` +
          `${c.method}, reference ~ ${c.ref.strategy} over a pool of ${c.pool.size} snapshots taken every ` +
          `${c.pool.interval} updates, AAF ${c.aaf}, beta ${c.beta}, lr ${c.train.lr} (warmup ${c.train.warmup}), ` +
          `EMA ${c.train.ema}, prompt dropout ${c.train.prompt_dropout}, reference sampler ${c.ref.steps} ${
            samplerName(c.ref.sampler)
          } ` +
          `steps at guidance ${c.ref.guidance}. Eval: ${r.prompts} prompts x ${r.seeds} seeds, ${o.evalSteps} ${
            samplerName(o.evalSampler ?? DEMO_EVAL_SAMPLER)
          } ` +
          `steps at guidance ${c.log.sample_guidance}. Wall time: data ${fmtSecs(s.seconds_by_part.data)}, ` +
          `training ${fmtSecs(s.seconds_by_part.train)}, evaluation ${
            fmtSecs(s.seconds_by_part.eval)
          }, total ` +
          `${fmtSecs(s.seconds)}. The method: docs/METHOD.md; the data and scores: docs/DATA.md.`,
      },
      { kind: "table", header: ["effective config"], rows: dumpYaml(c).trim().split("\n").map((l) => [l]) },
    ],
  });
  return sections;
}
