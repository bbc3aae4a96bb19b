// The training objective follows the scheduler's prediction_type end to end: a v_prediction bundle's
// denoiseErrors are mean((unet(x_t) - v)^2) with v computed here in float64, and the prediction type
// survives save/load of the bundle folder.
import assert from "node:assert/strict";
import { addNoise } from "../../lib/diffusion/noise.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { TINY_UNET } from "../_tiny.ts";
import { assertClose, gpu, seeded } from "../_helpers.ts";

Deno.test("v_prediction bundle: denoiseErrors regress onto v; prediction_type survives save/load", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-vpred-" });
  try {
    const m = TextToImage.create(ctx, {
      unet: { ...TINY_UNET, sample_size: 8 },
      text: { num_hidden_layers: 1, num_attention_heads: 2 },
      scheduler: {
        prediction_type: "v_prediction",
        rescale_betas_zero_snr: true,
        timestep_spacing: "trailing",
      },
    });
    const B = 3, per = 3 * 8 * 8, ts = [0, 500, 999];
    const x0 = seeded(B * per, 4), eps = seeded(B * per, 5);
    const [errs, out, xtRead] = await ctx.scope(async () => {
      const cond = ctx.noGrad(() => m.encode(ctx, ["a red circle", "a blue square", ""]));
      const X = tensor(ctx, x0, [B, 3, 8, 8]), E = tensor(ctx, eps, [B, 3, 8, 8]);
      const e = ctx.noGrad(() => m.denoiseErrors(ctx, X, E, ts, cond));
      const xt = ctx.noGrad(() => addNoise(ctx, m.schedule, X, E, ts));
      const o = ctx.noGrad(() => m.unet.forward(ctx, xt, ts, cond.hidden, cond.mask));
      return [await e.read(), await o.read(), await xt.read()];
    });
    assert.equal(xtRead.length, B * per);
    const want = Array.from({ length: B }, (_, b) => {
      const abar = m.schedule.alphasCumprod[ts[b]];
      let s = 0;
      for (let i = b * per; i < (b + 1) * per; i++) {
        const v = Math.sqrt(abar) * eps[i] - Math.sqrt(1 - abar) * x0[i];
        s += (out[i] - v) ** 2;
      }
      return s / per;
    });
    assertClose(errs, want, "v-prediction errors", 1e-5, 1e-4);
    await m.save(dir);
    m.dispose();
    const back = await TextToImage.load(ctx, dir);
    assert.equal(back.schedule.config.prediction_type, "v_prediction");
    assert.equal(back.schedule.config.rescale_betas_zero_snr, true);
    assert.equal(back.schedule.alphasCumprod[999], 0);
    back.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
