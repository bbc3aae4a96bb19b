// deno task demo [--steps N] [--eval-seeds K] [--out DIR]
// The main job on a small default: from the shipped base model, a short SePPO fine-tune, an
// evaluation against the base on the same prompts and seeds, and a report (runs/demo/report.html).
// Generates the synthetic data it needs on first use. Rerunning resumes the fine-tune.
import { samplerName } from "../lib/diffusion/sampler.ts";
import { parseArgs } from "node:util";
import { DEFAULTS, generate } from "../data/generate.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { loadPrompts } from "../lib/data/metadata.ts";
import { evalSections, evalT2I } from "../lib/eval/eval_image.ts";
import { type Section, writeReport } from "../lib/eval/report.ts";
import { lineChart, smooth } from "../lib/eval/svg.ts";
import { latestCheckpoint } from "../lib/io/checkpoint.ts";
import { loadYamlConfig } from "../lib/io/config.ts";
import { fmtSecs } from "../lib/train/run.ts";
import { train, TRAIN_SCHEMA } from "../lib/train/seppo.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "40" },
    "eval-seeds": { type: "string", default: "1" },
    out: { type: "string", default: "runs/demo" },
    config: { type: "string", default: "configs/seppo-shapes.yaml" },
  },
});
const positive = (flag: string, s: string) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`flag --${flag}: expected a positive integer, got "${s}"`);
  }
  return n;
};
const steps = positive("steps", v.steps!), evalSeeds = positive("eval-seeds", v["eval-seeds"]!);
const out = v.out!;
const t0 = performance.now();
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

const config = loadYamlConfig(v.config!, TRAIN_SCHEMA);
config.train.steps = steps;
config.out = `${out}/seppo`;
config.log.ckpt_every = Math.max(1, Math.ceil(steps / 4));
if (!await exists(`${config.base}/model_index.json`)) {
  throw new Error(
    `${config.base}: the base model is missing (it ships with the repository; see README, "Base model")`,
  );
}
const evalPrompts = "data/generated/shapes-eval/prompts.jsonl";
if (!await exists(`${config.data.prefs}/metadata.jsonl`)) {
  console.log(`demo: generating preference data (winners + paired losers) in ${config.data.prefs}`);
  await generate({
    ...DEFAULTS,
    world: "shapes",
    split: "prefs",
    count: 2000,
    size: 16,
    seed: 2,
    pairs: true,
    out: config.data.prefs,
  });
}
if (!await exists(evalPrompts)) {
  console.log("demo: generating the eval prompts");
  await generate({
    ...DEFAULTS,
    world: "shapes",
    split: "eval",
    count: 64,
    size: 16,
    seed: 3,
    out: "data/generated/shapes-eval",
  });
}

const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
console.log(`demo: SePPO fine-tune of ${config.base}, ${steps} updates of batch ${config.train.batch}`);
const tr = await train(ctx, config, { resume: true });
const ck = await latestCheckpoint(config.out);
if (!ck) throw new Error(`${config.out}: no checkpoint after training`);
const tTrain = (performance.now() - t0) / 1000;
console.log(`demo: evaluating ${ck.dir} against the base (${evalSeeds} seed(s) per prompt)`);
const summary = await evalT2I(ctx, ck.dir, config.base, await loadPrompts(evalPrompts), `${out}/eval`, {
  seeds: evalSeeds,
  steps: 20,
  guidance: config.log.sample_guidance,
  batch: 32,
  saveImages: true,
  log: console.log,
});
const metrics = (await Deno.readTextFile(`${config.out}/metrics.jsonl`)).trim().split("\n").map((l) =>
  JSON.parse(l)
);
const curve = (
  key: string,
) => [{ name: key, points: smooth(metrics.map((m) => [m.step, m[key]] as [number, number]), 3) }];
const seconds = (performance.now() - t0) / 1000;
const sections: Section[] = [
  {
    title: "What ran",
    blocks: [{
      kind: "text",
      text:
        `Adapter: ${ctx.label}. SePPO (reference ~ uniform over the checkpoint pool, AAF sign, beta ${config.beta}) ` +
        `from ${config.base}: ${tr.steps} updates of batch ${config.train.batch}, reference samples with ${config.ref.steps} ${
          samplerName(config.ref.sampler)
        } ` +
        `steps; ${
          tr.updatesPerSecond.toFixed(3)
        } updates/s with reference sampling included. Wall time: training ` +
        `${fmtSecs(tTrain)}, total ${
          fmtSecs(seconds)
        }. A short demo run: the compare task (deno task compare) trains all ` +
        `methods over several seeds.`,
    }],
  },
  ...evalSections(summary, true).map((s) => ({
    ...s,
    blocks: s.blocks.map((b) => (b.kind === "image" ? { ...b, src: `eval/${b.src}` } : b)),
  })),
  {
    title: "Training curves",
    blocks: [
      { kind: "svg", alt: "loss", svg: lineChart("loss", curve("loss"), { xLabel: "update" }) },
      {
        kind: "svg",
        alt: "implicit accuracy",
        svg: lineChart("implicit accuracy", curve("implicit_acc"), { xLabel: "update" }),
      },
      {
        kind: "svg",
        alt: "AAF flip rate",
        svg: lineChart("AAF flip rate", curve("flip_rate"), { xLabel: "update" }),
      },
    ],
  },
];
await writeReport(out, "SePPO demo", sections);
const f = (i: { mean: number; lo: number; hi: number }) =>
  `${i.mean.toFixed(4)} [${i.lo.toFixed(4)}, ${i.hi.toFixed(4)}]`;
console.log(
  `\nbase   ${f(summary.baseMean!)}\nseppo  ${f(summary.mean)}\nwin rate vs base ${
    (100 * summary.winRateVsBase!).toFixed(1)
  }%`,
);
console.log(`report: ${out}/report.html (and report.md); total ${fmtSecs(seconds)}`);
