// CLIPTextModel as SD-1.x configures it (quick_gelu, 77 positions, pooled output at the EOS token),
// loaded from tiny-sd's text_encoder/ (transformers names) and checked against transformers 4.44's
// outputs: last_hidden_state, the clip-skipped state StableDiffusionPipeline(clip_skip=1) feeds the
// UNet, and pooler_output. Tolerance: 10x the recorded float32 noise floor (tests/_fixtures.ts).
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { rootInit } from "../../lib/nn/module.ts";
import {
  clipTextConfigJson,
  pooledIndex,
  TextEncoder,
  textEncoderConfig,
} from "../../lib/nn/text_encoder.ts";
import { gpu, host } from "../_helpers.ts";
import { assertGolden, goldenJson, TINY_SD } from "../_fixtures.ts";

const FILE = `${TINY_SD}/golden/text_encoder.safetensors`;
const FLOOR = { dir: TINY_SD, group: "text_encoder" };

Deno.test("CLIPTextModel (tiny-sd): hidden states, clip skip and pooled output match transformers", async () => {
  const ctx = await gpu();
  const raw = JSON.parse(await Deno.readTextFile(`${TINY_SD}/text_encoder/config.json`));
  const te = new TextEncoder(rootInit(ctx, 0), textEncoderConfig(raw, "text_encoder/config.json"));
  const { tensors } = await readSafetensors(host, `${TINY_SD}/text_encoder/model.safetensors`);
  te.loadStateDict(tensors);
  const g = await goldenJson<{ input_ids: number[][]; pooled_index: number[] }>(
    `${TINY_SD}/golden/text_encoder.json`,
  );
  deepStrictEqual(g.input_ids.map((r) => pooledIndex(r, te.config.eos_token_id)), g.pooled_index);
  await ctx.scope(async () => {
    const { hidden, pooled } = ctx.noGrad(() => te.encode(ctx, g.input_ids, { pooled: true }));
    await assertGolden(FILE, FLOOR, "last_hidden_state", await hidden.read());
    await assertGolden(FILE, FLOOR, "pooler_output", await pooled!.read());
    const skipped = ctx.noGrad(() => te.encode(ctx, g.input_ids, { clipSkip: 1 }).hidden);
    await assertGolden(FILE, FLOOR, "penultimate_hidden_state_final_ln", await skipped.read());
  });
  te.dispose();
});

Deno.test("CLIPTextConfig: keys read, ignored or refused by name; pooling rule; what we write", () => {
  const sd15 = {
    _name_or_path: "openai/clip-vit-large-patch14",
    architectures: ["CLIPTextModel"],
    attention_dropout: 0.0,
    bos_token_id: 0,
    dropout: 0.0,
    eos_token_id: 2,
    hidden_act: "quick_gelu",
    hidden_size: 768,
    initializer_factor: 1.0,
    initializer_range: 0.02,
    intermediate_size: 3072,
    layer_norm_eps: 1e-05,
    max_position_embeddings: 77,
    model_type: "clip_text_model",
    num_attention_heads: 12,
    num_hidden_layers: 12,
    pad_token_id: 1,
    projection_dim: 768,
    torch_dtype: "float32",
    transformers_version: "4.22.0.dev0",
    vocab_size: 49408,
  };
  const c = textEncoderConfig(sd15, "sd15");
  equal(c.hidden_act, "quick_gelu");
  equal(c.eos_token_id, 2);
  throws(() => textEncoderConfig({ ...sd15, dropout: 0.1 }, "f"), /f: dropout = 0.1 is not supported/);
  throws(() => textEncoderConfig({ ...sd15, hidden_act: "gelu_new" }, "f"), /f: hidden_act = "gelu_new"/);
  throws(() => textEncoderConfig({ ...sd15, use_cache: true }, "f"), /f: unknown key use_cache = true/);
  throws(() => textEncoderConfig({ ...sd15, model_type: "t5" }, "f"), /f: model_type = "t5"/);
  throws(
    () => textEncoderConfig({ ...sd15, architectures: ["T5EncoderModel"] }, "f"),
    /f: architectures = \["T5EncoderModel"\]/,
  );
  // eos_token_id 2 is transformers' legacy rule: the largest id; otherwise the first eos (0 if none).
  equal(pooledIndex([0, 5, 9, 2, 2], 2), 2);
  equal(pooledIndex([7, 5, 9, 2, 2], 2), 2);
  equal(pooledIndex([7, 5, 3, 9, 9], 9), 3);
  equal(pooledIndex([7, 5, 3], 9), 0);
  // What we write reads back to the same config, with every key transformers' own file has.
  const written = clipTextConfigJson(c);
  deepStrictEqual(textEncoderConfig(written), c);
  deepStrictEqual(
    Object.keys(written).sort(),
    Object.keys(sd15).filter((k) => !k.startsWith("_")).sort(),
  );
});
