// deno task eval-t2v: samples a moving-shapes eval split from a text-to-video checkpoint with fixed
// seeds, scores the clips and writes a report (logic in lib/eval/eval_video.ts).
//   deno task eval-t2v --ckpt runs/pretrain-moving-shapes/checkpoint-2000 \
//     --prompts data/generated/moving-shapes-eval-16 --seeds 2 --out out/eval-t2v [--base DIR]
//     [--sampler ddim] [--steps 20] [--guidance 3] [--batch 8] [--frames F] [--limit N]

import { parseArgs } from "node:util";
import { GpuContext } from "../lib/gpu/context.ts";
import { evalVideo, type EvalVideoOptions, VIDEO_METRICS } from "../lib/eval/eval_video.ts";
import { parseSampler } from "../lib/diffusion/sampler.ts";

const USAGE = `usage: deno task eval-t2v --ckpt DIR --prompts FILE|DIR --seeds N --out DIR
  [--base DIR] [--sampler ddim|dpmsolver++|euler] [--steps S] [--guidance G] [--batch B] [--frames F]
  [--limit N] [--bootstrap-seed S]`;

function num(flag: string, v: string | undefined, ok: (x: number) => boolean): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !ok(x)) {
    throw new Error(`--${flag}: bad value '${v}'\n${USAGE}`);
  }
  return x;
}

export function parse(argv: string[]): EvalVideoOptions {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      ckpt: { type: "string" },
      base: { type: "string" },
      prompts: { type: "string" },
      seeds: { type: "string" },
      out: { type: "string" },
      sampler: { type: "string" },
      steps: { type: "string" },
      guidance: { type: "string" },
      batch: { type: "string" },
      frames: { type: "string" },
      limit: { type: "string" },
      "bootstrap-seed": { type: "string" },
    },
  });
  for (const k of ["ckpt", "prompts", "seeds", "out"] as const) {
    if (!v[k]) throw new Error(`--${k} is required\n${USAGE}`);
  }
  const pos = (x: number) => Number.isInteger(x) && x > 0;
  return {
    ckpt: v.ckpt!,
    base: v.base,
    prompts: v.prompts!,
    seeds: num("seeds", v.seeds, pos)!,
    out: v.out!,
    sampler: v.sampler === undefined ? undefined : parseSampler(v.sampler),
    steps: num("steps", v.steps, pos),
    guidance: num("guidance", v.guidance, (x) => x >= 1),
    batch: num("batch", v.batch, pos),
    frames: num("frames", v.frames, pos),
    limit: num("limit", v.limit, pos),
    bootstrapSeed: num("bootstrap-seed", v["bootstrap-seed"], (x) => Number.isInteger(x) && x >= 0),
  };
}

if (import.meta.main) {
  try {
    const o = parse(Deno.args);
    const ctx = await GpuContext.create();
    const adapter = `${ctx.label}`;
    console.error(`adapter: ${adapter}\noptions: ${JSON.stringify(o)}`);
    const r = await evalVideo(ctx, { ...o, note: `Adapter: ${adapter}.` });
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
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
