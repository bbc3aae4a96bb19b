// deno task demo [--steps N] [--eval-prompts P] [--eval-seeds K] [--out DIR] [--config FILE]
// The main job on a small default: a SePPO fine-tune of the shipped taste base (models/base-taste-16)
// on preferred winners only, evaluated against the base on the same prompts and seeds, with a report
// that opens with what changed (runs/demo/report.html, report.md, summary.json). Generates the data it
// needs on first use; rerunning resumes. lib/train/demo.ts does the work.
import { parseArgs } from "node:util";
import { GpuContext } from "../lib/gpu/context.ts";
import { loadYamlConfig } from "../lib/io/config.ts";
import { runDemo } from "../lib/train/demo.ts";
import { fmtSecs } from "../lib/train/run.ts";
import { TRAIN_SCHEMA } from "../lib/train/seppo.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "configs/seppo-taste.yaml" },
    steps: { type: "string" },
    "eval-prompts": { type: "string", default: "64" },
    "eval-seeds": { type: "string", default: "2" },
    "eval-steps": { type: "string", default: "20" },
    out: { type: "string", default: "runs/demo" },
  },
});
const positive = (flag: string, s: string) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`flag --${flag}: expected a positive integer, got "${s}"`);
  }
  return n;
};
const config = loadYamlConfig(v.config!, TRAIN_SCHEMA);
if (!await Deno.stat(`${config.base}/model_index.json`).then(() => true, () => false)) {
  throw new Error(
    `${config.base}: the base model is missing (it ships with the repository; see README, "Base models")`,
  );
}
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
const s = await runDemo(ctx, {
  config,
  configPath: v.config!,
  steps: v.steps ? positive("steps", v.steps) : config.train.steps,
  out: v.out!,
  evalPrompts: positive("eval-prompts", v["eval-prompts"]!),
  evalSeeds: positive("eval-seeds", v["eval-seeds"]!),
  evalSteps: positive("eval-steps", v["eval-steps"]!),
  evalBatch: 32,
  adapter: ctx.label,
});
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
console.log(`report: ${v.out}/report.html (and report.md, summary.json); total ${fmtSecs(s.seconds)}`);
