// deno task bench-sd15 [--batch 1] [--latent 64] [--lora-backward]
// Scale check without a GPU: an SD-1.5-sized UNet2DConditionModel built from SD-1.5's published
// unet/config.json (random weights, 859,520,964 parameters), one forward at 64x64 latents (512x512
// images) with 77 text tokens of width 768, timed, with its peak memory: the process's resident high
// water mark at the end of the pass (on the software adapter GPU buffers live in host memory, and the
// pool keeps every buffer it made) and the bytes of GPU buffers the context allocated. --lora-backward adds one backward through rank-4 LoRA adapters on the
// attention projections (what SePPO with LoRA does per update, base frozen) and reports it the same way.
import { cpuUsage } from "node:process";
import { backward } from "../lib/autograd/backward.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { DEFAULT_LORA_TARGETS, LoraSet, LoraUNet } from "../lib/nn/lora.ts";
import { rootInit } from "../lib/nn/module.ts";
import { UsageError } from "../lib/util/errors.ts";
import { describeUNet, UNet2DConditionModel } from "../lib/nn/unet.ts";
import { mean } from "../lib/ops/reduce.ts";
import { randn } from "../lib/ops/rng.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

/** runwayml/stable-diffusion-v1-5 unet/config.json, as published. */
export const SD15_UNET = {
  _class_name: "UNet2DConditionModel",
  _diffusers_version: "0.6.0",
  act_fn: "silu",
  attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  cross_attention_dim: 768,
  down_block_types: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
};

export const CLI = defineCli({
  task: "bench-sd15",
  purpose: "scale check without a GPU: an SD-1.5-sized UNet (its published config, random weights), one " +
    "forward at 64x64 latents, its time and peak memory; --lora-backward adds a backward through LoRA adapters.",
  flags: {
    batch: flag.int("latents per forward", { default: 1, min: 1 }),
    latent: flag.int("latent side (64 = 512x512 images)", { default: 64, min: 8 }),
    "lora-backward": flag.bool("also one forward + backward through rank-4 LoRA adapters (base frozen)"),
  },
  examples: ["deno task bench-sd15", "deno task bench-sd15 --latent 32 --lora-backward"],
});

/**
 * Resident memory in MiB, the highest seen at the points it is sampled: the buffer pool keeps every
 * buffer it ever made (freed ones are parked, not released), and on the software adapter those live
 * in host memory, so the resident size after a pass includes its peak.
 */
let peakRss = 0;
function rssMiB(): { peak: number; now: number } {
  const now = Deno.memoryUsage().rss / 2 ** 20;
  peakRss = Math.max(peakRss, now);
  return { peak: peakRss, now };
}

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => await bench(f.batch, f.latent, f["lora-backward"]));
}

async function bench(B: number, S: number, withLora: boolean) {
  if (S % 8 !== 0) {
    throw new UsageError(`flag --latent: expected a multiple of 8 (3 downsamplings), got ${S}`);
  }
  const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
  // Wall seconds since t0, and this process's CPU seconds since the last call (on a shared machine the
  // wall time depends on the other load; the CPU time less so).
  let c0 = cpuUsage();
  const secs = (t0: number) => {
    const c = cpuUsage(c0);
    c0 = cpuUsage();
    return `${((performance.now() - t0) / 1000).toFixed(1)} s (${
      ((c.user + c.system) / 1e6).toFixed(1)
    } CPU s)`;
  };

  const ctx = await GpuContext.create(host);
  console.log(`adapter: ${ctx.label}; binding limit ${gib(ctx.limits.maxStorageBufferBindingSize)} GiB`);
  let t0 = performance.now();
  c0 = cpuUsage();
  const unet = new UNet2DConditionModel(rootInit(ctx, 0), SD15_UNET);
  await ctx.sync();
  console.log(`${describeUNet(unet)}; built in ${secs(t0)}, RSS ${rssMiB().now.toFixed(0)} MiB`);
  unet.setTrainable(false);
  const ts = Array.from({ length: B }, (_, i) => 999 - 250 * i);

  const pool0 = ctx.pool.inUse + ctx.pool.parked;
  t0 = performance.now();
  const eps = await ctx.scope(async () => {
    const x = randn(ctx, [B, 4, S, S], 1), h = randn(ctx, [B, 77, 768], 2);
    const out = ctx.noGrad(() => unet.forward(ctx, x, ts, h));
    return await out.read();
  });
  const fwd = secs(t0);
  const finite = eps.every(Number.isFinite);
  const std = Math.sqrt(eps.reduce((a, b) => a + b * b, 0) / eps.length);
  console.log(
    `forward [${B}, 4, ${S}, ${S}] x 77 tokens: ${fwd}; output finite ${finite}, rms ${std.toFixed(3)}; ` +
      `GPU buffers ${gib(ctx.pool.inUse + ctx.pool.parked)} GiB (${gib(pool0)} of them weights), ` +
      `peak RSS ${gib(rssMiB().peak * 2 ** 20)} GiB`,
  );
  if (!finite) throw new Error("the forward produced non-finite values");

  if (withLora) {
    const set = LoraSet.create(ctx, unet, { rank: 4, alpha: 4, targets: DEFAULT_LORA_TARGETS });
    // up starts at 0: give it values so that every adapter takes part.
    for (const l of set.layers) ctx.write(l.up.buffer, new Float32Array(l.up.size).fill(1e-3));
    const lora = new LoraUNet(unet, set);
    lora.setTrainable(true);
    t0 = performance.now();
    const gnorm = await ctx.scope(async () => {
      const x = randn(ctx, [B, 4, S, S], 3), h = randn(ctx, [B, 77, 768], 4);
      const out = lora.forward(ctx, x, ts, h);
      backward(ctx, mean(ctx, out));
      let s = 0;
      for (const t of set.tensors().values()) for (const g of await t.grad!.read()) s += g * g;
      return Math.sqrt(s);
    });
    console.log(
      `LoRA forward + backward (${set.layers.length} adapters, ${lora.numParams().toLocaleString("en-US")} ` +
        `trainable): ${secs(t0)}; gradient norm ${gnorm.toExponential(3)}; GPU buffers ` +
        `${gib(ctx.pool.inUse + ctx.pool.parked)} GiB, peak RSS ${gib(rssMiB().peak * 2 ** 20)} GiB`,
    );
  }
}
