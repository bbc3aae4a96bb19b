// deno task train --config configs/seppo-shapes.yaml [--method seppo|sft|dpo|spin]
//   [--ref-strategy initial|latest|uniform] [--aaf sign|indicator|off] [--beta B] [--seed S]
//   [--out DIR] [--resume [latest|PATH]] [--overwrite] [--allow-config-change] [--nan-policy stop|skip]
//   [any config key, e.g. --train.steps 100]
// Preference fine-tuning from a base checkpoint (lib/train/seppo.ts). Flags override the YAML.
import { configFlags } from "../lib/cli/config_flags.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkOutDir } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { resolveMethod, train, TRAIN_SCHEMA } from "../lib/train/seppo.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "train",
  purpose: "preference fine-tuning of a base checkpoint: SePPO (reference model drawn from a pool of the " +
    "policy's own past checkpoints, its samples as losers, anchor-based flip), or the baselines SFT, " +
    "Diffusion-DPO and SPIN. Ctrl-C stops after the current update with a checkpoint (exit 130); " +
    "--resume continues exactly.",
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
  config: configFlags(host, TRAIN_SCHEMA, {
    flags: true,
    aliases: { "ref-strategy": "ref.strategy", seed: "train.seed" },
  }),
  notes: [
    "A method fixes some keys (dpo: ref.strategy initial, aaf off; spin: ref.strategy latest, aaf off); " +
    "setting them to something else is refused. Ablations go through method seppo.",
  ],
  examples: [
    "deno task train --config configs/seppo-shapes.yaml --method sft --train.steps 100 --out runs/sft",
  ],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ config, yaml, flags, explicit }) => {
    resolveMethod(config, explicit); // refuse contradictory method/ablation settings before loading anything
    await checkOutDir(host, config.out, "--out");
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    console.log(`effective config:\n${yaml}`);
    const r = await train(ctx, config, {
      resume: flags.resume ?? false,
      overwrite: flags.overwrite,
      allowConfigChange: flags["allow-config-change"],
      configYaml: yaml,
      explicit,
    });
    if (r.last) console.log(JSON.stringify(r.last));
    console.log(
      `done: ${r.out} (${r.steps} updates, ${r.updatesPerSecond.toFixed(3)} updates/s); ` +
        (r.checkpoint ? `checkpoint for --ckpt: ${r.checkpoint}` : "no checkpoint saved"),
    );
  });
}
