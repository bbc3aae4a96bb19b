// deno task eval-t2i --ckpt DIR [--base DIR] --prompts FILE [--seeds N] [--sampler ddim|dpmsolver++|euler]
//   [--steps S] [--guidance G]
//   [--batch B] [--out DIR] [--no-images]
// Samples the eval prompts with fixed seeds, scores them and writes eval.json + report.md/html.
import { parseArgs } from "node:util";
import { GpuContext } from "../lib/gpu/context.ts";
import { loadPrompts } from "../lib/data/metadata.ts";
import { evalT2I } from "../lib/eval/eval_image.ts";
import { parseSampler } from "../lib/diffusion/sampler.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    ckpt: { type: "string" },
    base: { type: "string" },
    prompts: { type: "string", default: "data/generated/shapes-eval/prompts.jsonl" },
    seeds: { type: "string", default: "4" },
    sampler: { type: "string" },
    steps: { type: "string", default: "20" },
    guidance: { type: "string", default: "3" },
    batch: { type: "string", default: "32" },
    out: { type: "string" },
    "no-images": { type: "boolean", default: false },
  },
});
const int = (flag: string, s: string) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`flag --${flag}: expected a positive integer, got "${s}"`);
  }
  return n;
};
if (!v.ckpt) throw new Error("flag --ckpt: required (a checkpoint folder)");
const guidance = Number(v.guidance);
if (!(guidance >= 1)) throw new Error(`flag --guidance: expected a number >= 1, got "${v.guidance}"`);
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
const prompts = await loadPrompts(v.prompts!);
const out = v.out ?? `${v.ckpt}/eval`;
const s = await evalT2I(ctx, v.ckpt, v.base ?? null, prompts, out, {
  seeds: int("seeds", v.seeds!),
  sampler: parseSampler(v.sampler),
  steps: int("steps", v.steps!),
  guidance,
  batch: int("batch", v.batch!),
  saveImages: !v["no-images"],
  log: console.log,
});
const f = (i: { mean: number; lo: number; hi: number }) =>
  `${i.mean.toFixed(4)} [${i.lo.toFixed(4)}, ${i.hi.toFixed(4)}]`;
console.log(`\nmean score ${f(s.mean)} over ${s.n} samples`);
for (const [a, i] of Object.entries(s.perAttr)) console.log(`  ${a.padEnd(11)} ${f(i)}`);
if (s.baseMean) {
  console.log(`base mean ${f(s.baseMean)}; win rate vs base ${(100 * s.winRateVsBase!).toFixed(1)}%`);
}
console.log(`report: ${out}/report.md (${s.seconds.toFixed(1)} s)`);
