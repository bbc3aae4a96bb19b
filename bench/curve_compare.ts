// deno task curve-compare --files A.json,B.json[,C.json ...]: paired differences between sampler-curve results
// (bench/sampler_curve.ts --json) made on the same taste prompts and seeds, e.g. one checkpoint at
// several guidance scales or several checkpoints at one: every file's first point against the first
// file's, per taste metric, as the mean and its paired, prompt-clustered 95% interval (lib/eval/paired.ts).
import { defineCli, flag, type FlagValues } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { diffBootstrap, promptClusters } from "../lib/eval/paired.ts";
import { denoHost } from "../lib/host/deno.ts";
import { UsageError } from "../lib/util/errors.ts";
import { TASTE_METRICS } from "../lib/eval/taste_eval.ts";
import { Rng } from "../lib/util/rng.ts";
import { type CurveFile, meanWithDiff } from "./sampler_curve.ts";

/** Markdown: one row per file, each taste metric's mean and its paired difference to the first file. */
export function compareCurves(files: { name: string; curve: CurveFile }[]): string {
  const [ref] = files;
  const rm = ref.curve.points[0]?.metrics;
  if (!rm) throw new Error(`${ref.name}: its first point has no taste metrics (not taste prompts?)`);
  const rows = files.map(({ name, curve }) => {
    for (const k of ["prompts", "seeds"] as const) {
      if (curve[k] !== ref.curve[k]) {
        throw new Error(`${name}: ${k} ${curve[k]} differs from ${ref.name}'s ${ref.curve[k]}: not paired`);
      }
    }
    const p = curve.points[0], m = p?.metrics;
    if (!m) throw new Error(`${name}: its first point has no taste metrics`);
    const cluster = promptClusters(m.guard.length, curve.seeds);
    const cells = TASTE_METRICS.map((k) => {
      const d = diffBootstrap([m[k]], [rm[k]], cluster, new Rng(0).fork(`curve-compare-${k}`));
      return meanWithDiff(m[k], d);
    });
    return `| ${curve.ckpt} | ${curve.guidance} | ${p.sampler}:${p.steps} | ${cells.join(" | ")} |`;
  });
  return [
    `| checkpoint | guidance | sampler | ${TASTE_METRICS.join(" | ")} |`,
    `|---|---:|---|${TASTE_METRICS.map(() => "---|").join("")}`,
    ...rows,
  ].join("\n");
}

export const CLI = defineCli({
  task: "curve-compare",
  purpose: "paired differences between sampler-curve results (--json files) made on the same taste prompts " +
    "and seeds: every file's first point against the first file's, per taste metric, as a markdown table.",
  flags: {
    files: flag.str("sampler-curve JSON files, comma-separated; the first is the reference", {
      required: true,
      arg: "A,B,...",
    }),
  },
  examples: [
    "deno task curve-compare --files docs/results/base-taste/g1/val-checkpoint-4500-g1.json," +
    "docs/results/base-taste/g1/val-checkpoint-5000-g1.json",
  ],
});

async function main(v: FlagValues<typeof CLI.flags>) {
  const names = v.files.split(",").map((x) => x.trim()).filter((x) => x);
  if (names.length < 2) throw new UsageError(`--files: want at least two files, got "${v.files}"`);
  const files = await Promise.all(names.map(async (name) => {
    const text = await Deno.readTextFile(name).catch((e) => {
      throw new UsageError(`--files: ${name}: cannot read it (${e.message})`);
    });
    return { name, curve: JSON.parse(text) as CurveFile };
  }));
  console.log(`paired difference to ${files[0].name} (same prompts and seeds):\n`);
  console.log(compareCurves(files));
}

if (import.meta.main) await runTask(denoHost(), CLI, ({ flags }) => main(flags));
