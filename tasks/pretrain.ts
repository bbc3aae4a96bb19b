// deno task pretrain --config configs/pretrain-shapes.yaml [--out DIR] [--resume [latest|CHECKPOINT]]
//   [--overwrite] [--allow-config-change] [--nan-policy stop|skip] [--train.steps N ...]
// Pretrains the base text-to-image model on the noisy-caption corpus (lib/train/pretrain.ts).
import { GpuContext } from "../lib/gpu/context.ts";
import { pretrain, PRETRAIN_SCHEMA } from "../lib/train/pretrain.ts";
import { parseTask, RUN_FLAGS, runOptions, withResumeDefault } from "../lib/train/cli.ts";

const { config, yaml, flags } = parseTask(withResumeDefault(Deno.args), PRETRAIN_SCHEMA, RUN_FLAGS);
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
console.log(`effective config:\n${yaml}`);
const r = await pretrain(ctx, config, { ...runOptions(flags), configYaml: yaml });
console.log(
  `done: ${r.out} (${r.steps} updates, ${r.samplesPerSecond.toFixed(1)} samples/s); ` +
    (r.checkpoint ? `checkpoint for --ckpt: ${r.checkpoint}` : "no checkpoint saved"),
);
