// deno task train --config configs/seppo-shapes.yaml [--method seppo|sft|dpo|spin]
//   [--ref-strategy initial|latest|uniform] [--aaf sign|indicator|off] [--beta B] [--seed S]
//   [--out DIR] [--resume] [any config key, e.g. --train.steps 100]
// Preference fine-tuning from a base checkpoint (lib/train/seppo.ts). Flags override the YAML.
import { GpuContext } from "../lib/gpu/context.ts";
import { parseTask } from "../lib/train/cli.ts";
import { resolveMethod, train, TRAIN_SCHEMA } from "../lib/train/seppo.ts";

const { config, yaml, flags, explicit } = parseTask(
  Deno.args,
  TRAIN_SCHEMA,
  { resume: { type: "boolean", default: false } },
  { "ref-strategy": "ref.strategy", seed: "train.seed" },
);
resolveMethod(config, explicit); // refuse contradictory method/ablation settings before loading anything
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
console.log(`effective config:\n${yaml}`);
const r = await train(ctx, config, { resume: flags.resume as boolean, configYaml: yaml, explicit });
console.log(`done: ${r.out} (${r.steps} updates, ${r.updatesPerSecond.toFixed(3)} updates/s)`);
if (r.last) console.log(JSON.stringify(r.last));
