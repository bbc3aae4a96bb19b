// deno task compare --config configs/compare-shapes.yaml [--out DIR] [any config key as a flag]
// Trains every method and ablation from one base over several seeds, evaluates each and writes
// report.md / report.html (lib/train/compare.ts). Rerunning resumes where it stopped.
import { GpuContext } from "../lib/gpu/context.ts";
import { parseTask } from "../lib/train/cli.ts";
import { compare, COMPARE_SCHEMA } from "../lib/train/compare.ts";

const { config, yaml } = parseTask(Deno.args, COMPARE_SCHEMA);
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
console.log(`effective config:\n${yaml}`);
await compare(ctx, config);
