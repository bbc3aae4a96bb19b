// The static site of the browser page, written into one folder that any static file server can host:
//   index.html, style.css, app.js        the page and its bundle (esbuild; lib/ through the browser host)
//   kernels/*.wgsl                       the kernels' WGSL, fetched by the browser host at start
//   models/<name>/...                    every text-to-image model folder in models/ (model_index.json)
//   data/<world>-prefs-<size>/...        a small preference set per world (winners, metadata.jsonl)
//   files.json                           every file above with its size, and the models offered
// The page lists folders through files.json (HTTP cannot list a folder). sharp must never be bundled:
// the build fails naming the importer if anything reachable from web/main.ts imports it.
import * as esbuild from "esbuild";
import { parse } from "yaml";
import { generate, type World } from "../data/generate.ts";
import type { SiteManifest, SiteModel } from "../lib/host/browser.ts";
import type { Host } from "../lib/host/host.ts";
import { UsageError } from "../lib/util/errors.ts";

const ROOT = new URL("../", import.meta.url);
const rootPath = (rel: string) => new URL(rel, ROOT).pathname;

/** Winners per world in the bundled preference set (SePPO's loser slot is the reference's sample). */
export const PREFS_COUNT = 32;
/** Prompts of the before/after comparison (from the world's eval split). */
export const COMPARE_PROMPTS = 4;

export interface BuildOptions {
  /** Output folder: new, empty, or an earlier build (replaced); anything else is refused. */
  out: string;
  /** Print what is done (default console.log). */
  log?: (s: string) => void;
  /** Minify the bundle (default true). */
  minify?: boolean;
}

/** Copies every file under `from` into `to` (folders made as needed). */
async function copyTree(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.name.startsWith(".")) continue;
    if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Relative path -> size of every file under `dir`. */
async function listTree(dir: string, prefix = "", out: Record<string, number> = {}) {
  for await (const e of Deno.readDir(prefix ? `${dir}/${prefix}` : dir)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) await listTree(dir, rel, out);
    else if (e.isFile) out[rel] = (await Deno.stat(`${dir}/${rel}`)).size;
  }
  return out;
}

/** Writes `dir`/files.json: every file under `dir` with its size, and the models offered. */
export async function writeManifest(dir: string, models: SiteModel[]): Promise<SiteManifest> {
  const site: SiteManifest = { version: 1, files: await listTree(dir), models };
  await Deno.writeTextFile(`${dir}/files.json`, JSON.stringify(site, null, 1) + "\n");
  return site;
}

/** node:path and node:crypto go to the browser shims; sharp (and the Deno host) may not be reached at all. */
const browserOnly: esbuild.Plugin = {
  name: "seppo-browser",
  setup(b) {
    b.onResolve({ filter: /^node:path$/ }, () => ({ path: rootPath("web/node_path.ts") }));
    b.onResolve({ filter: /^node:crypto$/ }, () => ({ path: rootPath("web/node_crypto.ts") }));
    b.onResolve({ filter: /^sharp$|\/host\/deno[^/]*\.ts$/ }, (a) => ({
      errors: [{ text: `${a.path} must not enter the browser bundle (imported by ${a.importer})` }],
    }));
  },
};

/** Bundles web/main.ts (and everything it imports from lib/) into one ES module. */
export async function bundle(outfile: string, minify = true): Promise<esbuild.Metafile> {
  try {
    const r = await esbuild.build({
      entryPoints: [rootPath("web/main.ts")],
      outfile,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify,
      sourcemap: "linked",
      metafile: true,
      logLevel: "silent",
      plugins: [browserOnly],
    });
    return r.metafile;
  } catch (e) {
    const errs = (e as { errors?: esbuild.Message[] }).errors;
    if (!errs?.length) throw e;
    const at = (m: esbuild.Message) => m.location ? `${m.location.file}:${m.location.line}: ` : "";
    throw new Error(`web bundle: ${errs.map((m) => at(m) + m.text).join("; ")}`);
  } finally {
    await esbuild.stop();
  }
}

/** The world a model was pretrained on, from its pretrain config's data folder (taste or shapes). */
async function worldOf(dir: string): Promise<World> {
  const cfg = await Deno.readTextFile(`${dir}/pretrain_config.yaml`).then(parse).catch(() => null);
  const data = String(cfg?.data?.dir ?? "");
  return /taste/.test(data) ? "taste" : "shapes";
}

/** Text-to-image model folders in models/ (video models are left out: the page shows images). */
async function findModels(log: (s: string) => void) {
  const found: { name: string; size: number; world: World }[] = [];
  const names: string[] = [];
  for await (const e of Deno.readDir(rootPath("models"))) if (e.isDirectory) names.push(e.name);
  for (const name of names.sort()) {
    const dir = rootPath(`models/${name}`);
    const index = await Deno.stat(`${dir}/model_index.json`).catch(() => null);
    if (!index?.isFile) continue;
    const unet = JSON.parse(await Deno.readTextFile(`${dir}/unet/config.json`));
    if (unet._class_name !== "UNet2DConditionModel") {
      log(`web: models/${name}: a ${unet._class_name}, left out (the page samples images)`);
      continue;
    }
    found.push({ name, size: Number(unet.sample_size), world: await worldOf(dir) });
  }
  return found;
}

/**
 * Empties `out` for a new build: only a folder that is new, empty, or a site this build wrote (its
 * files.json) is replaced, so `--build .` cannot delete a checkout.
 */
async function clearOut(out: string) {
  const info = await Deno.stat(out).catch(() => null);
  if (info) {
    if (!info.isDirectory) throw new UsageError(`flag --build: ${out} is a file, expected a folder`);
    let empty = true;
    for await (const _ of Deno.readDir(out)) {
      empty = false;
      break;
    }
    const manifest = await Deno.readTextFile(`${out}/files.json`).then(JSON.parse).catch(() => null);
    if (!empty && manifest?.version !== 1) {
      throw new UsageError(
        `flag --build: ${out} holds files and is not a site built by deno task web (no files.json); ` +
          "choose a new or empty folder",
      );
    }
    await Deno.remove(out, { recursive: true });
  }
  await Deno.mkdir(out, { recursive: true });
}

/** Writes the static site into o.out; returns its manifest. `host` runs the data generators. */
export async function buildSite(host: Host, o: BuildOptions): Promise<SiteManifest> {
  const log = o.log ?? console.log;
  const out = o.out.replace(/\/+$/, "");
  await clearOut(out);
  const meta = await bundle(`${out}/app.js`, o.minify ?? true);
  const bytes = meta.outputs[Object.keys(meta.outputs).find((k) => k.endsWith("app.js"))!].bytes;
  log(
    `web: bundled web/main.ts and ${Object.keys(meta.inputs).length - 1} modules (${
      (bytes / 1024).toFixed(0)
    } KB)`,
  );
  for (const f of ["index.html", "style.css"]) await Deno.copyFile(rootPath(`web/${f}`), `${out}/${f}`);
  await copyTree(rootPath("kernels"), `${out}/kernels`);
  const models: SiteModel[] = [];
  const prefsDone = new Map<string, string[]>();
  for (const m of await findModels(log)) {
    await copyTree(rootPath(`models/${m.name}`), `${out}/models/${m.name}`);
    const prefs = `data/${m.world}-prefs-${m.size}`;
    let prompts = prefsDone.get(prefs);
    if (!prompts) {
      const common = {
        world: m.world,
        size: m.size,
        seed: 0,
        captionNoise: 0,
        pairs: false,
        frames: 8,
        growth: 0,
      };
      await generate(host, {
        ...common,
        split: "prefs",
        count: PREFS_COUNT,
        concurrency: 4,
        progress: false,
        out: `${out}/${prefs}`,
      });
      const tmp = await Deno.makeTempDir({ prefix: "seppo-web-eval-" });
      try {
        const { rows } = await generate(host, {
          ...common,
          split: "eval",
          count: COMPARE_PROMPTS,
          concurrency: 1,
          progress: false,
          out: tmp,
        });
        prompts = rows.map((r) => String(r.text));
      } finally {
        await Deno.remove(tmp, { recursive: true });
      }
      prefsDone.set(prefs, prompts);
    }
    models.push({ name: m.name, dir: `models/${m.name}`, world: m.world, prefs, prompts });
  }
  if (!models.length) {
    throw new Error("web: no text-to-image model folder in models/ (models/*/model_index.json)");
  }
  const site = await writeManifest(out, models);
  const files = site.files;
  const total = Object.values(files).reduce((a, b) => a + b, 0);
  log(
    `web: ${out}: ${Object.keys(files).length} files, ${(total / 2 ** 20).toFixed(1)} MB; models ` +
      models.map((m) => `${m.name} (${m.world})`).join(", "),
  );
  return site;
}
