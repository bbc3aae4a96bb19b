// deno task pretrain --config configs/pretrain-shapes.yaml [--out DIR] [--resume] [--train.steps N ...]
// Pretrains the base text-to-image model on the noisy-caption corpus (lib/train/pretrain.ts).
import { configFlags } from "../lib/cli/config_flags.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkOutDir } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { pretrain, PRETRAIN_SCHEMA } from "../lib/train/pretrain.ts";

export const CLI = defineCli({
  task: "pretrain",
  purpose: "pretrains a text-to-image (or, with data.frames > 0, text-to-video) diffusion model on a " +
    "captioned corpus: AdamW with warmup and a schedule, EMA, prompt dropout, sample grids, checkpoints. " +
    "Ctrl-C stops after the current update with a checkpoint (exit 130); --resume continues exactly.",
  flags: {
    resume: flag.bool("continue from the newest checkpoint in the run folder (out)"),
  },
  config: configFlags(PRETRAIN_SCHEMA, { flags: true }),
  examples: ["deno task pretrain --config configs/pretrain-shapes.yaml --train.steps 3000 --resume"],
});

if (import.meta.main) {
  await runTask(CLI, async ({ config, yaml, flags }) => {
    await checkOutDir(config.out, "--out");
    const ctx = await GpuContext.create();
    console.log(`adapter: ${ctx.label}`);
    console.log(`effective config:\n${yaml}`);
    const r = await pretrain(ctx, config, { resume: flags.resume, configYaml: yaml });
    console.log(`done: ${r.out} (${r.steps} updates, ${r.samplesPerSecond.toFixed(1)} samples/s)`);
  });
}
