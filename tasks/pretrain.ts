// deno task pretrain --config configs/pretrain-shapes.yaml [--out DIR] [--resume] [--train.steps N ...]
// Pretrains the base text-to-image model on the noisy-caption corpus (lib/train/pretrain.ts).
import { GpuContext } from "../lib/gpu/context.ts";
import { pretrain, PRETRAIN_SCHEMA } from "../lib/train/pretrain.ts";
import { parseTask } from "../lib/train/cli.ts";

const { config, yaml, flags } = parseTask(Deno.args, PRETRAIN_SCHEMA, {
  resume: { type: "boolean", default: false },
});
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
console.log(`effective config:\n${yaml}`);
const r = await pretrain(ctx, config, { resume: flags.resume as boolean, configYaml: yaml });
console.log(`done: ${r.out} (${r.steps} updates, ${r.samplesPerSecond.toFixed(1)} samples/s)`);
