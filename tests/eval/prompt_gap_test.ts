import assert from "node:assert/strict";
import { promptGap } from "../../lib/eval/prompt_gap.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { gpu, seeded } from "../_helpers.ts";
import { TINY_UNET } from "../_tiny.ts";

const texts = ["a red circle", "a blue square on the left", "a big green diamond", "yellow background"];

Deno.test("promptGap: a prompt-blind model has gap exactly 0; a fresh one does not", async () => {
  const ctx = await gpu();
  const m = TextToImage.create(ctx, {
    seed: 3,
    unet: { ...TINY_UNET, sample_size: 16 },
    text: { num_hidden_layers: 1, num_attention_heads: 2 },
  });
  const images = Float32Array.from(seeded(texts.length * 3 * 16 * 16, 7));
  const ts = [100, 800];
  const fresh = await promptGap(ctx, m, images, texts, ts);
  assert.deepEqual(fresh.map((r) => r.t), ts);
  for (const r of fresh) {
    assert.ok(r.right > 0 && Number.isFinite(r.gap));
    assert.ok(Math.abs(r.shuffled - r.right) > 1e-7, `t=${r.t}: the fresh model ignores its prompt?`);
    assert.equal(r.alphaBar, m.schedule.alphasCumprod[r.t]);
  }
  // Cross-attention is the only way in for the prompt: zero its output projections.
  let zeroed = 0;
  for (const [name, p] of m.unet.parameters()) {
    if (name.includes("attn2.to_out")) {
      ctx.device.queue.writeBuffer(p.buffer, 0, new Float32Array(p.size));
      zeroed++;
    }
  }
  assert.ok(zeroed >= 2);
  for (const r of await promptGap(ctx, m, images, texts, ts)) {
    assert.equal(r.shuffled, r.right);
    assert.equal(r.empty, r.right);
    assert.equal(r.gap, 0);
  }
  await assert.rejects(() => promptGap(ctx, m, images.subarray(1), texts, ts), /promptGap: .* floats/);
  m.dispose();
});
