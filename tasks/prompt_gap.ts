// deno task prompt-gap --ckpt DIR [--data DIR] [--n 64] [--seed S]
// Does the model use its prompt? Denoising errors on captioned images at several timesteps with the
// right caption, another image's caption and the empty prompt (lib/eval/prompt_gap.ts).
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkInput } from "../lib/cli/paths.ts";
import { loadImageFolder } from "../lib/data/imagefolder.ts";
import { promptGap } from "../lib/eval/prompt_gap.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { TextToImage } from "../lib/nn/pipeline.ts";
import { Progress } from "../lib/util/progress.ts";
import { Rng } from "../lib/util/rng.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "prompt-gap",
  purpose: "does the model use its prompt? The denoising error on captioned images at t = 10%..90% of the " +
    "schedule with the right caption, another image's caption and the empty prompt, on the same noise.",
  flags: {
    ckpt: flag.str("text-to-image checkpoint folder", { required: true, arg: "DIR" }),
    data: flag.str("captioned imagefolder", { default: "data/generated/shapes-prefs", arg: "DIR" }),
    n: flag.int("images (a seeded draw from the folder)", { default: 64, min: 2 }),
    seed: flag.int("seed of the draw and the noise", { default: 0, min: 0 }),
  },
  examples: ["deno task prompt-gap --ckpt models/base-shapes-16 --data data/generated/shapes-prefs --n 64"],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => {
    await checkInput(host, f.ckpt, "--ckpt", "folder");
    await checkInput(host, f.data, "--data", "folder");
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    const model = await TextToImage.load(ctx, f.ckpt);
    const size = model.unet.config.sample_size;
    const data = await loadImageFolder(host, f.data, { size });
    const batch = data.batches(Math.min(f.n, data.items.length), new Rng(f.seed)).next().value!;
    const T = model.schedule.config.num_train_timesteps;
    const ts = [0.1, 0.3, 0.5, 0.7, 0.9].map((x) => Math.round(x * (T - 1)));
    const progress = new Progress(host, "prompt-gap", 3 * ts.length, { unit: "passes" });
    const rows = await promptGap(ctx, model, batch.images, batch.texts, ts, f.seed + 1000, progress);
    progress.finish();
    console.log(
      `${f.ckpt} on ${batch.texts.length} images of ${f.data} (${model.schedule.config.beta_schedule})`,
    );
    console.log("    t  alpha_bar   right      shuffled   empty      gap");
    for (const r of rows) {
      const e = (x: number) => x.toExponential(3).padEnd(10);
      console.log(
        `${String(r.t).padStart(5)}  ${r.alphaBar.toFixed(4).padEnd(9)}  ${e(r.right)} ${e(r.shuffled)} ` +
          `${e(r.empty)} ${(100 * r.gap).toFixed(1)}%`,
      );
    }
  });
}
