import assert from "node:assert/strict";
import { Rng } from "../../lib/util/rng.ts";
import { SCENE_FIELDS, type SceneAttrs } from "../../lib/world/attrs.ts";
import { renderScene } from "../../lib/world/shapes.ts";
import { readScene, scoreImage, scoreReading } from "../../lib/eval/score_image.ts";
import { randomScene } from "./_scenes.ts";
import { host } from "../_helpers.ts";

// Validation of the scorer (BENCHMARK.md): on clean renders it must read back >= 99% of every
// attribute; against a different prompt, the attributes that differ must score low.
for (const size of [16, 32]) {
  Deno.test(`scorer agrees with clean ${size}x${size} renders and rejects mismatched prompts`, async () => {
    const rng = new Rng(size);
    const n = size === 16 ? 600 : 300;
    const agree: Record<string, number> = {}, mis: Record<string, number[]> = {};
    let mean = 0;
    for (let i = 0; i < n; i++) {
      const a = randomScene(rng), b = randomScene(rng);
      const r = readScene(await renderScene(host, a, size, rng.fork(i)), size);
      const sb = scoreReading(r, b);
      mean += scoreReading(r, a).mean / n;
      for (const f of SCENE_FIELDS) {
        agree[f] = (agree[f] ?? 0) + (r.attrs[f] === a[f] ? 1 / n : 0);
        if (a[f] !== b[f]) (mis[f] ??= []).push(sb[f]);
      }
    }
    for (const f of SCENE_FIELDS) {
      assert.ok(agree[f] >= 0.99, `${f}: agreement ${agree[f]} at ${size}`);
      const m = mis[f].reduce((x, y) => x + y, 0) / mis[f].length;
      assert.ok(m < 0.1, `${f}: mismatched prompts score ${m} at ${size}`);
    }
    assert.ok(mean > 0.99, `mean score on clean renders ${mean}`);
  });
}

Deno.test("planar f32 in [-1, 1] scores like the bytes", async () => {
  const a: SceneAttrs = {
    background: "white",
    color: "green",
    shape: "diamond",
    size: "small",
    position: "bottom",
  };
  const px = await renderScene(host, a, 16, new Rng(1));
  const planar = new Float32Array(px.length);
  for (let i = 0; i < 256; i++) for (let c = 0; c < 3; c++) planar[c * 256 + i] = px[3 * i + c] / 127.5 - 1;
  const s1 = scoreImage(px, 16, a), s2 = scoreImage(planar, 16, a);
  for (const k of Object.keys(s1) as (keyof typeof s1)[]) assert.ok(Math.abs(s1[k] - s2[k]) < 1e-4, k);
  assert.ok(s1.mean > 0.99);
});

Deno.test("an empty image scores its background only", () => {
  const px = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < 256; i++) px.set([30, 60, 220], 3 * i); // blue
  const s = scoreImage(px, 16, {
    background: "blue",
    color: "red",
    shape: "circle",
    size: "large",
    position: "center",
  });
  assert.equal(s.background, 1);
  assert.deepEqual([s.color, s.shape, s.size, s.position], [0, 0, 0, 0]);
  assert.equal(s.mean, 0.2);
});

Deno.test("a grey object matches no palette colour", async () => {
  const a: SceneAttrs = {
    background: "black",
    color: "white",
    shape: "square",
    size: "large",
    position: "center",
  };
  const px = await renderScene(host, a, 16, null);
  for (let i = 0; i < px.length; i++) if (px[i] > 128) px[i] = 128; // white -> mid grey
  const s = scoreImage(px, 16, a);
  assert.ok(s.color < 0.3, `grey scored ${s.color} as white`);
  assert.ok(s.shape > 0.9 && s.size > 0.9, "geometry still read");
});
