import assert from "node:assert/strict";
import { Rng } from "../../lib/util/rng.ts";
import type { ClipAttrs } from "../../lib/world/attrs.ts";
import { renderClip, renderScene } from "../../lib/world/shapes.ts";
import { scoreClip } from "../../lib/eval/score_video.ts";
import { randomClip } from "./_scenes.ts";
import { host } from "../_helpers.ts";

const clip: ClipAttrs = {
  background: "yellow",
  color: "blue",
  shape: "circle",
  size: "large",
  position: "center",
  motion: "right",
};

for (const size of [16, 32]) {
  Deno.test(`motion direction is read from clean ${size}x${size} clips`, async () => {
    const rng = new Rng(100 + size);
    const n = size === 16 ? 200 : 100;
    let right = 0, frame = 0;
    for (let i = 0; i < n; i++) {
      const a = randomClip(rng);
      const s = scoreClip(await renderClip(host, a, size, 8, rng.fork(i)), size, a);
      right += s.motion / n;
      frame += s.frame / n;
      assert.equal(s.dynamic, 1);
    }
    assert.ok(right >= 0.99, `motion accuracy ${right}`);
    assert.ok(frame > 0.99, `per-frame score ${frame}`);
  });
}

Deno.test("a static clip has no motion, perfect flicker, and is not dynamic", async () => {
  const still = await renderScene(host, clip, 16, new Rng(1));
  const s = scoreClip(Array.from({ length: 8 }, () => still), 16, clip);
  assert.equal(s.readMotion, "none");
  assert.equal(s.motion, 0);
  assert.equal(s.flicker, 1);
  assert.equal(s.smoothness, 1);
  assert.equal(s.dynamic, 0);
  assert.equal(s.consistency, 1);
  assert.ok(s.frame > 0.99);
});

Deno.test("reversed motion scores 0, growth is read, jerks lower smoothness", async () => {
  const frames = await renderClip(host, clip, 16, 8, null);
  assert.equal(scoreClip(frames, 16, { ...clip, motion: "left" }).motion, 0);
  const smooth = scoreClip(frames, 16, clip);
  assert.equal(smooth.motion, 1);
  const jerky = [...frames];
  [jerky[3], jerky[4]] = [jerky[4], jerky[3]];
  assert.ok(scoreClip(jerky, 16, clip).smoothness < smooth.smoothness - 0.005);
  const grow: ClipAttrs = { ...clip, size: "small", growth: "grow" };
  const g = scoreClip(await renderClip(host, grow, 16, 8, null), 16, grow);
  assert.equal(g.readGrowth, "grow");
  assert.equal(g.growth, 1);
  assert.ok(Number.isNaN(g.size));
  assert.equal(
    scoreClip(await renderClip(host, grow, 16, 8, null), 16, { ...grow, growth: "shrink" }).growth,
    0,
  );
});

Deno.test("psnr/ssim against the reference: perfect on the clean render, lower with noise", async () => {
  const ref = await renderClip(host, clip, 16, 8, new Rng(9));
  const s = scoreClip(ref, 16, clip, ref);
  assert.equal(s.psnr, 100);
  assert.ok(Math.abs(s.ssim - 1) < 1e-9);
  const rng = new Rng(2);
  const noisy = ref.map((f) => f.map((v) => Math.max(0, Math.min(255, v + 25 * rng.normal()))));
  const t = scoreClip(noisy, 16, clip, ref);
  assert.ok(t.psnr < 25 && t.ssim < 0.9, `psnr ${t.psnr} ssim ${t.ssim}`);
  assert.ok(t.flicker < s.flicker);
});
