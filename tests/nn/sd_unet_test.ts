// The UNets of the diffusers-made fixtures, run by our modules and compared with diffusers 0.30.3's
// outputs: tiny-sd's UNet2DConditionModel (SD-1.5's block structure in small, no pad masking, as
// diffusers runs it) and tiny-sd-motion's MotionAdapter on that UNet (UNetMotionModel.from_unet2d).
// Tolerance: 10x the recorded float32 noise floor of each tensor (tests/_fixtures.ts).
import { equal } from "node:assert/strict";
import { permute } from "../../lib/ops/copy.ts";
import { loadWithMotionAdapter } from "../../lib/nn/motion_adapter.ts";
import { loadUNetFolder } from "../../lib/nn/pipeline.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { gpu } from "../_helpers.ts";
import { assertGolden, golden, goldenJson, TINY_SD, TINY_SD_MOTION } from "../_fixtures.ts";

const UNET = `${TINY_SD}/golden/unet.safetensors`;
const MOTION = `${TINY_SD_MOTION}/golden/unet_motion.safetensors`;

Deno.test("UNet2DConditionModel (tiny-sd): noise predictions match diffusers", async () => {
  const ctx = await gpu();
  const unet = await loadUNetFolder(ctx, `${TINY_SD}/unet`);
  equal(unet.numParams(), 2_164_452);
  const g = await goldenJson<{ cases: { name: string; timesteps: number[] }[] }>(
    `${TINY_SD}/golden/unet.json`,
  );
  for (const c of g.cases) {
    await ctx.scope(async () => {
      const x = await golden(UNET, `${c.name}_sample`),
        h = await golden(UNET, `${c.name}_encoder_hidden_states`);
      const eps = ctx.noGrad(() =>
        unet.forward(ctx, tensor(ctx, x.data, x.shape), c.timesteps, tensor(ctx, h.data, h.shape))
      );
      await assertGolden(UNET, { dir: TINY_SD, group: "unet" }, `${c.name}_noise_pred`, await eps.read());
    });
  }
  unet.dispose();
});

Deno.test("UNetMotionModel from tiny-sd's UNet + tiny-sd-motion's MotionAdapter matches diffusers", async () => {
  const ctx = await gpu();
  const m = await loadWithMotionAdapter(ctx, `${TINY_SD}/unet`, `${TINY_SD_MOTION}/motion_adapter`);
  // from_unet2d's state dict: 494 tensors from the 2D UNet, 432 from the adapter, less the
  // pos_embed.pe buffers of its 16 motion modules (computed here, not parameters).
  equal(m.parameters().size, 494 + 432 - 16);
  equal(m.config.motion_num_attention_heads, 4);
  const g = await goldenJson<{ cases: { name: string; timesteps: number[] }[] }>(
    `${TINY_SD_MOTION}/golden/unet_motion.json`,
  );
  for (const c of g.cases) {
    await ctx.scope(async () => {
      const x = await golden(MOTION, `${c.name}_sample`),
        h = await golden(MOTION, `${c.name}_encoder_hidden_states`);
      // diffusers' [B, C, F, H, W] <-> our [B, F, C, H, W].
      const eps = ctx.noGrad(() => {
        const ours = permute(ctx, tensor(ctx, x.data, x.shape), [0, 2, 1, 3, 4]);
        return permute(ctx, m.forward(ctx, ours, c.timesteps, tensor(ctx, h.data, h.shape)), [0, 2, 1, 3, 4]);
      });
      await assertGolden(
        MOTION,
        { dir: TINY_SD_MOTION, group: null },
        `${c.name}_noise_pred`,
        await eps.read(),
      );
    });
  }
  m.dispose();
});
