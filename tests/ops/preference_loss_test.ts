// The loss family kernel vs its float64 reference, all AAF modes and SFT; the reference's
// gradients vs finite differences; and end-to-end gradients through the tape.
import assert from "node:assert/strict";
import { backward } from "../../lib/autograd/backward.ts";
import { preferenceLoss } from "../../lib/ops/preference_loss.ts";
import { mean } from "../../lib/ops/reduce.ts";
import { type AafMode, preferenceLossRef } from "../../lib/ref/preference_loss.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu, seeded } from "../_helpers.ts";

const B = 67; // > one workgroup of 64

function errors(seed: number) {
  // Errors around 0.1-0.5 with differences of order 1e-3, as in diffusion training.
  const base = Array.from(seeded(B, seed, 0.1, 0.5));
  const jitter = (k: number) => Array.from(seeded(B, seed + k, -2e-3, 2e-3)).map((v, i) => base[i] + v);
  return [jitter(1), jitter(2), jitter(3), jitter(4)];
}

Deno.test("preference loss reference: gradients match finite differences", () => {
  const [a, b, c, d] = errors(1);
  for (const aaf of ["sign", "indicator", "off"] as AafMode[]) {
    const r = preferenceLossRef(a, b, c, d, 500, aaf);
    const h = 1e-7;
    for (const i of [0, 5, 33]) {
      const up = [...a], dn = [...a];
      up[i] += h;
      dn[i] -= h;
      // The AAF test is a step: only check away from its edge.
      if (Math.abs(a[i] - b[i]) < 1e-5) continue;
      const fdW = (preferenceLossRef(up, b, c, d, 500, aaf).loss[i] -
        preferenceLossRef(dn, b, c, d, 500, aaf).loss[i]) /
        (2 * h);
      assert.ok(
        Math.abs(fdW - r.dw[i]) < 1e-4 * Math.max(1, Math.abs(fdW)),
        `${aaf} dw[${i}] ${fdW} vs ${r.dw[i]}`,
      );
      const upL = [...c], dnL = [...c];
      upL[i] += h;
      dnL[i] -= h;
      const fdL = (preferenceLossRef(a, b, upL, d, 500, aaf).loss[i] -
        preferenceLossRef(a, b, dnL, d, 500, aaf).loss[i]) /
        (2 * h);
      assert.ok(
        Math.abs(fdL - r.dl[i]) < 1e-4 * Math.max(1, Math.abs(fdL)),
        `${aaf} dl[${i}] ${fdL} vs ${r.dl[i]}`,
      );
    }
  }
});

Deno.test("preference loss kernel vs reference: all AAF modes and SFT, forward and gradients", async () => {
  const ctx = await gpu();
  for (const mode of ["sign", "indicator", "off", "sft"] as const) {
    await ctx.scope(async () => {
      const [a, b, c, d] = errors(mode.length);
      const [ta, tb, tc, td] = [a, b, c, d].map((v) => tensor(ctx, v, [B]));
      ta.requiresGrad = true;
      tc.requiresGrad = true;
      const aaf = mode === "sft" ? "off" : mode;
      const out = preferenceLoss(ctx, ta, tb, tc, td, { beta: 2000, aaf, sft: mode === "sft" });
      const ref = preferenceLossRef(a, b, c, d, 2000, aaf, mode === "sft");
      assertClose(await out.loss.read(), ref.loss, `${mode} loss`, 1e-4, 1e-3);
      assertClose(await out.s.read(), ref.s, `${mode} s`, 0, 0);
      assertClose(await out.z.read(), ref.z, `${mode} z`, 1e-3, 1e-3);
      backward(ctx, mean(ctx, out.loss));
      assertClose(await ta.grad!.read(), ref.dw.map((v) => v / B), `${mode} dL/de(theta, x_w)`, 1e-5, 1e-3);
      assertClose(await tc.grad!.read(), ref.dl.map((v) => v / B), `${mode} dL/de(theta, x_l)`, 1e-5, 1e-3);
      if (mode === "sign") {
        assert.ok(ref.s.includes(-1) && ref.s.includes(1), "test data must exercise both AAF branches");
      }
    });
  }
});

Deno.test("preference loss refuses reference errors that carry gradients", async () => {
  const ctx = await gpu();
  await ctx.scope(() => {
    const t = tensor(ctx, [0.1, 0.2], [2]);
    const r = tensor(ctx, [0.1, 0.2], [2]);
    r.requiresGrad = true;
    assert.throws(() => preferenceLoss(ctx, t, r, t, t, { beta: 1, aaf: "sign" }), /without gradient/);
  });
});
