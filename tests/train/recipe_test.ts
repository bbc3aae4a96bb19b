// The fine-tuning recipe: gradient accumulation equals one larger batch, the EMA the checkpoints save
// follows diffusers' warmup decay exactly, and prompt dropout removes the captions from training.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { emaDecayAt, train, TRAIN_DEFAULTS, type TrainConfig } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";

async function fixture() {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-recipe-" });
  await generate(host, {
    ...DEFAULTS,
    world: "shapes",
    split: "prefs",
    count: 8,
    size: 16,
    pairs: true,
    out: `${dir}/prefs`,
    progress: false,
  });
  await saveTinyBase(ctx, `${dir}/base`);
  const config = (out: string, t: Partial<TrainConfig["train"]>, method = "seppo"): TrainConfig => ({
    ...structuredClone(TRAIN_DEFAULTS),
    base: `${dir}/base`,
    data: { prefs: `${dir}/prefs`, size: 16 },
    method,
    ref: { strategy: "uniform", steps: 1, guidance: 2, eta: 0 },
    pool: { size: 3, interval: 1, gpu_budget_mb: 64 },
    train: {
      ...TRAIN_DEFAULTS.train,
      steps: 1,
      batch: 4,
      warmup: 0,
      lr: 1e-3,
      ema: 0,
      prompt_dropout: 0,
      ...t,
    },
    log: { ...TRAIN_DEFAULTS.log, every: 1, ckpt_every: 1 },
    save: { dtype: "F32", keep_all: true },
    out: `${dir}/${out}`,
  });
  return { ctx, dir, config };
}

const quiet = { quiet: true, log: () => {} };
const state = async (dir: string, run: string, step: number) =>
  (await readSafetensors(host, `${dir}/${run}/checkpoint-${step}/trainer_state.safetensors`)).tensors;
const metric = async (dir: string, run: string) =>
  (await Deno.readTextFile(`${dir}/${run}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));

Deno.test("grad_accum: 2 micro-batches of 2 give the update of one batch of 4 (seppo and dpo)", async () => {
  const { ctx, dir, config } = await fixture();
  try {
    for (const method of ["seppo", "dpo"]) {
      await train(ctx, config(`${method}-4x1`, { batch: 4, grad_accum: 1 }, method), quiet);
      await train(ctx, config(`${method}-2x2`, { batch: 2, grad_accum: 2 }, method), quiet);
      const [ma] = await metric(dir, `${method}-4x1`), [mb] = await metric(dir, `${method}-2x2`);
      for (const k of ["loss", "e_theta_w", "e_ref_w", "e_theta_l", "e_ref_l", "grad_norm"]) {
        const tol = 1e-5 * Math.max(1, Math.abs(ma[k]));
        assert.ok(Math.abs(ma[k] - mb[k]) <= tol, `${method} ${k}: ${ma[k]} vs ${mb[k]}`);
      }
      assert.equal(ma.flip_rate, mb.flip_rate, `${method}: flip rate`);
      const a = await state(dir, `${method}-4x1`, 1), b = await state(dir, `${method}-2x2`, 1);
      let worst = 0, n = 0;
      for (const [name, t] of a) {
        if (!name.startsWith("param.")) continue;
        const u = b.get(name)!.data;
        for (let i = 0; i < t.data.length; i++, n++) worst = Math.max(worst, Math.abs(t.data[i] - u[i]));
      }
      // One AdamW step moves a weight by about lr = 1e-3; accumulation may only reorder float sums.
      assert.ok(n > 0 && worst < 1e-5, `${method}: weights differ by up to ${worst} after one update`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EMA: checkpoints save the EMA of the raw weights with decay min(max, (1+n)/(10+n))", async () => {
  assert.equal(emaDecayAt(0, 0.999), 0);
  assert.equal(emaDecayAt(1, 0.999), 2 / 11);
  assert.equal(emaDecayAt(90, 0.9), 0.9);
  const { ctx, dir, config } = await fixture();
  try {
    await train(ctx, config("ema", { steps: 2, ema: 0.999 }, "sft"), quiet);
    const base =
      (await readSafetensors(host, `${dir}/base/unet/diffusion_pytorch_model.safetensors`)).tensors;
    const s1 = await state(dir, "ema", 1), s2 = await state(dir, "ema", 2);
    const model2 =
      (await readSafetensors(host, `${dir}/ema/checkpoint-2/unet/diffusion_pytorch_model.safetensors`))
        .tensors;
    const d1 = 2 / 11, d2 = 3 / 12;
    let worst = 0, moved = 0;
    for (const [name, w0] of base) {
      const w1 = s1.get(`param.${name}`)!.data, w2 = s2.get(`param.${name}`)!.data;
      const e2 = s2.get(`ema.${name}`)!.data, saved = model2.get(name)!.data;
      for (let i = 0; i < w0.data.length; i++) {
        const want = d2 * (d1 * w0.data[i] + (1 - d1) * w1[i]) + (1 - d2) * w2[i];
        worst = Math.max(worst, Math.abs(e2[i] - want), Math.abs(saved[i] - e2[i]));
        moved = Math.max(moved, Math.abs(w2[i] - want));
      }
    }
    assert.ok(worst < 1e-6, `EMA differs from the closed form by ${worst}`);
    assert.ok(
      moved > 1e-4,
      `EMA equals the raw weights (max gap ${moved}): the test would not see a missing EMA`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prompt dropout 1: training ignores the captions; dropout 0: it does not", async () => {
  const { ctx, dir, config } = await fixture();
  try {
    // A copy of the data whose captions all say something else (same images).
    for (const sub of ["images", "losers"]) {
      await Deno.mkdir(`${dir}/other/${sub}`, { recursive: true });
      for await (const e of Deno.readDir(`${dir}/prefs/${sub}`)) {
        await Deno.copyFile(`${dir}/prefs/${sub}/${e.name}`, `${dir}/other/${sub}/${e.name}`);
      }
    }
    const rows = (await Deno.readTextFile(`${dir}/prefs/metadata.jsonl`)).trim().split("\n");
    await Deno.writeTextFile(
      `${dir}/other/metadata.jsonl`,
      rows.map((l) => JSON.stringify({ ...JSON.parse(l), text: "a shape somewhere" })).join("\n") + "\n",
    );
    const run = async (name: string, data: string, p: number) => {
      const c = config(name, { prompt_dropout: p }, "sft");
      c.data.prefs = `${dir}/${data}`;
      await train(ctx, c, quiet);
      return await state(dir, name, 1);
    };
    const differ = (a: Awaited<ReturnType<typeof run>>, b: typeof a) =>
      [...a].some(([k, t]) => k.startsWith("param.") && t.data.some((v, i) => v !== b.get(k)!.data[i]));
    assert.ok(
      !differ(await run("p1-real", "prefs", 1), await run("p1-other", "other", 1)),
      "dropout 1 used the captions",
    );
    assert.ok(
      differ(await run("p0-real", "prefs", 0), await run("p0-other", "other", 0)),
      "dropout 0 ignored the captions",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
