// LoRA: the adapted Linear against a float64 reference (output, gradients of x, down and up; none for
// the frozen base), tiny-sd's LoRA in both key formats merged at scale 1 and 0.5 and applied unmerged
// against diffusers' goldens (10x their float32 floor), and the file we write read back.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { backward } from "../../lib/autograd/backward.ts";
import { encodeSafetensors, parseSafetensors } from "../../lib/io/safetensors.ts";
import { Linear } from "../../lib/nn/layers.ts";
import { loraKey, LoraSet, loraTargets, LoraUNet } from "../../lib/nn/lora.ts";
import { rootInit } from "../../lib/nn/module.ts";
import { loadUNetFolder } from "../../lib/nn/pipeline.ts";
import { UNet2DConditionModel } from "../../lib/nn/unet.ts";
import { RefTape } from "../../lib/ref/unet.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu, randNd, upload } from "../_helpers.ts";
import { assertGolden, golden, TINY_SD } from "../_fixtures.ts";

Deno.test("LoRA Linear: y = x W^T + b + s (x D^T) U^T, gradients for x, D, U vs float64", async () => {
  const ctx = await gpu();
  for (const [rows, inF, outF, r] of [[1, 3, 5, 1], [7, 9, 17, 3], [65, 33, 8, 4]]) {
    const lin = new Linear(rootInit(ctx, 3, "l"), inF, outF);
    lin.weight.requiresGrad = false;
    lin.bias!.requiresGrad = false;
    const x = randNd([rows, inF], 1),
      d = randNd([r, inF], 2),
      u = randNd([outF, r], 3),
      g = randNd([rows, outF], 4);
    const s = 0.75;
    const T = new RefTape();
    const w = await lin.weight.read(), b = await lin.bias!.read();
    const xr = T.leaf(x), dr = T.leaf(d), ur = T.leaf(u);
    const wr = T.leaf({ data: Float64Array.from(w), shape: [outF, inF] }),
      br = T.leaf({ data: Float64Array.from(b), shape: [outF] });
    const yr = T.add(
      T.linear(xr, wr, br),
      T.scale(T.matmul(T.matmul(xr, dr, false, true), ur, false, true), s),
    );
    T.backward(yr, g);
    await ctx.scope(async () => {
      const xt = upload(ctx, x, true), dt = upload(ctx, d, true), ut = upload(ctx, u, true);
      lin.lora = { down: dt, up: ut, scale: s };
      const y = lin.forward(ctx, xt);
      assertClose(await y.read(), yr.v.data, `lora forward ${rows}x${inF}->${outF} r${r}`, 1e-5, 1e-4);
      backward(ctx, y, { grad: upload(ctx, g) });
      assertClose(await xt.grad!.read(), xr.g!.data, "lora d x", 1e-5, 1e-4);
      assertClose(await dt.grad!.read(), dr.g!.data, "lora d down", 1e-5, 1e-4);
      assertClose(await ut.grad!.read(), ur.g!.data, "lora d up", 1e-5, 1e-4);
      equal(lin.weight.grad, null);
    });
    lin.dispose();
  }
});

const UNET = `${TINY_SD}/golden/unet.safetensors`, LORA = `${TINY_SD}/golden/lora.safetensors`;

Deno.test("LoRA (tiny-sd): unmerged at scale 1 and 0.5 and merged match diffusers; both key formats", async () => {
  const ctx = await gpu();
  const unet = await loadUNetFolder(ctx, `${TINY_SD}/unet`);
  const set = await LoraSet.load(ctx, unet, `${TINY_SD}/lora/pytorch_lora_weights.safetensors`);
  deepStrictEqual([set.layers.length, set.rank, set.alpha], [88, 4, 4]);
  deepStrictEqual(
    [...loraTargets(unet, ["to_q", "to_k", "to_v", "to_out.0"]).keys()].sort(),
    set.layers.map((l) => l.name).sort(),
  );
  // peft's key format holds the same tensors.
  const peft = await LoraSet.load(ctx, unet, `${TINY_SD}/lora/pytorch_lora_weights_peft_keys.safetensors`);
  const a = set.tensors(), b = peft.tensors();
  deepStrictEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [k, t] of a) deepStrictEqual(await b.get(k)!.read(), await t.read(), k);
  peft.dispose();
  const run = async (
    m: { forward: UNet2DConditionModel["forward"] },
    name: string,
    ts: number[],
    want: string,
  ) =>
    await ctx.scope(async () => {
      const x = await golden(UNET, `${name}_sample`), h = await golden(UNET, `${name}_encoder_hidden_states`);
      const eps = ctx.noGrad(() =>
        m.forward(ctx, tensor(ctx, x.data, x.shape), ts, tensor(ctx, h.data, h.shape))
      );
      await assertGolden(LORA, { dir: TINY_SD, group: "lora" }, want, await eps.read());
    });
  for (const scale of [1, 0.5]) {
    const s = scale === 1 ? "1" : "0.5";
    const adapted = new LoraUNet(unet, set, scale); // unmerged, the peft way: base(x) + scale * up(down(x))
    await run(adapted, "case1", [1, 999], `case1_scale${s}_noise_pred`);
    await run(adapted, "case2", [500, 250], `case2_scale${s}_noise_pred`);
  }
  // Merged into the weights (diffusers' fuse_lora) at 0.5, then the plain UNet.
  set.merge(ctx, 0.5);
  set.deactivate();
  await run(unet, "case2", [500, 250], "case2_scale0.5_noise_pred");
  set.dispose();
  unet.dispose();
});

Deno.test("LoRA file: diffusers keys, alpha folded into up, conv-shaped layers, bad keys refused", async () => {
  const ctx = await gpu();
  const unet = new UNet2DConditionModel(rootInit(ctx, 1), {
    block_out_channels: [8, 16],
    norm_num_groups: 4,
    cross_attention_dim: 8,
    attention_head_dim: 2,
    use_linear_projection: false,
  });
  const set = LoraSet.create(ctx, unet, { rank: 2, alpha: 6, targets: ["to_q", "proj_in"] }, 3);
  // up starts at 0 (the adapted UNet equals its base); give it values to see the round trip.
  for (const l of set.layers) {
    ctx.write(l.up.buffer, Float32Array.from(randNd(l.up.shape as number[], 9).data));
  }
  const list = await set.fileTensors(ctx);
  const bytes = encodeSafetensors(list, { metadata: { format: "pt" } });
  const { tensors } = parseSafetensors(bytes, "mem");
  equal(tensors.get("unet.mid_block.attentions.0.proj_in.lora.down.weight")!.shape.join("x"), "2x16x1x1");
  const back = LoraSet.fromEntries(ctx, unet, tensors, "mem");
  deepStrictEqual([back.rank, back.alpha], [2, 2]);
  await ctx.scope(async () => {
    const x = tensor(ctx, Float32Array.from(randNd([1, 3, 8, 8], 1).data), [1, 3, 8, 8]);
    const h = tensor(ctx, Float32Array.from(randNd([1, 5, 8], 2).data), [1, 5, 8]);
    const a = await ctx.noGrad(() => new LoraUNet(unet, set).forward(ctx, x, [10], h)).read();
    const b = await ctx.noGrad(() => new LoraUNet(unet, back).forward(ctx, x, [10], h)).read();
    assertClose(b, a, "reloaded LoRA (alpha 6, rank 2) gives the same output", 1e-6, 1e-5);
  });
  deepStrictEqual(loraKey("unet.a.attn1.processor.to_out_lora.up.weight"), {
    layer: "a.attn1.to_out.0",
    part: "up",
  });
  deepStrictEqual(loraKey("unet.a.to_k.lora_A.weight"), { layer: "a.to_k", part: "down" });
  equal(loraKey("text_encoder.text_model.x.lora_A.weight"), null);
  throws(
    () =>
      LoraSet.fromEntries(
        ctx,
        unet,
        new Map([["lora_unet_x.lora_down.weight", { shape: [1], data: new Float32Array(1) }]]),
        "k.safetensors",
      ),
    /k.safetensors: tensor lora_unet_x.lora_down.weight is not a UNet LoRA weight/,
  );
  throws(
    () => LoraSet.create(ctx, unet, { rank: 2, alpha: 2, targets: ["nope"] }),
    /no Linear layer matches/,
  );
  back.dispose();
  set.dispose();
  unet.dispose();
});
