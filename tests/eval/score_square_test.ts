// `score` takes non-square images the way training does: the centre square of the shorter side. An
// image widened by 4 columns on each side scores exactly as the original.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { scoreFolder } from "../../lib/eval/score_folder.ts";
import { readImage, writeImage } from "../../lib/io/images.ts";
import { host } from "../_helpers.ts";

Deno.test("score: a non-square image is centre-cropped to a square, as training crops it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "seppo-square-" });
  try {
    await generate(host, {
      ...DEFAULTS,
      world: "shapes",
      split: "prefs",
      count: 3,
      size: 16,
      out: `${dir}/sq`,
      progress: false,
    });
    await Deno.mkdir(`${dir}/wide/images`, { recursive: true });
    await Deno.copyFile(`${dir}/sq/metadata.jsonl`, `${dir}/wide/metadata.jsonl`);
    for await (const e of Deno.readDir(`${dir}/sq/images`)) {
      const img = await readImage(host, `${dir}/sq/images/${e.name}`);
      const W = img.width + 8, data = new Uint8Array(W * img.height * 3).fill(255); // white margins
      for (let y = 0; y < img.height; y++) {
        data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), (y * W + 4) * 3);
      }
      await writeImage(host, `${dir}/wide/images/${e.name}`, { data, width: W, height: img.height });
    }
    const a = await scoreFolder(host, `${dir}/sq`), b = await scoreFolder(host, `${dir}/wide`);
    assert.equal(b.size, 16);
    assert.deepEqual(b.items.map((i) => i.scores), a.items.map((i) => i.scores));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
