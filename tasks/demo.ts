// deno task demo [--steps N] [--eval-prompts P] [--eval-seeds K] [--out DIR] [--config FILE]
// The main job on a small default: a SePPO fine-tune of the shipped taste base (models/base-taste-16)
// on preferred winners only, evaluated against the base on the same prompts and seeds, with a report
// that opens with what changed (runs/demo/report.html, report.md, summary.json). Generates the data it
// needs on first use; rerunning resumes. lib/train/demo.ts does the work.
import { configFlags } from "../lib/cli/config_flags.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { rerunToResume, startTask } from "../lib/cli/main.ts";
import { checkOutDir } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { DEMO_EVAL_SAMPLER, DEMO_EVAL_STEPS, runDemo } from "../lib/train/demo.ts";
import { type Sampler, SAMPLERS } from "../lib/diffusion/sampler.ts";
import { fmtSecs } from "../lib/train/run.ts";
import { TRAIN_SCHEMA } from "../lib/train/seppo.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

const { flags: v, config } = startTask(
  host,
  defineCli({
    task: "demo",
    purpose: "the main job: a SePPO fine-tune of the shipped taste base on preferred winners only, an " +
      "evaluation against the base on the same prompts and seeds (taste and guard scores, paired differences " +
      "with 95% intervals), and a report (report.html, report.md, summary.json). Generates the data it needs " +
      "on first use; running it again resumes the fine-tune.",
    flags: {
      steps: flag.int("SePPO updates (default: the config's train.steps)", { min: 1 }),
      "eval-prompts": flag.int("eval prompts (the first rows of the taste eval split)", {
        default: 64,
        min: 1,
      }),
      "eval-seeds": flag.int("seeds per eval prompt", { default: 2, min: 1 }),
      "eval-sampler": flag.choice(SAMPLERS, "the eval sampler (docs/SAMPLERS.md)", {
        default: DEMO_EVAL_SAMPLER,
      }),
      "eval-steps": flag.int("steps of the eval sampler", { default: DEMO_EVAL_STEPS, min: 1, max: 1000 }),
      overwrite: flag.bool(
        "move an earlier run in <out>/seppo aside (to <out>/seppo.old-<time>) and start afresh",
      ),
      out: flag.str("output folder (the run in <out>/seppo, the report in <out>)", {
        default: "runs/demo",
        arg: "DIR",
      }),
    },
    config: configFlags(host, TRAIN_SCHEMA, { flags: false, file: "configs/seppo-taste.yaml" }),
    notes: [
      "The --config file sets the fine-tune; the demo then sets train.steps, out and log.ckpt_every.",
      "The eval prompts and seeds are fixed (data/generated/taste-eval, generated with seed 3).",
      "Running it again resumes <out>/seppo; after changing the config, pass --overwrite (the old run is kept aside).",
    ],
    examples: ["deno task demo --steps 80 --out runs/demo-80"],
  }),
);
/** The --config FILE given on the command line (for the report's "What ran"). */
function configPath(argv: readonly string[]): string | undefined {
  const i = argv.findIndex((a) => a === "--config" || a.startsWith("--config="));
  if (i < 0) return undefined;
  return argv[i].includes("=") ? argv[i].slice("--config=".length) : argv[i + 1];
}
const out = await checkOutDir(host, v.out, "--out");
if (!await Deno.stat(`${config.base}/model_index.json`).then(() => true, () => false)) {
  throw new Error(
    `${config.base}: the base model is missing (it ships with the repository; see README, "Base models")`,
  );
}
const ctx = await GpuContext.create(host);
console.log(`adapter: ${ctx.label}`);
const s = await runDemo(ctx, {
  config,
  configPath: configPath(Deno.args) ?? "configs/seppo-taste.yaml",
  steps: v.steps ?? config.train.steps,
  out,
  evalPrompts: v["eval-prompts"],
  evalSeeds: v["eval-seeds"],
  evalSampler: v["eval-sampler"] as Sampler,
  evalSteps: v["eval-steps"],
  evalBatch: 32,
  adapter: ctx.label,
  overwrite: v.overwrite,
}).catch(rerunToResume);
const f = (x: { base: number; seppo: number; diff: number; ci: [number, number] }) =>
  `base ${x.base.toFixed(4)}  seppo ${x.seppo.toFixed(4)}  diff ${x.diff >= 0 ? "+" : ""}${
    x.diff.toFixed(4)
  } ` +
  `[${x.ci[0].toFixed(4)}, ${x.ci[1].toFixed(4)}]`;
console.log(`\n${s.verdict}\n`);
console.log(`taste      ${f(s.taste)}`);
console.log(`taste rate ${f(s.taste_rate)}`);
console.log(`guard      ${f(s.guard)}`);
console.log(`headline   ${f(s.headline)}`);
console.log(`report: ${out}/report.html (and report.md, summary.json); total ${fmtSecs(s.seconds)}`);
