// deno task eval-t2v: samples a moving-shapes eval split from a text-to-video checkpoint with fixed
// seeds, scores the clips and writes a report (logic in lib/eval/eval_video.ts).
//   deno task eval-t2v --ckpt runs/pretrain-moving-shapes/checkpoint-2000 \
//     --prompts data/generated/moving-shapes-eval-16 --seeds 2 --out out/eval-t2v [--base DIR]
//     [--sampler ddim] [--steps 20] [--guidance 3] [--batch 8] [--frames F] [--limit N]
import { DEFAULT_SAMPLER, type Sampler, SAMPLERS } from "../lib/diffusion/sampler.ts";
import { defineCli, flag, parseCli } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkInput, checkOutDir } from "../lib/cli/paths.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { dumpYaml } from "../lib/io/config.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { evalVideo, type EvalVideoOptions, VIDEO_METRICS } from "../lib/eval/eval_video.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "eval-t2v",
  purpose: "text-to-video evaluation: samples a moving-shapes eval split with fixed seeds, scores every " +
    "clip (frame scores, motion, VBench-style temporal metrics), writes GIFs and a report, with per-metric " +
    "win rates against --base.",
  flags: {
    ckpt: flag.str("checkpoint to evaluate (a text-to-video folder; an image one runs frame by frame)", {
      required: true,
      arg: "DIR",
    }),
    prompts: flag.str("prompts.jsonl of a moving-shapes eval split, or its folder", {
      required: true,
      arg: "FILE",
    }),
    seeds: flag.int("seeds per prompt (row seed + k)", { required: true, min: 1 }),
    out: flag.str("report folder", { required: true, arg: "DIR" }),
    base: flag.str("a checkpoint to compare with on the same prompts and seeds", { arg: "DIR" }),
    sampler: flag.choice(SAMPLERS, "sampler (docs/SAMPLERS.md)", { default: DEFAULT_SAMPLER }),
    steps: flag.int("sampling steps", { default: 20, min: 1, max: 1000 }),
    guidance: flag.num("classifier-free guidance scale", { default: 3, min: 1 }),
    batch: flag.int("clips per GPU batch", { default: 8, min: 1 }),
    frames: flag.int("clip length (default: the checkpoint's num_frames)", { min: 1 }),
    limit: flag.int("only the first N prompts (default: all)", { min: 1 }),
    "bootstrap-seed": flag.int("seed of the bootstrap resampling", { default: 0, min: 0 }),
  },
  examples: [
    "deno task eval-t2v --ckpt models/base-moving-shapes-16 --base models/base-shapes-16 " +
    "--prompts data/generated/moving-shapes-eval/prompts.jsonl --seeds 1 --limit 8 --out out/eval-t2v",
  ],
});

/** The evaluation options of a command line (throws UsageError). */
export function parse(argv: string[]): EvalVideoOptions {
  const p = parseCli(CLI, argv);
  if (p === "help") throw new Error("parse: --help is handled by runTask");
  const f = p.flags;
  return {
    ckpt: f.ckpt,
    base: f.base,
    prompts: f.prompts,
    seeds: f.seeds,
    out: f.out,
    sampler: f.sampler as Sampler,
    steps: f.steps,
    guidance: f.guidance,
    batch: f.batch,
    frames: f.frames,
    limit: f.limit,
    bootstrapSeed: f["bootstrap-seed"],
  };
}

if (import.meta.main) {
  await runTask(host, CLI, async () => {
    const o = parse(Deno.args);
    await checkInput(host, o.ckpt, "--ckpt", "folder");
    if (o.base) await checkInput(host, o.base, "--base", "folder");
    await checkInput(host, o.prompts, "--prompts");
    await checkOutDir(host, o.out, "--out");
    await Deno.mkdir(o.out, { recursive: true });
    await writeFileAtomic(host, `${o.out}/config.yaml`, dumpYaml({ task: "eval-t2v", ...o }));
    const ctx = await GpuContext.create(host);
    console.error(`adapter: ${ctx.label}\noptions: ${JSON.stringify(o)}`);
    const r = await evalVideo(ctx, { ...o, note: `Adapter: ${ctx.label}.` });
    const f = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(3));
    console.log(`| metric | model | 95% CI |${r.base ? " base | win rate |" : ""}`);
    console.log(`|---|---|---|${r.base ? "---|---|" : ""}`);
    for (const m of VIDEO_METRICS) {
      const s = r.model.summary[m];
      if (!s) continue;
      const extra = r.base ? ` ${f(r.base.summary[m]?.mean)} | ${f(r.winRates?.[m]?.mean)} |` : "";
      console.log(`| ${m} | ${f(s.mean)} | [${f(s.lo)}, ${f(s.hi)}] |${extra}`);
    }
    console.log(`wrote ${o.out}/report.md, report.html, summary.json`);
  });
}
