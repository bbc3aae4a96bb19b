// Pretraining: a resumed run (checkpoint at update 1, resume to 3) ends with exactly the weights,
// EMA and logs of an uninterrupted run; the checkpoint folder loads as a model. The shipped configs
// build the models they describe.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { loadYamlConfig } from "../../lib/io/config.ts";
import {
  createModel,
  pretrain,
  PRETRAIN_DEFAULTS,
  PRETRAIN_SCHEMA,
  type PretrainConfig,
} from "../../lib/train/pretrain.ts";
import { gpu, host } from "../_helpers.ts";

Deno.test("pretrain: resume is exact; checkpoints load", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-pretrain-" });
  try {
    await generate(host, {
      ...DEFAULTS,
      world: "shapes",
      split: "pretrain",
      count: 8,
      size: 16,
      captionNoise: 0.5,
      out: `${dir}/data`,
      progress: false,
    });
    const config = (out: string, steps: number): PretrainConfig => {
      const c = structuredClone(PRETRAIN_DEFAULTS);
      c.data.dir = `${dir}/data`;
      Object.assign(c.model, {
        block_out_channels: [8, 16],
        norm_num_groups: 4,
        cross_attention_dim: 16,
        attention_head_dim: 2,
        text_layers: 1,
        text_heads: 2,
      });
      Object.assign(c.train, { steps, batch: 4, grad_accum: 2, warmup: 1 });
      Object.assign(c.log, { every: 1, sample_every: 0, ckpt_every: 1 });
      c.out = `${dir}/${out}`;
      return c;
    };
    const quiet = { log: () => {} };
    await pretrain(ctx, config("straight", 3), quiet);
    await pretrain(ctx, config("resumed", 1), quiet);
    await pretrain(ctx, config("resumed", 3), { ...quiet, resume: true });
    for (const file of ["unet/diffusion_pytorch_model.safetensors", "trainer_state.safetensors"]) {
      const a = (await readSafetensors(host, `${dir}/straight/checkpoint-3/${file}`)).tensors;
      const b = (await readSafetensors(host, `${dir}/resumed/checkpoint-3/${file}`)).tensors;
      assert.equal(a.size, b.size);
      for (const [name, t] of a) {
        assert.deepEqual(b.get(name)!.data, t.data, `${file}: ${name} differs after resume`);
      }
    }
    const rows = (run: string) =>
      Deno.readTextFileSync(`${dir}/${run}/metrics.jsonl`).trim().split("\n").map((l) => {
        const o = JSON.parse(l);
        return [o.step, o.loss];
      });
    assert.deepEqual(rows("resumed"), rows("straight"));
    const m = await TextToImage.load(ctx, `${dir}/resumed/checkpoint-3`);
    assert.equal(m.unet.config.block_out_channels.join(), "8,16");
    m.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pretrain configs: shapes keeps the shipped UNet; shapes-text adds the pooled text embedding", async () => {
  const ctx = await gpu();
  const plain = loadYamlConfig(host, "configs/pretrain-shapes.yaml", PRETRAIN_SCHEMA);
  const text = loadYamlConfig(host, "configs/pretrain-shapes-text.yaml", PRETRAIN_SCHEMA);
  assert.equal(plain.model.addition_embed_type, "none");
  const a = createModel(ctx, plain), b = createModel(ctx, text);
  assert.equal(a.unet.add_embedding, null);
  assert.equal(a.unet.config.addition_embed_type, null);
  // The shipped base model's size, counted before addition_embed_type existed.
  assert.equal(a.unet.numParams(), 1_001_251);
  assert.equal(b.unet.config.addition_embed_type, "text");
  assert.equal(b.unet.add_embedding?.pool.heads, 4);
  assert.equal(text.out, "runs/pretrain-shapes-text");
  // Apart from the add embedding and the output folder, the two configs are the same.
  assert.deepEqual(
    { ...text, out: plain.out, model: { ...text.model, addition_embed_type: "none" } },
    plain,
  );
  a.dispose();
  b.dispose();
  const bad = structuredClone(text);
  bad.model.addition_embed_heads = 5;
  assert.throws(() => createModel(ctx, bad), /model.addition_embed_heads = 5 does not divide/);
});
