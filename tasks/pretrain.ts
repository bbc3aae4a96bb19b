// deno task pretrain --config configs/pretrain-shapes.yaml [--out DIR] [--resume [latest|PATH]]
//   [--overwrite] [--allow-config-change] [--nan-policy stop|skip] [--train.steps N ...]
// Pretrains the base text-to-image model on the noisy-caption corpus (lib/train/pretrain.ts).
import { configFlags } from "../lib/cli/config_flags.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkOutDir } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { pretrain, PRETRAIN_SCHEMA } from "../lib/train/pretrain.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "pretrain",
  purpose: "pretrains a text-to-image (or, with data.frames > 0, text-to-video) diffusion model on a " +
    "captioned corpus: AdamW with warmup and a schedule, EMA, prompt dropout, sample grids, checkpoints. " +
    "Ctrl-C stops after the current update with a checkpoint (exit 130); --resume continues exactly.",
  flags: {
    resume: flag.str(
      "continue the run in out: alone (or latest) from its newest valid checkpoint, or from PATH (a " +
        "checkpoint folder, or checkpoint-N); a config change that alters the run is refused",
      { bare: "latest", arg: "latest|PATH", also: ["resume_from_checkpoint", "resume-from-checkpoint"] },
    ),
    overwrite: flag.bool("start anew in a folder that holds a run, moving the old run to OUT.old-<time>"),
    "allow-config-change": flag.bool(
      "resume despite a config change that alters the run (recorded in run.json)",
    ),
  },
  config: configFlags(host, PRETRAIN_SCHEMA, { flags: true }),
  examples: ["deno task pretrain --config configs/pretrain-shapes.yaml --train.steps 3000 --resume"],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ config, yaml, flags }) => {
    await checkOutDir(host, config.out, "--out");
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    console.log(`effective config:\n${yaml}`);
    const r = await pretrain(ctx, config, {
      resume: flags.resume ?? false,
      overwrite: flags.overwrite,
      allowConfigChange: flags["allow-config-change"],
      configYaml: yaml,
    });
    console.log(
      `done: ${r.out} (${r.steps} updates, ${r.samplesPerSecond.toFixed(1)} samples/s); ` +
        (r.checkpoint ? `checkpoint for --ckpt: ${r.checkpoint}` : "no checkpoint saved"),
    );
  });
}
