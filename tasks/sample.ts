// deno task sample --ckpt DIR --prompt "..." [--n 8] [--sampler ddim|dpmsolver++|euler] [--steps 50]
//   [--guidance G] [--seed S] [--out grid.png]
// deno task sample --ckpt DIR --prompts FILE --out DIR   (imagefolder layout that `deno task score` reads)
import { parseArgs } from "node:util";
import { GpuContext } from "../lib/gpu/context.ts";
import { loadPrompts } from "../lib/data/metadata.ts";
import { generateImages, writeImageFolder } from "../lib/eval/generate.ts";
import { contactSheet, writeImage } from "../lib/io/images.ts";
import { TextToImage } from "../lib/nn/pipeline.ts";
import { parseSampler } from "../lib/diffusion/sampler.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    ckpt: { type: "string" },
    prompt: { type: "string" },
    prompts: { type: "string" },
    n: { type: "string", default: "8" },
    sampler: { type: "string" },
    steps: { type: "string", default: "50" },
    guidance: { type: "string", default: "3" },
    seed: { type: "string", default: "0" },
    batch: { type: "string", default: "32" },
    out: { type: "string" },
  },
});
const int = (flag: string, s: string, min = 1) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`flag --${flag}: expected an integer >= ${min}, got "${s}"`);
  }
  return n;
};
if (!v.ckpt) throw new Error("flag --ckpt: required (a checkpoint folder)");
if (!v.prompt === !v.prompts) throw new Error("give exactly one of --prompt TEXT or --prompts FILE");
const guidance = Number(v.guidance);
if (!(guidance >= 1)) throw new Error(`flag --guidance: expected a number >= 1, got "${v.guidance}"`);
const steps = int("steps", v.steps!), batch = int("batch", v.batch!);
const sampler = parseSampler(v.sampler);
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
const model = await TextToImage.load(ctx, v.ckpt);
const t0 = performance.now();
if (v.prompt) {
  const n = int("n", v.n!), seed = int("seed", v.seed!, 0);
  const items = Array.from({ length: n }, (_, i) => ({ text: v.prompt!, seed: seed + i }));
  const imgs = await generateImages(ctx, model, items, { sampler, steps, guidance, batch });
  const out = v.out ?? "sample.png";
  await writeImage(out, contactSheet(imgs, { scale: Math.max(1, Math.round(64 / imgs[0].width)), pad: 2 }));
  console.log(`${n} samples of "${v.prompt}" -> ${out} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
} else {
  const rows = await loadPrompts(v.prompts!);
  const items = rows.map((r) => ({ text: r.text, seed: r.seed, meta: { ...r.attrs, heldout: r.heldout } }));
  const imgs = await generateImages(ctx, model, items, {
    sampler,
    steps,
    guidance,
    batch,
    onBatch: (d, t) => console.log(`sampled ${d}/${t}`),
  });
  const out = v.out ?? "samples";
  await writeImageFolder(out, items, imgs);
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `${items.length} samples -> ${out} (${secs.toFixed(1)} s, ${(items.length / secs).toFixed(2)} samples/s)`,
  );
}
