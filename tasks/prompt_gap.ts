// deno task prompt-gap --ckpt DIR [--data DIR] [--n 64] [--seed S]
// Does the model use its prompt? Denoising errors on captioned images at several timesteps with the
// right caption, another image's caption and the empty prompt (lib/eval/prompt_gap.ts).
import { parseArgs } from "node:util";
import { loadImageFolder } from "../lib/data/imagefolder.ts";
import { promptGap } from "../lib/eval/prompt_gap.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { TextToImage } from "../lib/nn/pipeline.ts";
import { Rng } from "../lib/util/rng.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    ckpt: { type: "string" },
    data: { type: "string", default: "data/generated/shapes-prefs" },
    n: { type: "string", default: "64" },
    seed: { type: "string", default: "0" },
  },
});
if (!v.ckpt) throw new Error("flag --ckpt: required (a text-to-image checkpoint folder)");
const n = Number(v.n), seed = Number(v.seed);
if (!Number.isInteger(n) || n < 2) throw new Error(`flag --n: expected an integer >= 2, got "${v.n}"`);
if (!Number.isInteger(seed) || seed < 0) {
  throw new Error(`flag --seed: expected an integer >= 0, got "${v.seed}"`);
}
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
const model = await TextToImage.load(ctx, v.ckpt);
const size = model.unet.config.sample_size;
const data = await loadImageFolder(v.data!, { size });
const batch = data.batches(Math.min(n, data.items.length), new Rng(seed)).next().value!;
const T = model.schedule.config.num_train_timesteps;
const ts = [0.1, 0.3, 0.5, 0.7, 0.9].map((f) => Math.round(f * (T - 1)));
const rows = await promptGap(ctx, model, batch.images, batch.texts, ts, seed + 1000);
console.log(
  `${v.ckpt} on ${batch.texts.length} images of ${v.data} (${model.schedule.config.beta_schedule})`,
);
console.log("    t  alpha_bar   right      shuffled   empty      gap");
for (const r of rows) {
  const e = (x: number) => x.toExponential(3).padEnd(10);
  console.log(
    `${String(r.t).padStart(5)}  ${r.alphaBar.toFixed(4).padEnd(9)}  ${e(r.right)} ${e(r.shuffled)} ${
      e(r.empty)
    } ` +
      `${(100 * r.gap).toFixed(1)}%`,
  );
}
