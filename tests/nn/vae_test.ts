// AutoencoderKL: encode and decode against the float64 reference (outputs, input and parameter
// gradients) at small awkward sizes, config keys by name, and tiny-sd's VAE against diffusers' goldens
// (latent mean / logvar / std, the scaled mean SD feeds the UNet, decode) within 10x their float32 floor.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { rootInit } from "../../lib/nn/module.ts";
import { AutoencoderKL, vaeConfig, vaeConfigJson, vaeCurrentNames } from "../../lib/nn/vae.ts";
import { concat } from "../../lib/ops/copy.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { gpu, host, randNd } from "../_helpers.ts";
import { assertGolden, golden, TINY_SD } from "../_fixtures.ts";
import { compareModule } from "./_compare.ts";
import { refVaeDecode, refVaeMoments } from "./_ref_vae.ts";

// Odd latent channels, groups of 3, two levels, one layer: every VAE path at a size the reference runs.
const SMALL = vaeConfig({
  block_out_channels: [6, 9],
  norm_num_groups: 3,
  latent_channels: 3,
  layers_per_block: 1,
  down_block_types: ["DownEncoderBlock2D", "DownEncoderBlock2D"],
  up_block_types: ["UpDecoderBlock2D", "UpDecoderBlock2D"],
});

Deno.test("AutoencoderKL encode (moments) and decode match the float64 reference, forward and backward", async () => {
  const ctx = await gpu();
  const vae = new AutoencoderKL(rootInit(ctx, 5), SMALL);
  await compareModule(
    ctx,
    "vae encode",
    vae,
    [randNd([2, 3, 6, 10], 11)],
    ([x]) => {
      const d = vae.encode(ctx, x);
      return concat(ctx, [d.mean, d.logvar], 1);
    },
    (P, [x]) => refVaeMoments(P, SMALL, x),
    { atol: 1e-4, rtol: 1e-3, params: (k) => k.startsWith("encoder.") || k.startsWith("quant_conv.") },
  );
  await compareModule(
    ctx,
    "vae decode",
    vae,
    [randNd([1, 3, 3, 5], 12)],
    ([z]) => vae.decode(ctx, z),
    (P, [z]) => refVaeDecode(P, SMALL, z),
    { atol: 1e-4, rtol: 1e-3, params: (k) => k.startsWith("decoder.") || k.startsWith("post_quant_conv.") },
  );
  vae.dispose();
});

Deno.test("AutoencoderKL (tiny-sd): encode and decode match diffusers", async () => {
  const ctx = await gpu();
  const c = vaeConfig(JSON.parse(await Deno.readTextFile(`${TINY_SD}/vae/config.json`)), "vae/config.json");
  const vae = new AutoencoderKL(rootInit(ctx, 0), c);
  equal(vae.numParams(), 658_375);
  const { tensors } = await readSafetensors(host, `${TINY_SD}/vae/diffusion_pytorch_model.safetensors`);
  vae.loadStateDict(tensors);
  const FILE = `${TINY_SD}/golden/vae.safetensors`, FLOOR = { dir: TINY_SD, group: "vae" };
  await ctx.scope(async () => {
    const x = await golden(FILE, "encode_images"), z = await golden(FILE, "decode_latents");
    const out = ctx.noGrad(() => {
      const xt = tensor(ctx, x.data, x.shape);
      const d = vae.encode(ctx, xt);
      return {
        mean: d.mean,
        logvar: d.logvar,
        std: vae.std(ctx, d),
        scaled: vae.encodeLatents(ctx, xt),
        decoded: vae.decode(ctx, tensor(ctx, z.data, z.shape)),
      };
    });
    await assertGolden(FILE, FLOOR, "latent_mean", await out.mean.read());
    await assertGolden(FILE, FLOOR, "latent_logvar", await out.logvar.read());
    await assertGolden(FILE, FLOOR, "latent_std", await out.std.read());
    await assertGolden(FILE, FLOOR, "scaled_latent_mean", await out.scaled.read());
    await assertGolden(FILE, FLOOR, "decoded", await out.decoded.read());
  });
  vae.dispose();
});

Deno.test("AutoencoderKL config: keys by name, what we write reads back; old attention names", () => {
  const c = vaeConfig({ scaling_factor: 0.13025, force_upcast: false, latents_mean: null });
  equal(c.scaling_factor, 0.13025);
  deepStrictEqual(vaeConfig(vaeConfigJson(c)), c);
  throws(
    () => vaeConfig({ latents_mean: [0, 0, 0, 0] }, "v"),
    /v: latents_mean = \[0,0,0,0\] is not supported/,
  );
  throws(
    () => vaeConfig({ down_block_types: ["X"] }, "v"),
    /v: down_block_types = \["X"\] must list 4 blocks/,
  );
  throws(() => vaeConfig({ norm_type: "spatial" }, "v"), /v: unknown key norm_type/);
  throws(
    () => vaeConfig({ block_out_channels: [128, 250, 512, 512] }, "v"),
    /block_out_channels .* multiples of/,
  );
  equal(
    vaeCurrentNames("encoder.mid_block.attentions.0.proj_attn.weight"),
    "encoder.mid_block.attentions.0.to_out.0.weight",
  );
  equal(
    vaeCurrentNames("decoder.mid_block.attentions.0.query.bias"),
    "decoder.mid_block.attentions.0.to_q.bias",
  );
});
