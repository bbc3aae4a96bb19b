import assert from "node:assert/strict";
import { Rng } from "../../lib/util/rng.ts";
import { AREA_SPLIT, COLORS, POSITION_OFFSET, type SceneAttrs, SHAPES } from "../../lib/world/attrs.ts";
import { type Content, CONTENT_FIELDS, LOOKS, OTHER_LOOKS, tasteOf } from "../../lib/world/taste.ts";
import { renderScene, renderSvg, sceneSvg } from "../../lib/world/shapes.ts";
import { readScene } from "../../lib/eval/score_image.ts";
import { scoreTaste, scoreTasteReading, summariseTaste } from "../../lib/eval/score_taste.ts";
import { host } from "../_helpers.ts";

function randomContent(r: Rng): Content {
  const background = r.pick(COLORS);
  return { background, color: r.pick(COLORS.filter((c) => c !== background)), shape: r.pick(SHAPES) };
}

/** A content that differs from c in every field. */
function otherContent(r: Rng, c: Content): Content {
  for (;;) {
    const b = randomContent(r);
    if (b.background !== c.background && b.color !== c.color && b.shape !== c.shape) return b;
  }
}

/** Blur (Gaussian, sigma pixels, edges clamped) plus Gaussian noise: a stand-in for a generated image. */
function degrade(px: Uint8Array, size: number, sigma: number, noise: number, rng: Rng): Uint8Array {
  const rad = Math.ceil(2.5 * sigma), k: number[] = [];
  for (let d = -rad; d <= rad; d++) k.push(Math.exp((-d * d) / (2 * sigma * sigma)));
  const at = (v: number) => Math.min(size - 1, Math.max(0, v));
  const out = new Uint8Array(px.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0, w = 0;
        for (let dy = -rad; dy <= rad; dy++) {
          for (let dx = -rad; dx <= rad; dx++) {
            const kw = k[dy + rad] * k[dx + rad];
            s += kw * px[3 * (at(y + dy) * size + at(x + dx)) + c];
            w += kw;
          }
        }
        out[3 * (y * size + x) + c] = Math.max(0, Math.min(255, Math.round(s / w + noise * rng.normal())));
      }
    }
  }
  return out;
}

// Validation of the taste scorer (docs/DATA.md): on clean, jittered renders of every look (the
// preferred one and each of the 9 others) the taste reading must agree with the truth on >= 99% per
// look, the guard attributes must read back on >= 99%, and a prompt with different content must score
// low on guard.
for (const size of [16, 32]) {
  Deno.test(`taste scorer reads every look of clean ${size}x${size} renders`, async () => {
    const rng = new Rng(100 + size);
    const n = 100; // per look
    const agree: Record<string, number> = {};
    let guardMis = 0, guardOwn = 0;
    for (const look of LOOKS) {
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const c = randomContent(rng);
        const a = { ...c, ...look };
        const r = readScene(await renderScene(host, a, size, rng.fork(i)), size);
        const s = scoreTasteReading(r, c);
        if (s.hasTaste === (tasteOf(look) === "preferred")) hits++;
        for (const f of CONTENT_FIELDS) agree[f] = (agree[f] ?? 0) + (r.attrs[f] === c[f] ? 1 : 0);
        guardOwn += s.guard;
        guardMis += scoreTasteReading(r, otherContent(rng, c)).guard;
      }
      const key = `${look.size}/${look.position}`;
      assert.ok(hits / n >= 0.99, `${key}: taste reading agrees on ${hits}/${n} at ${size}`);
    }
    const total = n * LOOKS.length;
    for (const f of CONTENT_FIELDS) assert.ok(agree[f] / total >= 0.99, `${f}: ${agree[f]}/${total}`);
    assert.ok(guardOwn / total > 0.99, `guard on the own prompt ${guardOwn / total}`);
    assert.ok(guardMis / total < 0.1, `guard against different content ${guardMis / total}`);
  });
}

Deno.test("the taste reading survives blur and noise", async () => {
  // sigma 0.8 px and noise 15 (of 255) at 16x16: blurrier than a converged model's samples.
  const rng = new Rng(7);
  for (const look of LOOKS) {
    let hits = 0;
    const n = 30;
    for (let i = 0; i < n; i++) {
      const c = randomContent(rng);
      const px = degrade(
        await renderScene(host, { ...c, ...look }, 16, rng.fork(i)),
        16,
        0.8,
        15,
        rng.fork(`noise ${i}`),
      );
      if (scoreTaste(px, 16, c).hasTaste === (tasteOf(look) === "preferred")) hits++;
    }
    assert.ok(hits / n >= 0.95, `${look.size}/${look.position}: ${hits}/${n} with blur and noise`);
  }
});

Deno.test("taste is graded: 0.5 on the size and the position boundary", async () => {
  const c: Content = { background: "black", color: "white", shape: "square" };
  const at = async (cx: number, area: number) =>
    scoreTaste(
      await renderSvg(host, sceneSvg({ ...c, size: "large", position: "center" }, { cx, cy: 0.5, area }, 32)),
      32,
      c,
    );
  const edge = await at(0.5 - POSITION_OFFSET / 2, 0.16); // half-way to "left"
  assert.ok(Math.abs(edge.perAttr.position - 0.5) < 0.1, `position on the boundary ${edge.perAttr.position}`);
  assert.ok(Math.abs(edge.taste - edge.perAttr.position) < 1e-12, "taste is the min of size and position");
  const mid = await at(0.5, AREA_SPLIT);
  assert.ok(Math.abs(mid.perAttr.size - 0.5) < 0.1, `size on the boundary ${mid.perAttr.size}`);
  assert.ok(Math.abs(mid.headline - mid.taste * mid.guard) < 1e-12);
  const full = await at(0.5, 0.16);
  assert.ok(full.taste > 0.99 && full.hasTaste && full.headline > 0.99, JSON.stringify(full));
});

Deno.test("taste ignores the prompt's stated size and position; planar floats score like bytes", async () => {
  const c: Content = { background: "blue", color: "yellow", shape: "triangle" };
  const stated: SceneAttrs = { ...c, size: "small", position: "top" };
  const px = await renderScene(host, stated, 16, new Rng(3));
  const s = scoreTaste(px, 16, stated);
  assert.ok(s.taste < 0.01 && !s.hasTaste && s.guard > 0.99, JSON.stringify(s));
  const planar = new Float32Array(px.length);
  for (let i = 0; i < 256; i++) for (let k = 0; k < 3; k++) planar[k * 256 + i] = px[3 * i + k] / 127.5 - 1;
  const t = scoreTaste(planar, 16, c);
  assert.ok(Math.abs(t.taste - s.taste) < 1e-4 && Math.abs(t.guard - s.guard) < 1e-4);
});

Deno.test("summariseTaste: means, taste rate and headline over samples", async () => {
  const c: Content = { background: "green", color: "magenta", shape: "diamond" };
  const looks = [LOOKS[0], LOOKS[0], OTHER_LOOKS[2], OTHER_LOOKS[7]];
  const scores = await Promise.all(
    looks.map(async (l, i) => scoreTaste(await renderScene(host, { ...c, ...l }, 16, new Rng(i)), 16, c)),
  );
  const s = summariseTaste(scores);
  assert.equal(s.n, 4);
  assert.equal(s.tasteRate, 0.5);
  const mean = (f: (x: (typeof scores)[number]) => number) => scores.reduce((a, x) => a + f(x), 0) / 4;
  assert.ok(Math.abs(s.taste - mean((x) => x.taste)) < 1e-12);
  assert.ok(Math.abs(s.headline - mean((x) => x.taste * x.guard)) < 1e-12);
  assert.ok(Math.abs(s.perAttr.shape - mean((x) => x.perAttr.shape)) < 1e-12);
  assert.throws(() => summariseTaste([]), /no samples/);
});
