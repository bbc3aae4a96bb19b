// The host interface (lib/host): lib/ reaches Deno only through lib/host/deno*.ts; the browser bundle
// holds neither sharp nor the Deno host; the browser host's files (lib/host/web_fs.ts) behave as the
// disk does; and a SePPO run through the browser host (files fetched from a site, every write in
// memory) equals the same run on the Deno host bit for bit, without touching the site's folder. The
// browser itself is exercised by tests/web/browser_check.ts (deno task test-web).
import assert from "node:assert/strict";
import * as nodePath from "node:path";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { GpuContext } from "../../lib/gpu/context.ts";
import { browserHost } from "../../lib/host/browser.ts";
import { decodeImage } from "../../lib/host/deno_images.ts";
import type { Host, HostFs } from "../../lib/host/host.ts";
import { WebFs } from "../../lib/host/web_fs.ts";
import { train, TRAIN_DEFAULTS, type TrainConfig } from "../../lib/train/seppo.ts";
import { bundle, writeManifest } from "../../web/build.ts";
import * as shim from "../../web/node_path.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Every file under `dir` (relative paths). */
async function walk(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${rel}`)) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await walk(dir, r));
    else out.push(r);
  }
  return out.sort();
}

/** A fetch that serves `dir` (what a static server does), for the browser host under Deno. */
const fetchFrom = (dir: string): typeof fetch => async (input) => {
  const path = decodeURIComponent(new URL(String(input instanceof Request ? input.url : input)).pathname);
  try {
    return new Response(await Deno.readFile(`${dir}${path}`));
  } catch {
    return new Response("not found", { status: 404 });
  }
};

Deno.test("nothing under lib/ calls Deno.* except the Deno host (lib/host/deno*.ts)", async () => {
  const bad: string[] = [];
  for (const rel of await walk(`${ROOT}lib`)) {
    if (!rel.endsWith(".ts") || /^host\/deno[^/]*\.ts$/.test(rel)) continue;
    // Comments may name Deno's API; code may not.
    const code = (await Deno.readTextFile(`${ROOT}lib/${rel}`)).replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
    code.split("\n").forEach((line, i) => {
      if (/\bDeno\.\w/.test(line)) bad.push(`lib/${rel}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(bad, [], `direct Deno.* calls:\n${bad.join("\n")}`);
});

Deno.test("the browser bundle holds neither sharp nor the Deno host", async () => {
  const dir = await Deno.makeTempDir({ prefix: "seppo-bundle-" });
  try {
    const meta = await bundle(`${dir}/app.js`, false);
    const inputs = Object.keys(meta.inputs);
    assert.ok(inputs.some((p) => p.endsWith("lib/host/browser.ts")), "the browser host is in the bundle");
    assert.deepEqual(inputs.filter((p) => /sharp|host\/deno/.test(p)), []);
    const code = await Deno.readTextFile(`${dir}/app.js`);
    assert.doesNotMatch(code, /\bDeno\.\w/);
    assert.doesNotMatch(code, /from\s*["']node:/, "node: imports left in the bundle");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("web/node_path.ts agrees with node:path on the paths lib/ builds", () => {
  const cases = [
    "a/b/c.png",
    "a//b/./c/",
    "/abs/x/../y",
    "../up/x",
    "a/..",
    ".",
    "",
    "x.tar.gz",
    ".hidden",
    "a/b/",
  ];
  for (const p of cases) {
    assert.equal(shim.normalize(p), nodePath.posix.normalize(p), `normalize(${JSON.stringify(p)})`);
    assert.equal(shim.isAbsolute(p), nodePath.posix.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
    if (p) {
      assert.equal(shim.dirname(p), nodePath.posix.dirname(p), `dirname(${JSON.stringify(p)})`);
      assert.equal(shim.basename(p), nodePath.posix.basename(p), `basename(${JSON.stringify(p)})`);
      assert.equal(shim.extname(p), nodePath.posix.extname(p), `extname(${JSON.stringify(p)})`);
    }
  }
  for (const parts of [["a", "b"], ["a/", "/b"], ["a", "", "b/../c"], ["runs", "x", "checkpoint-3"]]) {
    assert.equal(shim.join(...parts), nodePath.posix.join(...parts), `join(${JSON.stringify(parts)})`);
  }
  // resolve() is relative to the site root in a page: the same as node's relative to "/", minus "/".
  for (const parts of [["runs/x"], ["runs/x", "../y"], ["a", "/b", "c"], ["."]]) {
    assert.equal(shim.resolve(...parts), nodePath.posix.resolve("/", ...parts).slice(1));
  }
});

/** Runs the same file operations on the disk (Deno host) and on a WebFs serving a copy of it. */
Deno.test("the browser host's files behave as the disk does (reads, writes, listing, renames, errors)", async () => {
  const disk = await Deno.makeTempDir({ prefix: "seppo-fs-disk-" });
  const site = await Deno.makeTempDir({ prefix: "seppo-fs-site-" });
  try {
    for (const d of [disk, site]) {
      await Deno.mkdir(`${d}/m/unet`, { recursive: true });
      await Deno.writeTextFile(`${d}/m/model_index.json`, "{}");
      await Deno.writeFile(`${d}/m/unet/w.bin`, new Uint8Array([1, 2, 3]));
    }
    const manifest = Object.fromEntries((await walk(site)).map((p) => [p, 1]));
    const web = new WebFs({ base: "http://site.test/", manifest, fetch: fetchFrom(site) });
    const ops: [string, (fs: HostFs, at: (p: string) => string) => Promise<unknown>][] = [
      ["read served", async (fs, at) => [...await fs.readFile(at("m/unet/w.bin"))]],
      [
        "list",
        async (fs, at) =>
          (await Array.fromAsync(fs.readDir(at("m")))).map((e) => `${e.name}:${e.isDirectory}`).sort(),
      ],
      ["stat dir", async (fs, at) => (await fs.stat(at("m/unet"))).isDirectory],
      ["write + append", async (fs, at) => {
        await fs.writeFile(at("m/log.txt"), "a\n");
        await fs.writeFile(at("m/log.txt"), "b\n", { append: true, sync: true });
        return await fs.readTextFile(at("m/log.txt"));
      }],
      ["append to a served file", async (fs, at) => {
        await fs.writeFile(at("m/model_index.json"), " ", { append: true });
        return await fs.readTextFile(at("m/model_index.json"));
      }],
      ["missing file", (fs, at) => fs.readFile(at("m/nope"))],
      ["below a file", (fs, at) => fs.stat(at("m/model_index.json/x"))],
      ["write without its folder", (fs, at) => fs.writeFile(at("q/x.txt"), "x")],
      ["mkdir -p, then again", async (fs, at) => {
        await fs.mkdir(at("r/s/t"), { recursive: true });
        await fs.mkdir(at("r/s/t"), { recursive: true });
        return (await fs.stat(at("r/s"))).isDirectory;
      }],
      ["rename a folder", async (fs, at) => {
        await fs.rename(at("m"), at("m2"));
        const got = [await fs.readTextFile(at("m2/log.txt")), [...await fs.readFile(at("m2/unet/w.bin"))]];
        await fs.lstat(at("m")).catch((e) => got.push(fs.isNotFound(e) ? "gone" : "other"));
        return got;
      }],
      ["rename a file over another", async (fs, at) => {
        await fs.rename(at("m2/log.txt"), at("m2/model_index.json"));
        return await fs.readTextFile(at("m2/model_index.json"));
      }],
      ["remove a full folder", (fs, at) => fs.remove(at("m2"))],
      ["remove -r", async (fs, at) => {
        await fs.remove(at("m2"), { recursive: true });
        return await fs.stat(at("m2")).then(() => "there", (e) => fs.isNotFound(e) ? "gone" : "other");
      }],
      [
        "temp file",
        async (fs, at) => (await fs.stat(await fs.makeTempFile({ dir: at("r"), prefix: ".t-" }))).size,
      ],
      ["copy", async (fs, at) => {
        await fs.writeFile(at("r/a"), "A");
        await fs.copyFile(at("r/a"), at("r/b"));
        return await fs.readTextFile(at("r/b"));
      }],
    ];
    for (const [what, op] of ops) {
      const outcome = async (fs: HostFs, at: (p: string) => string) => {
        try {
          return { ok: await op(fs, at) };
        } catch (e) {
          return {
            error: fs.isNotFound(e) ? "not found" : fs.isNotADirectory(e) ? "not a directory" : "other",
          };
        }
      };
      const want = await outcome(host.fs, (p) => `${disk}/${p}`);
      const got = await outcome(web, (p) => p);
      assert.deepEqual(got, want, what);
    }
    assert.deepEqual(
      await walk(site),
      ["m/model_index.json", "m/unet/w.bin"],
      "the site's folder is untouched",
    );
  } finally {
    await Deno.remove(disk, { recursive: true });
    await Deno.remove(site, { recursive: true });
  }
});

Deno.test("a SePPO run on the browser host (site files, in-memory writes) equals the Deno host's exactly", async () => {
  const ctx = await gpu();
  const site = await Deno.makeTempDir({ prefix: "seppo-site-" });
  const runs = await Deno.makeTempDir({ prefix: "seppo-web-run-" });
  let webCtx: GpuContext | null = null;
  try {
    await saveTinyBase(ctx, `${site}/base`);
    await generate(host, {
      ...DEFAULTS,
      world: "shapes",
      split: "prefs",
      count: 4,
      size: 16,
      out: `${site}/prefs`,
      progress: false,
    });
    await Deno.mkdir(`${site}/kernels`);
    for await (const e of Deno.readDir(`${ROOT}kernels`)) {
      await Deno.copyFile(`${ROOT}kernels/${e.name}`, `${site}/kernels/${e.name}`);
    }
    await writeManifest(site, []);
    const before = await walk(site);
    const page = await browserHost({ base: "http://site.test/", fetch: fetchFrom(site), log: () => {} });
    // Deno has no canvas: the page's files and kernels, sharp's decoder over those files.
    const web: Host = {
      ...page,
      images: { ...host.images, read: async (p, size) => decodeImage(await page.fs.readFile(p), size) },
    };
    webCtx = await GpuContext.create(web);
    const config = (root: string, out: string): TrainConfig => ({
      ...structuredClone(TRAIN_DEFAULTS),
      base: root ? `${root}/base` : "base",
      data: { prefs: root ? `${root}/prefs` : "prefs", size: 16 },
      ref: { strategy: "uniform", steps: 1, guidance: 2, eta: 0 },
      pool: { size: 3, interval: 1, gpu_budget_mb: 64 },
      train: { ...TRAIN_DEFAULTS.train, steps: 2, batch: 2, warmup: 0, lr: 1e-3 },
      log: {
        ...TRAIN_DEFAULTS.log,
        every: 1,
        sample_every: 2,
        sample_steps: 2,
        ckpt_every: 2,
        sample_prompts: ["a red circle"],
      },
      out,
    });
    await train(ctx, config(site, `${runs}/run`), { quiet: true, log: () => {} });
    const b = await train(webCtx, config("", "runs/web"), { quiet: true, log: () => {} });
    assert.equal(b.checkpoint, "runs/web/checkpoint-2");
    const rows = async (fs: HostFs, dir: string) =>
      (await fs.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n").map((l) => {
        const { updates_per_s: _, seconds: __, ...r } = JSON.parse(l);
        return r;
      });
    assert.deepEqual(await rows(page.fs, "runs/web"), await rows(host.fs, `${runs}/run`));
    const weights = "checkpoint-2/unet/diffusion_pytorch_model.safetensors";
    assert.deepEqual(
      await page.fs.readFile(`runs/web/${weights}`),
      await host.fs.readFile(`${runs}/run/${weights}`),
    );
    assert.deepEqual(
      await page.fs.readFile("runs/web/samples/step-2.png"),
      await host.fs.readFile(`${runs}/run/samples/step-2.png`),
    );
    assert.deepEqual(await walk(site), before, "nothing was written to the site's folder");
  } finally {
    webCtx?.destroy();
    await Deno.remove(site, { recursive: true });
    await Deno.remove(runs, { recursive: true });
  }
});
