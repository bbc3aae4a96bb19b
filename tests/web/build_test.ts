// The static site of the browser page (web/build.ts): what it holds, and the folders it refuses to
// replace. The page itself runs in tests/web/browser_check.ts (deno task test-web).
import assert from "node:assert/strict";
import { buildSite, PREFS_COUNT } from "../../web/build.ts";
import { UsageError } from "../../lib/util/errors.ts";
import { host } from "../_helpers.ts";

Deno.test("web build: the page, its bundle, the kernels, the image models with a preference set, files.json", async () => {
  const dir = await Deno.makeTempDir({ prefix: "seppo-site-" });
  try {
    const site = await buildSite(host, { out: dir, log: () => {} });
    for (
      const f of [
        "index.html",
        "style.css",
        "app.js",
        "kernels/matmul.wgsl",
        "models/base-shapes-16/model_index.json",
      ]
    ) {
      assert.equal(site.files[f], (await Deno.stat(`${dir}/${f}`)).size, f);
    }
    const shapes = site.models.find((m) => m.name === "base-shapes-16");
    assert.ok(shapes, `models: ${site.models.map((m) => m.name)}`);
    assert.equal(shapes.world, "shapes");
    assert.equal(
      site.models.some((m) => m.name === "base-moving-shapes-16"),
      false,
      "the video base is left out",
    );
    const rows = (await Deno.readTextFile(`${dir}/${shapes.prefs}/metadata.jsonl`)).trim().split("\n");
    assert.equal(rows.length, PREFS_COUNT);
    assert.equal(shapes.prompts.length, 4);
    const listed = JSON.parse(await Deno.readTextFile(`${dir}/files.json`));
    assert.deepEqual(listed, site);
    // A rebuild replaces an earlier build.
    await buildSite(host, { out: dir, log: () => {} });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("web build: a folder with other files is refused, not emptied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "seppo-site-" });
  try {
    await Deno.writeTextFile(`${dir}/keep.txt`, "mine");
    await assert.rejects(
      buildSite(host, { out: dir, log: () => {} }),
      (e: Error) => e instanceof UsageError && /not a site built by deno task web/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(`${dir}/keep.txt`), "mine");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
