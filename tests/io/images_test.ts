import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "../../lib/util/rng.ts";
import { renderClip } from "../../lib/world/shapes.ts";
import {
  contactSheet,
  readFrames,
  readImage,
  type RgbImage,
  writeAnimation,
  writeImage,
} from "../../lib/io/images.ts";
import { host } from "../_helpers.ts";

const clip = {
  background: "black",
  color: "cyan",
  shape: "square",
  size: "large" as const,
  position: "center" as const,
};

Deno.test("PNG and lossless WebP round-trip exactly; JPEG closely", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const frames = await renderClip(host, { ...clip, motion: "up" }, 16, 2, new Rng(1));
    const img: RgbImage = { data: frames[0], width: 16, height: 16 };
    for (const ext of ["png", "webp", "jpg"]) {
      await writeImage(host, join(dir, `a.${ext}`), img);
      const back = await readImage(host, join(dir, `a.${ext}`));
      assert.equal(back.width, 16);
      const err = back.data.reduce((m, v, i) => Math.max(m, Math.abs(v - img.data[i])), 0);
      assert.ok(ext === "jpg" ? err < 80 : err === 0, `${ext}: max error ${err}`);
    }
    await assert.rejects(writeImage(host, join(dir, "a.bmp"), img), /unsupported image extension '\.bmp'/);
    await assert.rejects(readImage(host, join(dir, "missing.png")), /missing\.png: unreadable image/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("animated GIF and WebP keep every frame", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const frames = (await renderClip(host, { ...clip, motion: "right" }, 16, 5, null)).map((data) => ({
      data,
      width: 16,
      height: 16,
    }));
    for (const ext of ["gif", "webp"]) {
      await writeAnimation(host, join(dir, `c.${ext}`), frames);
      const back = await readFrames(host, join(dir, `c.${ext}`));
      assert.equal(back.length, 5, ext);
      // Flat colours survive the GIF palette; lossless WebP is exact.
      for (let k = 0; k < 5; k++) {
        const err = back[k].data.reduce((m, v, i) => Math.max(m, Math.abs(v - frames[k].data[i])), 0);
        assert.ok(ext === "webp" ? err === 0 : err < 24, `${ext} frame ${k}: max error ${err}`);
      }
      const small = await readFrames(host, join(dir, `c.${ext}`), { size: 8 });
      assert.equal(small[4].data.length, 8 * 8 * 3);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("contact sheet places tiles on a padded grid, upscaled", () => {
  const tile = (v: number): RgbImage => ({ data: new Uint8Array(2 * 2 * 3).fill(v), width: 2, height: 2 });
  const s = contactSheet([tile(10), tile(20), tile(30)], {
    cols: 2,
    pad: 1,
    scale: 3,
    background: [0, 0, 0],
  });
  assert.equal(s.width, 2 * 6 + 3);
  assert.equal(s.height, 2 * 6 + 3);
  const at = (x: number, y: number) => s.data[3 * (y * s.width + x)];
  assert.equal(at(0, 0), 0);
  assert.equal(at(1, 1), 10);
  assert.equal(at(6, 6), 10);
  assert.equal(at(8, 1), 20);
  assert.equal(at(1, 8), 30);
  assert.equal(at(8, 8), 0);
});
