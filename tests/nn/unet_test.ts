// UNet2DConditionModel: diffusers parameter names and shapes (an SD-1.5-shaped config at small width),
// forward and backward against the float64 reference, loading a diffusers UNet folder.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { writeSafetensors } from "../../lib/io/safetensors.ts";
import { rootInit } from "../../lib/nn/module.ts";
import { loadUNetFolder } from "../../lib/nn/pipeline.ts";
import { describeUNet, UNet2DConditionModel } from "../../lib/nn/unet.ts";
import { TINY_UNET, unetConfig } from "../../lib/nn/unet_config.ts";
import { TextTimeEmbedding } from "../../lib/nn/text_time.ts";
import type { Nd } from "../../lib/ref/nd.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { checkVjp, gpu, host, randNd } from "../_helpers.ts";
import { compareModule } from "./_compare.ts";
import { RefParams, RefTape } from "./_ref_model.ts";
import { refTextTimeEmbedding, refUNet } from "./_ref_unet.ts";

/** SD-1.5's UNet config with the widths divided by 20 (and matching groups / cross dim). */
const SD15_SMALL = {
  _class_name: "UNet2DConditionModel",
  _diffusers_version: "0.6.0",
  act_fn: "silu",
  attention_head_dim: 8,
  block_out_channels: [16, 32, 64, 64],
  center_input_sample: false,
  cross_attention_dim: 24,
  down_block_types: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 8,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  upcast_attention: false,
  dual_cross_attention: false,
  use_linear_projection: false,
  class_embed_type: null,
};

Deno.test("SD-1.5-shaped config: 686 tensors with diffusers names and shapes", async () => {
  const ctx = await gpu();
  const u = new UNet2DConditionModel(rootInit(ctx, 0), SD15_SMALL);
  const p = u.parameters();
  equal(p.size, 686); // as in runwayml/stable-diffusion-v1-5 unet/diffusion_pytorch_model.safetensors
  const shape = (k: string) => {
    if (!p.has(k)) throw new Error(`missing ${k}`);
    return p.get(k)!.shape.join("x");
  };
  // SD-1.5 shapes divided by 20 in every channel axis (320 -> 16, 768 -> 24 for the cross dim).
  equal(shape("conv_in.weight"), "16x4x3x3");
  equal(shape("time_embedding.linear_1.weight"), "64x16");
  equal(shape("time_embedding.linear_2.bias"), "64");
  equal(shape("down_blocks.0.resnets.0.conv1.weight"), "16x16x3x3");
  equal(shape("down_blocks.0.resnets.1.time_emb_proj.weight"), "16x64");
  equal(shape("down_blocks.0.attentions.0.proj_in.weight"), "16x16x1x1");
  equal(shape("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"), "16x24");
  equal(shape("down_blocks.0.attentions.1.transformer_blocks.0.ff.net.0.proj.weight"), "128x16");
  equal(shape("down_blocks.0.attentions.1.transformer_blocks.0.ff.net.2.weight"), "16x64");
  equal(shape("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.bias"), "16");
  equal(shape("down_blocks.0.downsamplers.0.conv.weight"), "16x16x3x3");
  equal(shape("down_blocks.1.resnets.0.conv_shortcut.weight"), "32x16x1x1");
  equal(shape("down_blocks.3.resnets.1.conv2.weight"), "64x64x3x3");
  equal(shape("mid_block.attentions.0.transformer_blocks.0.norm3.weight"), "64");
  equal(shape("mid_block.resnets.1.norm2.bias"), "64");
  equal(shape("up_blocks.0.resnets.0.conv1.weight"), "64x128x3x3");
  equal(shape("up_blocks.0.upsamplers.0.conv.weight"), "64x64x3x3");
  equal(shape("up_blocks.1.resnets.2.conv1.weight"), "64x96x3x3");
  equal(shape("up_blocks.3.resnets.0.conv1.weight"), "16x48x3x3");
  equal(shape("up_blocks.3.resnets.2.conv_shortcut.weight"), "16x32x1x1");
  equal(shape("up_blocks.3.attentions.2.proj_out.bias"), "16");
  equal(shape("conv_norm_out.weight"), "16");
  equal(shape("conv_out.weight"), "4x16x3x3");
  equal(
    ["down_blocks.3.downsamplers.0.conv.weight", "up_blocks.3.upsamplers.0.conv.weight"].some((k) =>
      p.has(k)
    ),
    false,
  );
  console.log(describeUNet(u));
  u.dispose();
});

Deno.test("config validation quotes the key, the value and the source", () => {
  throws(
    () => unetConfig({ ...SD15_SMALL, attention_head_dim: 5 }, "unet/config.json"),
    /unet\/config.json: attention_head_dim = 5/,
  );
  throws(
    () => unetConfig({ ...SD15_SMALL, class_embed_type: "timestep" }),
    /class_embed_type = "timestep" is not supported/,
  );
  throws(() => unetConfig({ block_out_chanels: [32] }), /unknown key block_out_chanels/);
  // addition_embed_type: only "text" is modelled; its heads must divide cross_attention_dim.
  throws(
    () => unetConfig({ ...SD15_SMALL, addition_embed_type: "text_time" }, "unet/config.json"),
    /unet\/config.json: addition_embed_type = "text_time" is not supported/,
  );
  throws(
    () => unetConfig({ ...SD15_SMALL, addition_embed_type: "text" }), // diffusers' 64 heads, cross dim 24
    /addition_embed_type_num_heads = 64 does not divide cross_attention_dim 24/,
  );
  throws(
    () => unetConfig({ addition_embed_type: "text", addition_embed_type_num_heads: 0 }),
    /addition_embed_type_num_heads = 0 must be a positive integer/,
  );
  // Unused heads are not checked against the cross dim (SD-1.5 configs carry diffusers' default 64).
  equal(unetConfig({ ...SD15_SMALL, addition_embed_type_num_heads: 64 }).addition_embed_type, null);
  equal(
    unetConfig({ ...SD15_SMALL, addition_embed_type: "text", addition_embed_type_num_heads: 8 })
      .addition_embed_type_num_heads,
    8,
  );
  throws(() => unetConfig({ up_block_types: ["UpBlock2D"] }), /up_block_types/);
});

const TINY_REF = {
  ...TINY_UNET,
  sample_size: 8,
  block_out_channels: [8, 16],
  norm_num_groups: 4,
  cross_attention_dim: 6,
  attention_head_dim: 2,
};

/**
 * UNet forward/backward against refUNet at TINY_REF's size, batch 2 with 4 context tokens and a key
 * mask (the second example has two padding tokens).
 */
async function compareUNetWithRef(
  name: string,
  cfg: ReturnType<typeof unetConfig>,
  initSeed: number,
  inputSeeds: [number, number],
) {
  const ctx = await gpu();
  const u = new UNet2DConditionModel(rootInit(ctx, initSeed), cfg);
  const [B, L] = [2, 4];
  const ts = [3, 811];
  const mask = { data: Float64Array.from([1, 1, 1, 0, 1, 1, 0, 0]), shape: [B, L] };
  const maskT = tensor(ctx, Float32Array.from(mask.data), [B, L]);
  await compareModule(
    ctx,
    name,
    u,
    [randNd([B, 3, 8, 8], inputSeeds[0]), randNd([B, L, 6], inputSeeds[1])],
    ([x, h]) => u.forward(ctx, x, ts, h, maskT),
    (P, [x, h]) => refUNet(P, cfg, x, ts, h, mask),
    { atol: 2e-4, rtol: 2e-3 },
  );
  maskT.dispose();
  u.dispose();
}

Deno.test("tiny default UNet forward/backward matches the float64 reference (with key mask)", async () => {
  await compareUNetWithRef("unet", unetConfig(TINY_REF), 11, [5, 6]);
});

Deno.test("a diffusers UNet folder (config.json + safetensors) loads with identical outputs", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-unet-" });
  const cfg = {
    ...TINY_UNET,
    sample_size: 8,
    block_out_channels: [8, 16],
    norm_num_groups: 4,
    attention_head_dim: 2,
  };
  const src = new UNet2DConditionModel(rootInit(ctx, 1), cfg);
  const sd = await src.stateDict();
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ _class_name: "UNet2DConditionModel", ...cfg }),
  );
  await writeSafetensors(
    host,
    `${dir}/diffusion_pytorch_model.safetensors`,
    [...sd].map(([name, e]) => ({ name, shape: [...e.shape], data: e.data })),
  );
  const dst = await loadUNetFolder(ctx, dir);
  const [a, b] = await ctx.scope(async () => {
    const x = tensor(ctx, randNd([1, 3, 8, 8], 2).data, [1, 3, 8, 8]);
    const h = tensor(ctx, randNd([1, 5, 64], 3).data, [1, 5, 64]);
    const [ya, yb] = ctx.noGrad(() => [src.forward(ctx, x, [10], h), dst.forward(ctx, x, [10], h)]);
    return [await ya.read(), await yb.read()];
  });
  deepStrictEqual(a, b);
  src.dispose();
  dst.dispose();
  await Deno.remove(dir, { recursive: true });
});

/** The tiny UNet of the reference comparisons, optionally with the pooled text embedding. */
Deno.test("without addition_embed_type the UNet is unchanged; with it, 13 add_embedding tensors", async () => {
  const ctx = await gpu();
  const plain = new UNet2DConditionModel(rootInit(ctx, 0), {});
  // Counted on the default UNet before addition_embed_type existed.
  equal(plain.parameters().size, 208);
  equal(plain.numParams(), 802_627);
  const text = new UNet2DConditionModel(rootInit(ctx, 0), {
    addition_embed_type: "text",
    addition_embed_type_num_heads: 4,
  });
  const p = text.parameters();
  const added = [...p.keys()].filter((k) => !plain.parameters().has(k));
  deepStrictEqual(added.map((k) => `${k} ${p.get(k)!.shape.join("x")}`), [
    "add_embedding.norm1.weight 64",
    "add_embedding.norm1.bias 64",
    "add_embedding.pool.positional_embedding 1x64",
    "add_embedding.pool.k_proj.weight 64x64",
    "add_embedding.pool.k_proj.bias 64",
    "add_embedding.pool.q_proj.weight 64x64",
    "add_embedding.pool.q_proj.bias 64",
    "add_embedding.pool.v_proj.weight 64x64",
    "add_embedding.pool.v_proj.bias 64",
    "add_embedding.proj.weight 128x64",
    "add_embedding.proj.bias 128",
    "add_embedding.norm2.weight 128",
    "add_embedding.norm2.bias 128",
  ]);
  equal(p.size, 208 + 13);
  // The image weights keep their values (init streams are per name).
  const a = await plain.stateDict(), b = await text.stateDict();
  for (const [k, e] of a) deepStrictEqual(b.get(k)!.data, e.data, k);
  // positional_embedding ~ randn / sqrt(64): std 1/8.
  const pos = b.get("add_embedding.pool.positional_embedding")!.data;
  const std = Math.sqrt(pos.reduce((s, v) => s + v * v, 0) / pos.length);
  equal(std > 0.08 && std < 0.17, true, `positional_embedding std ${std}`);
  plain.dispose();
  text.dispose();
});

Deno.test("float64 reference add_embedding: its gradients match finite differences", () => {
  const [B, L, D, E, heads] = [2, 3, 6, 8, 3];
  const shapes: [string, number[]][] = [
    ["norm1.weight", [D]],
    ["norm1.bias", [D]],
    ["pool.positional_embedding", [1, D]],
    ["pool.q_proj.weight", [D, D]],
    ["pool.q_proj.bias", [D]],
    ["pool.k_proj.weight", [D, D]],
    ["pool.k_proj.bias", [D]],
    ["pool.v_proj.weight", [D, D]],
    ["pool.v_proj.bias", [D]],
    ["proj.weight", [E, D]],
    ["proj.bias", [E]],
    ["norm2.weight", [E]],
    ["norm2.bias", [E]],
  ];
  const inputs = [randNd([B, L, D], 1), ...shapes.map(([, s], i) => randNd(s, 10 + i))];
  const run = (xs: Nd[]) => {
    const T = new RefTape();
    const P = new RefParams(T, new Map(shapes.map(([k], i) => [`add_embedding.${k}`, xs[i + 1]])));
    const h = T.leaf(xs[0]);
    return { T, P, h, y: refTextTimeEmbedding(P, "add_embedding", h, heads) };
  };
  checkVjp(
    "add_embedding",
    inputs,
    (xs) => run(xs).y.v,
    (xs, g) => {
      const { T, P, h, y } = run(xs);
      T.backward(y, g);
      return [h.g!, ...shapes.map(([k]) => P.leaves.get(`add_embedding.${k}`)!.g!)];
    },
    7,
    1e-6,
    1e-6,
  );
});

Deno.test("add_embedding at the shipped size (D=64, 4 heads, L=16, E=128) matches the float64 reference", async () => {
  const ctx = await gpu();
  const m = new TextTimeEmbedding(rootInit(ctx, 2, "add_embedding"), 64, 128, 4);
  await compareModule(
    ctx,
    "add_embedding",
    m,
    [randNd([3, 16, 64], 4)],
    ([h]) => m.forward(ctx, h),
    (P, [h]) => refTextTimeEmbedding(P, "add_embedding", h, 4),
  );
  m.dispose();
});

Deno.test("UNet with addition_embed_type text: forward/backward matches the float64 reference", async () => {
  // The pooling ignores the key mask (as diffusers'); cross-attention uses it.
  const cfg = unetConfig({ ...TINY_REF, addition_embed_type: "text", addition_embed_type_num_heads: 3 });
  await compareUNetWithRef("unet text", cfg, 12, [7, 8]);
});
