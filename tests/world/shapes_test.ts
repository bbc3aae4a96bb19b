import assert from "node:assert/strict";
import { Rng } from "../../lib/util/rng.ts";
import { AREA, COLORS, type SceneAttrs, SHAPES } from "../../lib/world/attrs.ts";
import { layoutScene, renderScene, shapeTester } from "../../lib/world/shapes.ts";
import { clipPromptFor, grammarWords, promptFor, promptWords } from "../../lib/world/prompts.ts";
import { host } from "../_helpers.ts";

const scene: SceneAttrs = {
  background: "blue",
  color: "red",
  shape: "triangle",
  size: "large",
  position: "left",
};

Deno.test("every shape of a size class has the nominal area and centroid", () => {
  const n = 400; // point grid over the unit square
  for (const shape of SHAPES) {
    const p = { cx: 0.5, cy: 0.5, area: AREA.large };
    const inside = shapeTester(shape, p);
    let hits = 0, sx = 0, sy = 0;
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        const x = (i + 0.5) / n, y = (j + 0.5) / n;
        if (inside(x, y)) [hits, sx, sy] = [hits + 1, sx + x, sy + y];
      }
    }
    assert.ok(Math.abs(hits / n / n - AREA.large) < 0.002, `${shape} area ${hits / n / n}`);
    assert.ok(Math.abs(sx / hits - 0.5) < 0.003 && Math.abs(sy / hits - 0.5) < 0.003, `${shape} centroid`);
  }
});

Deno.test("renders are deterministic per seed and jitter differs across seeds", async () => {
  const a = await renderScene(host, scene, 16, new Rng(5));
  const b = await renderScene(host, scene, 16, new Rng(5));
  assert.deepEqual(a, b);
  assert.equal(a.length, 16 * 16 * 3);
  assert.notDeepEqual(layoutScene(scene, new Rng(5)), layoutScene(scene, new Rng(6)));
  // The corner is background (blue), exactly.
  assert.deepEqual([...a.slice(0, 3)], [30, 60, 220]);
});

Deno.test("prompts use several phrasings and only grammar words", () => {
  const rng = new Rng(1);
  const vocab = new Set(grammarWords());
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const a: SceneAttrs = { ...scene, background: rng.pick(COLORS.filter((c) => c !== "red")) };
    const text = promptFor(a, rng);
    seen.add(text.replace(a.background, "BG"));
    for (const w of promptWords(text)) assert.ok(vocab.has(w), `'${w}' of '${text}' not in grammarWords()`);
    assert.ok(text.includes("red") && text.includes("triangle") && text.includes(a.background), text);
    const clip = clipPromptFor({ ...a, position: "center", motion: "up", growth: "grow" }, rng);
    for (const w of promptWords(clip)) assert.ok(vocab.has(w), `'${w}' of '${clip}' not in grammarWords()`);
  }
  assert.ok(seen.size >= 8, `only ${seen.size} phrasings`);
});

Deno.test("an omitted field leaves the text", () => {
  const rng = new Rng(2);
  for (let i = 0; i < 20; i++) {
    assert.ok(!promptFor(scene, rng, { omit: "color" }).includes("red"));
    assert.ok(!promptFor(scene, rng, { omit: "background" }).includes("blue"));
    assert.ok(!/left/.test(promptFor(scene, rng, { omit: "position" })));
    assert.ok(!promptFor(scene, rng, { omit: "size" }).includes("  "));
  }
});
