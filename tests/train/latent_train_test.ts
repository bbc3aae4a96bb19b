// Training on a latent model. (1) diffusers' text-to-image training loss on tiny-sd with fixed inputs
// (VAE latent mean x scaling_factor, DDPM add_noise, frozen CLIP states, UNet, MSE) and the gradients of
// seven named UNet parameters, through our trainer's SFT loss, against diffusers 0.30.3 within 10x the
// recorded float32 floor. (2) A few SePPO-with-LoRA updates on tiny-sd: only the adapters train (the
// trainer state and the pool hold nothing else), the checkpoint is a LoRA checkpoint that loads back,
// the winners' VAE latents are cached beside the data and the cache is keyed by the images.
import assert from "node:assert/strict";
import { backward } from "../../lib/autograd/backward.ts";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { addNoise } from "../../lib/diffusion/noise.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { loadImageModel } from "../../lib/nn/bundle.ts";
import { LatentTextToImage } from "../../lib/nn/pipeline_latent.ts";
import type { UNet2DConditionModel } from "../../lib/nn/unet.ts";
import { filled } from "../../lib/ops/copy.ts";
import { preferenceLoss } from "../../lib/ops/preference_loss.ts";
import { mean, mseRows } from "../../lib/ops/reduce.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { loadImageFolder } from "../../lib/data/imagefolder.ts";
import { trainingExamples } from "../../lib/train/latent_data.ts";
import { train, TRAIN_DEFAULTS, type TrainConfig } from "../../lib/train/seppo.ts";
import { Rng } from "../../lib/util/rng.ts";
import { gpu, host } from "../_helpers.ts";
import { assertGolden, golden, goldenJson, TINY_SD } from "../_fixtures.ts";

const FILE = `${TINY_SD}/golden/train_step.safetensors`;
const FLOOR = { dir: TINY_SD, group: "train_step" };

Deno.test("latent training loss and UNet gradients (tiny-sd) match diffusers' train_text_to_image", async () => {
  const ctx = await gpu();
  const sd = await LatentTextToImage.load(ctx, TINY_SD);
  const unet = sd.unet as UNet2DConditionModel;
  unet.setTrainable(true);
  const g = await goldenJson<{ captions: string[]; timesteps: number[]; params: string[] }>(
    `${TINY_SD}/golden/train_step.json`,
  );
  await ctx.scope(async () => {
    const px = await golden(FILE, "pixel_values"),
      lat = await golden(FILE, "latents"),
      nz = await golden(FILE, "noise");
    // Our VAE encoding of the same pixels (only diffusers' float32 latents are stored: the floor is the VAE's).
    await assertGolden(
      FILE,
      { dir: TINY_SD, group: "vae", name: "scaled_latent_mean" },
      "latents",
      await sd.encodeImages(ctx, tensor(ctx, px.data, px.shape)).read(),
    );
    const x0 = tensor(ctx, lat.data, lat.shape), eps = tensor(ctx, nz.data, nz.shape);
    const xt = ctx.noGrad(() => addNoise(ctx, sd.schedule, x0, eps, g.timesteps));
    await assertGolden(FILE, FLOOR, "noisy_latents", await xt.read());
    const cond = ctx.noGrad(() => sd.encode(ctx, g.captions));
    await assertGolden(
      FILE,
      { dir: TINY_SD, group: "text_encoder", name: "last_hidden_state" },
      "encoder_hidden_states",
      await cond.hidden.read(),
    );
    const pred = unet.forward(ctx, xt, g.timesteps, cond.hidden, cond.mask);
    await assertGolden(FILE, FLOOR, "model_pred", await pred.read());
    // The trainer's SFT loss: per-example errors, the loss kernel, the batch mean (= F.mse_loss here).
    const none = filled(ctx, [2], 0);
    const out = preferenceLoss(ctx, mseRows(ctx, pred, eps), none, none, none, {
      beta: 1,
      aaf: "off",
      sft: true,
    });
    const loss = mean(ctx, out.loss);
    await assertGolden(FILE, FLOOR, "loss", [await loss.item()]);
    backward(ctx, loss);
    const params = unet.parameters();
    for (const name of g.params) {
      await assertGolden(FILE, FLOOR, `grad.${name}`, await params.get(name)!.grad!.read());
    }
  });
  sd.dispose();
});

Deno.test("SePPO with LoRA on a latent model: adapters only, LoRA checkpoint, cached latents", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-lora-" });
  try {
    await generate(host, {
      ...DEFAULTS,
      world: "shapes",
      split: "prefs",
      count: 4,
      size: 32,
      pairs: true,
      out: `${dir}/prefs`,
      progress: false,
    });
    const config = (out: string, steps: number): TrainConfig => ({
      ...structuredClone(TRAIN_DEFAULTS),
      base: TINY_SD,
      data: { prefs: `${dir}/prefs`, size: 32 },
      method: "seppo",
      ref: { strategy: "uniform", steps: 1, guidance: 2, eta: 0 },
      pool: { size: 3, interval: 1, gpu_budget_mb: 64 },
      train: { ...TRAIN_DEFAULTS.train, steps, batch: 2, warmup: 0, lr: 1e-2, ema: 0 },
      log: { ...TRAIN_DEFAULTS.log, every: 1, ckpt_every: 1 },
      lora: { rank: 2, alpha: 4, targets: ["to_q", "to_v"] },
      out: `${dir}/${out}`,
    });
    const logs: string[] = [];
    const r = await train(ctx, config("run", 1), { quiet: true, log: (s) => logs.push(s) });
    assert.ok(Number.isFinite(r.last!.loss));
    assert.ok(logs.some((l) => /latents: 4 winners and losers encoded/.test(l)), logs.join("\n"));
    const ck = `${dir}/run/checkpoint-1`;
    const index = JSON.parse(await Deno.readTextFile(`${ck}/model_index.json`));
    assert.equal(index._class_name, "SeppoLoraCheckpoint");
    assert.equal(index.base, TINY_SD);
    const lora = (await readSafetensors(host, `${ck}/pytorch_lora_weights.safetensors`)).tensors;
    // 2 targets x 11 transformer blocks x 2 attentions x (down, up), diffusers' key format.
    assert.equal(lora.size, 2 * 11 * 2 * 2);
    assert.ok([...lora.keys()].every((k) => /^unet\..*\.(to_q|to_v)\.lora\.(down|up)\.weight$/.test(k)));
    const ups = [...lora].filter(([k]) => k.endsWith(".up.weight"));
    assert.ok(ups.some(([, t]) => t.data.some((v) => v !== 0)), "the adapters trained (up starts at 0)");
    for (const f of ["trainer_state.safetensors", "pool/entry-0.safetensors", "pool/entry-1.safetensors"]) {
      const names = [...(await readSafetensors(host, `${ck}/${f}`)).tensors.keys()];
      assert.ok(names.length > 0 && names.every((k) => k.includes(".lora.")), `${f} holds only adapters`);
    }
    // The checkpoint loads as base + adapters and samples.
    const m = await loadImageModel(ctx, ck);
    const shape = await ctx.scope(async () => {
      const x = await (m as LatentTextToImage).generatePixels(ctx, ["a red circle"], [0], { steps: 1 });
      return x.shape;
    });
    assert.deepEqual(shape, [1, 3, 32, 32]);
    // The cache is reused as long as the VAE and the images stay; a changed image gets a new entry.
    const sd = m as LatentTextToImage;
    const examples = async () => {
      const data = await loadImageFolder(host, `${dir}/prefs`, { size: 32 });
      logs.length = 0;
      return await trainingExamples(ctx, sd, data, (s) => logs.push(s));
    };
    const ex = await examples();
    assert.ok(logs.some((l) => /latents: 4 cached in .*vae_latents/.test(l)), logs.join("\n"));
    const b = ex.batches(2, new Rng(0)).next().value!;
    assert.equal(b.images.length, 2 * 4 * 16 * 16);
    assert.equal(b.losers!.length, 2 * 4 * 16 * 16);
    const row = JSON.parse((await Deno.readTextFile(`${dir}/prefs/metadata.jsonl`)).split("\n")[0]);
    await Deno.copyFile(`${dir}/prefs/${row.loser_file_name}`, `${dir}/prefs/${row.file_name}`);
    await examples();
    assert.ok(logs.some((l) => /latents: 4 winners and losers encoded/.test(l)), logs.join("\n"));
    let entries = 0;
    for await (const _ of Deno.readDir(`${dir}/prefs/vae_latents`)) entries++;
    assert.equal(entries, 2);
    m.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
