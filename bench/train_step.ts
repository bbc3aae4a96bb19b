// deno task bench-step [--batch B] [--config FILE] [--profile]: end-to-end throughput of the base
// model's training step (forward + backward + AdamW), of sampling (one DDIM step with CFG), and
// with --profile a per-kernel breakdown from GPU timestamps (where the adapter has them).
import { backward } from "../lib/autograd/backward.ts";
import { configFlags } from "../lib/cli/config_flags.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { startTask } from "../lib/cli/main.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { mean } from "../lib/ops/reduce.ts";
import { randn } from "../lib/ops/rng.ts";
import { AdamW } from "../lib/train/adamw.ts";
import { createModel, PRETRAIN_SCHEMA } from "../lib/train/pretrain.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

const { flags: v, config: cfg } = startTask(
  host,
  defineCli({
    task: "bench-step",
    purpose: "end-to-end throughput of a model's training step (forward + backward + AdamW) and of a " +
      "sampling step (UNet with CFG), in samples/s; --profile adds a per-kernel breakdown from GPU " +
      "timestamps where the adapter has them. The model is the pretrain config's (--config).",
    flags: {
      batch: flag.int("batch size", { default: 16, min: 1 }),
      reps: flag.int("timed repetitions (the median is reported)", { default: 5, min: 1 }),
      profile: flag.bool("per-kernel GPU time of one training step"),
    },
    config: configFlags(host, PRETRAIN_SCHEMA, { flags: false, file: "configs/pretrain-shapes.yaml" }),
    examples: ["deno task bench-step --batch 8 --profile"],
  }),
);
const B = v.batch, reps = v.reps;
const ctx = await GpuContext.create(host, { profile: v.profile });
const model = createModel(ctx, cfg);
const size = cfg.data.size;
const opt = new AdamW(ctx, model.paramList(), { lr: 1e-4, maxGradNorm: 1 });
const texts = Array(B).fill("a large red circle on the left, blue background");
const ts = Array.from({ length: B }, (_, i) => (97 * i) % 1000);

const trainStep = () =>
  ctx.scope(() => {
    const x0 = randn(ctx, [B, 3, size, size], 1), eps = randn(ctx, [B, 3, size, size], 2);
    const e = model.denoiseErrors(ctx, x0, eps, ts, model.encode(ctx, texts));
    backward(ctx, mean(ctx, e));
    opt.update();
    opt.zeroGrad();
  });
const sampleStep = () =>
  ctx.scope(() =>
    ctx.noGrad(() => {
      const x = randn(ctx, [2 * B, 3, size, size], 3);
      const cond = model.encode(ctx, [...texts, ...texts.map(() => "")]);
      model.unet.forward(ctx, x, [...ts, ...ts], cond.hidden, cond.mask);
    })
  );

async function time(label: string, fn: () => Promise<void>, perRep: number) {
  await fn();
  await ctx.sync();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    await ctx.sync();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const med = ms[Math.floor(ms.length / 2)];
  console.log(
    `${label.padEnd(34)} ${med.toFixed(1).padStart(8)} ms   ${(perRep / (med / 1000)).toFixed(2)} samples/s`,
  );
  return med;
}

console.log(
  `adapter: ${ctx.label}; unet ${model.unet.numParams()} params`,
);
console.log(`batch ${B}, ${size}x${size}, median of ${reps}`);
const d0 = ctx.stats.dispatches;
await time("training step (fwd+bwd+AdamW)", trainStep, B);
const perStep = (ctx.stats.dispatches - d0) / (reps + 1);
await time("sampling step (UNet on 2B, CFG)", sampleStep, B);
console.log(`dispatches per training step: ${perStep.toFixed(0)}`);
if (ctx.profiler) {
  await ctx.profiler.read();
  await trainStep();
  await ctx.sync();
  const t = await ctx.profiler.read();
  const agg = new Map<string, [number, number]>();
  for (const { label, ms } of t) {
    const k = label.split(" ")[0];
    const a = agg.get(k) ?? [0, 0];
    agg.set(k, [a[0] + ms, a[1] + 1]);
  }
  const total = t.reduce((a, x) => a + x.ms, 0);
  console.log(`\nGPU time per kernel, one training step (sum ${total.toFixed(1)} ms):`);
  for (const [k, [ms, n]] of [...agg].sort((a, b) => b[1][0] - a[1][0]).slice(0, 20)) {
    console.log(
      `  ${k.padEnd(34)} ${ms.toFixed(1).padStart(8)} ms  ${
        (100 * ms / total).toFixed(1).padStart(5)
      }%  x${n}`,
    );
  }
}
