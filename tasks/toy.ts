// deno task toy [--steps N] [--hidden H] [--lr LR] [--seed S]: trains the toy MLP on the GPU and
// prints its loss falling (the engine's end-to-end check).
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { TOY_DEFAULTS, trainToy } from "../lib/train/toy.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "toy",
  purpose: "trains a toy MLP (2 -> H -> H -> 1) on the GPU through the tape with AdamW and prints its loss " +
    "falling: the engine's end-to-end check.",
  flags: {
    steps: flag.int("AdamW steps", { default: TOY_DEFAULTS.steps, min: 0 }),
    hidden: flag.int("hidden width", { default: TOY_DEFAULTS.hidden, min: 1 }),
    lr: flag.num("learning rate", { default: TOY_DEFAULTS.lr, gt: 0 }),
    seed: flag.int("seed of the data and the init", { default: TOY_DEFAULTS.seed, min: 0 }),
  },
  examples: ["deno task toy --steps 500 --hidden 64"],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => {
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    const t0 = performance.now();
    const log = await trainToy(ctx, {
      steps: f.steps,
      hidden: f.hidden,
      lr: f.lr,
      seed: f.seed,
      onLog: (step, loss) => console.log(`step ${String(step).padStart(5)}  loss ${loss.toExponential(3)}`),
    });
    const secs = (performance.now() - t0) / 1000;
    const first = log[0][1], last = log[log.length - 1][1];
    console.log(
      `loss ${first.toExponential(3)} -> ${last.toExponential(3)} (${(first / last).toFixed(1)}x lower) in ${
        secs.toFixed(1)
      } s`,
    );
  });
}
