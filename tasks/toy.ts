// deno task toy [--steps N] [--hidden H] [--lr LR] [--seed S]: trains the toy MLP on the GPU and
// prints its loss falling (the engine's end-to-end check).
import { parseArgs } from "node:util";
import { GpuContext } from "../lib/gpu/context.ts";
import { TOY_DEFAULTS, trainToy } from "../lib/train/toy.ts";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: String(TOY_DEFAULTS.steps) },
    hidden: { type: "string", default: String(TOY_DEFAULTS.hidden) },
    lr: { type: "string", default: String(TOY_DEFAULTS.lr) },
    seed: { type: "string", default: String(TOY_DEFAULTS.seed) },
  },
});
const num = (flag: string, v: string, integer: boolean) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new Error(
      `flag --${flag}: expected a ${integer ? "non-negative integer" : "non-negative number"}, got "${v}"`,
    );
  }
  return n;
};
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.label}`);
const t0 = performance.now();
const log = await trainToy(ctx, {
  steps: num("steps", values.steps!, true),
  hidden: num("hidden", values.hidden!, true),
  lr: num("lr", values.lr!, false),
  seed: num("seed", values.seed!, true),
  onLog: (step, loss) => console.log(`step ${String(step).padStart(5)}  loss ${loss.toExponential(3)}`),
});
const secs = (performance.now() - t0) / 1000;
const first = log[0][1], last = log[log.length - 1][1];
console.log(
  `loss ${first.toExponential(3)} -> ${last.toExponential(3)} (${(first / last).toFixed(1)}x lower) in ${
    secs.toFixed(1)
  } s`,
);
