// What we write for diffusers and transformers: every config key their from_pretrained expects (the
// fixtures hold the key sets diffusers 0.30.3 / transformers 4.44 write), model_index.json, the word
// tokenizer under its own file name, a UNetMotionModel's pos_embed.pe buffers, pad masking as a model
// option (off attends to pads, as diffusers does), folders of the older layout still loading, and the
// shipped models in the current layout.
import { deepStrictEqual, equal, notDeepStrictEqual } from "node:assert/strict";
import { loadCheckpoint } from "../../lib/io/checkpoint.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { sinusoidalPositions } from "../../lib/nn/temporal.ts";
import { upgradeToyFolder } from "../../lib/nn/folder_upgrade.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { TextToVideo } from "../../lib/nn/pipeline_video.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { gpu, host, seeded } from "../_helpers.ts";
import { TINY_SD, TINY_SD_MOTION } from "../_fixtures.ts";

const UNET = {
  sample_size: 8,
  block_out_channels: [8, 16],
  norm_num_groups: 4,
  cross_attention_dim: 8,
  attention_head_dim: 2,
};
const TEXT = { num_hidden_layers: 1, num_attention_heads: 2 };
const keys = async (path: string) => Object.keys(JSON.parse(await Deno.readTextFile(path))).sort();
const json = async (path: string) => JSON.parse(await Deno.readTextFile(path));

Deno.test("toy folders: diffusers' and transformers' config keys, model_index, word tokenizer file, pe buffers", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-folder-" });
  try {
    const img = TextToImage.create(ctx, { unet: UNET, text: TEXT, maxLength: 8 });
    await img.save(`${dir}/img`);
    deepStrictEqual(await keys(`${dir}/img/unet/config.json`), await keys(`${TINY_SD}/unet/config.json`));
    deepStrictEqual(
      await keys(`${dir}/img/text_encoder/config.json`),
      (await keys(`${TINY_SD}/text_encoder/config.json`)).concat("dropout").sort(),
    );
    deepStrictEqual(
      await keys(`${dir}/img/scheduler/scheduler_config.json`),
      await keys(`${TINY_SD}/scheduler/scheduler_config.json`),
    );
    const te = await json(`${dir}/img/text_encoder/config.json`);
    deepStrictEqual([te.model_type, te.bos_token_id, te.eos_token_id, te.pad_token_id], [
      "clip_text_model",
      1,
      2,
      0,
    ]);
    const idx = await json(`${dir}/img/model_index.json`);
    deepStrictEqual(idx.tokenizer, ["seppo", "WordTokenizer"]);
    equal(idx._diffusers_version, "0.30.3");
    equal(idx.mask_pad_tokens, true);
    const files = Object.keys((await loadCheckpoint(host, `${dir}/img`)).files);
    equal(files.includes("tokenizer/word_tokenizer.json"), true);
    equal(files.includes("tokenizer/tokenizer.json"), false); // Hugging Face's name, another schema
    equal((await json(`${dir}/img/unet/config.json`)).num_attention_heads, null);

    const vid = TextToVideo.fromImageModel(ctx, img, 3, { motion: { motion_num_attention_heads: 2 } });
    await vid.save(`${dir}/vid`);
    const cfg = await json(`${dir}/vid/unet/config.json`);
    deepStrictEqual(Object.keys(cfg).sort(), await keys(`${TINY_SD_MOTION}/golden/unet_motion_config.json`));
    deepStrictEqual([cfg.num_attention_heads, cfg.motion_num_attention_heads], [2, 2]);
    equal((await json(`${dir}/vid/model_index.json`)).num_frames, 3);
    const { tensors } = await readSafetensors(host, `${dir}/vid/unet/diffusion_pytorch_model.safetensors`);
    const pe = [...tensors.values()].filter((t) => t.name.endsWith(".pos_embed.pe"));
    equal(pe.length, 7); // one per motion module: 2 down, 1 mid, 2 x 2 up
    const mid = tensors.get("mid_block.motion_modules.0.transformer_blocks.0.pos_embed.pe")!;
    deepStrictEqual([mid.dtype, mid.shape], ["F32", [1, 32, 16]]);
    deepStrictEqual(mid.data, sinusoidalPositions(32, 16));
    const back = await TextToVideo.load(ctx, `${dir}/vid`);
    deepStrictEqual(await back.unet.stateDict(), await vid.unet.stateDict());
    equal(back.frames, 3);
    back.dispose();
    vid.dispose();
    img.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pad masking is a model option: off equals the unmasked UNet (diffusers); on differs; saved and read", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-mask-" });
  try {
    const on = TextToImage.create(ctx, { unet: UNET, text: TEXT, maxLength: 8, seed: 2 });
    const off = new TextToImage(on.tokenizer, on.textEncoder, on.unet, on.schedule.config, false);
    const eps = (m: TextToImage, mask: boolean) =>
      ctx.scope(async () => {
        const x = tensor(ctx, seeded(3 * 64, 1), [1, 3, 8, 8]);
        const c = m.encode(ctx, ["a red circle"]);
        return await m.unet.forward(ctx, x, [400], c.hidden, mask ? c.mask : null).read();
      });
    deepStrictEqual(await eps(off, true), await eps(off, false));
    notDeepStrictEqual(await eps(on, true), await eps(on, false));
    await off.save(`${dir}/off`);
    equal((await json(`${dir}/off/model_index.json`)).mask_pad_tokens, false);
    const back = await TextToImage.load(ctx, `${dir}/off`);
    equal(back.maskPadTokens, false);
    back.dispose();
    on.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("folders in the older layout load, and upgrade-folder rewrites them with the weights bit for bit", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-legacy-" });
  try {
    const img = TextToImage.create(ctx, { unet: UNET, text: TEXT, maxLength: 8 });
    const vid = TextToVideo.fromImageModel(ctx, img, 2, { motion: { motion_num_attention_heads: 2 } });
    await vid.save(`${dir}/v`, { "notes.txt": "kept" }, "F16");
    // The old layout: tokenizer.json, no index keys, attention_head_dim + num_attention_heads null and
    // num_frames in the unet config, no pe buffers.
    await Deno.rename(`${dir}/v/tokenizer/word_tokenizer.json`, `${dir}/v/tokenizer/tokenizer.json`);
    const idx = await json(`${dir}/v/model_index.json`);
    delete idx.mask_pad_tokens;
    delete idx.num_frames;
    await Deno.writeTextFile(`${dir}/v/model_index.json`, JSON.stringify(idx));
    const cfg = await json(`${dir}/v/unet/config.json`);
    Object.assign(cfg, {
      attention_head_dim: cfg.num_attention_heads,
      num_attention_heads: null,
      num_frames: 2,
    });
    await Deno.writeTextFile(`${dir}/v/unet/config.json`, JSON.stringify(cfg));
    const old = await TextToVideo.load(ctx, `${dir}/v`);
    deepStrictEqual([old.frames, old.maskPadTokens, old.unet.config.attention_head_dim], [2, true, 2]);
    deepStrictEqual(
      await old.unet.stateDict(),
      await (await TextToVideo.load(ctx, `${dir}/v`)).unet.stateDict(),
    );
    old.dispose();
    await upgradeToyFolder(ctx, `${dir}/v`); // throws if any tensor's bits changed
    equal(await Deno.readTextFile(`${dir}/v/notes.txt`), "kept");
    equal((await json(`${dir}/v/model_index.json`)).num_frames, 2);
    equal((await json(`${dir}/v/unet/config.json`)).num_attention_heads, 2);
    vid.dispose();
    img.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the shipped models are in the current layout", async () => {
  for (const d of ["models/base-shapes-16", "models/base-moving-shapes-16"]) {
    const idx = await json(`${d}/model_index.json`);
    equal(idx.mask_pad_tokens, true, d);
    const ck = await loadCheckpoint(host, d);
    equal("tokenizer/word_tokenizer.json" in ck.files, true, d);
    equal(ck.components.unet.config.num_attention_heads !== undefined, true, d);
  }
  equal((await json("models/base-moving-shapes-16/unet/config.json")).num_attention_heads, 4);
  equal((await json("models/base-moving-shapes-16/model_index.json")).num_frames, 8);
});
