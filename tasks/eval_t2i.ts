// deno task eval-t2i --ckpt DIR --prompts FILE [--base DIR] [--seeds N] [--steps S] [--guidance G]
//   [--batch B] [--out DIR] [--no-images]
// Samples the eval prompts with fixed seeds, scores them and writes eval.json + report.md/html.
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkInput, checkOutDir } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { loadPrompts } from "../lib/data/metadata.ts";
import { evalT2I } from "../lib/eval/eval_image.ts";

export const CLI = defineCli({
  task: "eval-t2i",
  purpose: "text-to-image evaluation: samples every prompt of an eval split with fixed seeds, scores the " +
    "images with the programmatic scorer and reports the mean with a 95% bootstrap interval, per " +
    "attribute, held-out compositions apart, and the win rate against --base on the same prompts and seeds.",
  flags: {
    ckpt: flag.str("checkpoint folder to evaluate", { required: true, arg: "DIR" }),
    prompts: flag.str(
      "eval prompts: prompts.jsonl of an eval split (deno task data --split eval), or its folder",
      {
        required: true,
        arg: "FILE",
      },
    ),
    base: flag.str("a checkpoint to compare with on the same prompts and seeds", { arg: "DIR" }),
    seeds: flag.int("seeds per prompt (row seed + k)", { default: 4, min: 1 }),
    steps: flag.int("DDIM steps", { default: 20, min: 1, max: 1000 }),
    guidance: flag.num("classifier-free guidance scale", { default: 3, min: 1 }),
    batch: flag.int("images per GPU batch", { default: 32, min: 1 }),
    out: flag.str("report folder (default: <ckpt>/eval)", { arg: "DIR" }),
    "no-images": flag.bool("do not write the samples as imagefolders (out/samples, out/base-samples)"),
  },
  examples: [
    "deno task eval-t2i --ckpt runs/demo/seppo/checkpoint-40 --base models/base-shapes-16 " +
    "--prompts data/generated/shapes-eval/prompts.jsonl --seeds 2 --out out/eval-demo",
  ],
});

if (import.meta.main) {
  await runTask(CLI, async ({ flags: f }) => {
    await checkInput(f.ckpt, "--ckpt", "folder");
    if (f.base) await checkInput(f.base, "--base", "folder");
    const out = await checkOutDir(f.out ?? `${f.ckpt}/eval`, "--out");
    const prompts = await loadPrompts(f.prompts);
    const ctx = await GpuContext.create();
    console.log(`adapter: ${ctx.label}`);
    const s = await evalT2I(ctx, f.ckpt, f.base ?? null, prompts, out, {
      seeds: f.seeds,
      steps: f.steps,
      guidance: f.guidance,
      batch: f.batch,
      saveImages: !f["no-images"],
      log: console.log,
    });
    const fmt = (i: { mean: number; lo: number; hi: number }) =>
      `${i.mean.toFixed(4)} [${i.lo.toFixed(4)}, ${i.hi.toFixed(4)}]`;
    console.log(`\nmean score ${fmt(s.mean)} over ${s.n} samples`);
    for (const [a, i] of Object.entries(s.perAttr)) console.log(`  ${a.padEnd(11)} ${fmt(i)}`);
    if (s.baseMean) {
      console.log(`base mean ${fmt(s.baseMean)}; win rate vs base ${(100 * s.winRateVsBase!).toFixed(1)}%`);
    }
    console.log(`report: ${out}/report.md (${s.seconds.toFixed(1)} s)`);
  });
}
