// deno task eval-t2i --ckpt DIR --prompts FILE [--base DIR] [--seeds N] [--sampler S] [--steps S] [--guidance G]
//   [--batch B] [--out DIR] [--no-images]
// Samples the eval prompts with fixed seeds, scores them and writes eval.json + report.md/html.
// Taste-world prompts (rows with a `taste` field) are scored for taste, guard and headline with paired
// differences against --base (lib/eval/taste_eval.ts); shapes prompts with the shapes scorer.
import { type Sampler, SAMPLERS } from "../lib/diffusion/sampler.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkInput, checkOutDir } from "../lib/cli/paths.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { defaultEvalOut } from "../lib/io/checkpoint.ts";
import { dumpYaml } from "../lib/io/config.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { loadPrompts } from "../lib/data/metadata.ts";
import { evalT2I, IMAGE_EVAL_SAMPLING } from "../lib/eval/eval_image.ts";
import { loadTastePrompts } from "../lib/eval/eval_taste.ts";
import { evalTaste, TASTE_EVAL_SAMPLING, TASTE_METRICS } from "../lib/eval/taste_eval.ts";
import { isTastePrompts } from "../lib/train/compare_taste.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();
const IMAGE = IMAGE_EVAL_SAMPLING, TASTE = TASTE_EVAL_SAMPLING;

export const CLI = defineCli({
  task: "eval-t2i",
  purpose: "text-to-image evaluation: samples every prompt of an eval split with fixed seeds, scores the " +
    "images with the programmatic scorer and reports the mean with a 95% bootstrap interval, per " +
    "attribute, held-out compositions apart, and the win rate against --base on the same prompts and seeds. " +
    "On taste-world prompts: taste, taste rate, guard and headline, each with its paired difference to --base " +
    "(95% interval, prompt-clustered) and the design's minimum detectable effect.",
  flags: {
    ckpt: flag.str("checkpoint folder to evaluate, or a run folder (its latest checkpoint)", {
      required: true,
      arg: "DIR",
    }),
    prompts: flag.str(
      "eval prompts: prompts.jsonl of an eval split (deno task data --split eval), or its folder",
      {
        required: true,
        arg: "FILE",
      },
    ),
    base: flag.str("a checkpoint to compare with on the same prompts and seeds", { arg: "DIR" }),
    seeds: flag.int("seeds per prompt (row seed + k)", { default: 4, min: 1 }),
    sampler: flag.choice(
      SAMPLERS,
      `sampler (docs/SAMPLERS.md); default ${IMAGE.sampler}, on taste prompts ${TASTE.sampler}`,
    ),
    steps: flag.int(`sampling steps; default ${IMAGE.steps}, on taste prompts ${TASTE.steps}`, {
      min: 1,
      max: 1000,
    }),
    guidance: flag.num(
      `classifier-free guidance scale; default ${IMAGE.guidance}, on taste prompts ${TASTE.guidance} ` +
        "(guidance 3 doubles the taste base's taste rate by itself: docs/SAMPLERS.md)",
      { min: 1 },
    ),
    batch: flag.int("images per GPU batch", { default: 32, min: 1 }),
    out: flag.str(
      "report folder (default: beside a run's checkpoint, <run>/eval-checkpoint-N; for another model " +
        "folder runs/eval/<its name>: never inside the model folder)",
      { arg: "DIR" },
    ),
    "no-images": flag.bool("do not write the samples as imagefolders (out/samples, out/base-samples)"),
  },
  examples: [
    "deno task eval-t2i --ckpt runs/demo/seppo/checkpoint-40 --base models/base-shapes-16 " +
    "--prompts data/generated/shapes-eval/prompts.jsonl --seeds 2 --out out/eval-demo",
  ],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => {
    await checkInput(host, f.ckpt, "--ckpt", "folder");
    if (f.base) await checkInput(host, f.base, "--base", "folder");
    const out = await checkOutDir(host, f.out ?? await defaultEvalOut(host, f.ckpt), "--out");
    if (!f.out) console.log(`eval-t2i: writing to ${out} (no --out given)`);
    await Deno.mkdir(out, { recursive: true });
    await writeFileAtomic(host, `${out}/config.yaml`, dumpYaml({ task: "eval-t2i", ...f }));
    const promptsFile = f.prompts.endsWith(".jsonl") ? f.prompts : `${f.prompts}/prompts.jsonl`;
    if (await isTastePrompts(host, promptsFile)) {
      const prompts = await loadTastePrompts(host, promptsFile);
      const ctx = await GpuContext.create(host);
      console.log(`adapter: ${ctx.label}`);
      const r = await evalTaste(ctx, f.ckpt, f.base ?? null, prompts, out, {
        seeds: f.seeds,
        sampler: (f.sampler ?? TASTE.sampler) as Sampler,
        steps: f.steps ?? TASTE.steps,
        guidance: f.guidance ?? TASTE.guidance,
        batch: f.batch,
        adapter: ctx.label,
        log: console.log,
      });
      console.log(`\n${r.n} samples (${r.prompts} prompts x ${r.seeds} seeds)`);
      for (const m of TASTE_METRICS) {
        const d = r.diff?.[m];
        const key = (m === "taste_rate" ? "tasteRate" : m) as "taste";
        console.log(
          `  ${m.padEnd(10)} model ${r.model[key].toFixed(4)}` +
            (d
              ? `  base ${r.baseSummary![key].toFixed(4)}  diff ${d.diff.toFixed(4)} [${d.lo.toFixed(4)}, ${
                d.hi.toFixed(4)
              }]`
              : ""),
        );
      }
      console.log(`report: ${out}/report.md (${r.seconds.total.toFixed(1)} s)`);
      return;
    }
    const prompts = await loadPrompts(host, f.prompts);
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    const s = await evalT2I(ctx, f.ckpt, f.base ?? null, prompts, out, {
      seeds: f.seeds,
      sampler: (f.sampler ?? IMAGE.sampler) as Sampler,
      steps: f.steps ?? IMAGE.steps,
      guidance: f.guidance ?? IMAGE.guidance,
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
