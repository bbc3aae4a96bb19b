// The browser test: `deno task test-web` (its own task: about 3 minutes of SwiftShader on 2 cores, too
// long for `deno task test`; the file name keeps `deno test` from collecting it). Builds the site,
// opens it in headless Chromium (Debian's package, WebGPU through SwiftShader) and drives the page
// like a user: samples the shipped base with a fixed seed, then runs 2 SePPO updates. The same
// requests then run under Deno (web/engine.ts, the page's own functions, on this process's adapter)
// and must agree to float tolerance; the screenshot is kept at out/test-web/page.png.
// Tolerances, from measurement (SwiftShader against llvmpipe; llvmpipe through GL and through Vulkan
// agree bit for bit): the planar pixels (about [-1, 1]) within 5e-3, and the 8-bit images the page
// shows within one level. One UNet pass differs by 1.9e-4 at worst; 4 DDIM steps with CFG grow it to
// 1.8e-3 (20 steps: 5.2e-4). The logged statistics (loss, the four errors, gradient norm) within a
// relative 2e-3 (measured 1.1e-3 at worst: the loser slot is the reference model's 2-step sample), the
// flip rate and implicit accuracy exactly.
import assert from "node:assert/strict";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { planarToImages } from "../../lib/train/images.ts";
import type { StepStats } from "../../lib/train/seppo.ts";
import { buildSite } from "../../web/build.ts";
import { openSite } from "../../web/chromium.ts";
import { finetune, type FinetuneRequest, samplePlanar, type SampleRequest } from "../../web/engine.ts";
import { gpu, host } from "../_helpers.ts";

const SAMPLE = {
  prompt: "a large red circle on the left, blue background",
  seed: 3,
  n: 1,
  steps: 4,
  guidance: 3,
};
const FINETUNE = { updates: 2, batch: 2, refSteps: 2, gridEvery: 1, previewSteps: 2 };
const PIXEL_ATOL = 5e-3;
const STAT_RTOL = 2e-3;
const SHOT = "out/test-web/page.png";
const MINUTES = 60_000;

interface PageResults {
  adapter: string;
  sample: { request: SampleRequest; model: string; ms: number; pixels: string };
  finetune: { request: FinetuneRequest; ms: number; stats: StepStats[]; stopped: boolean };
  compare: { ms: number };
  error?: string;
}

interface HTMLish {
  dataset: Record<string, string | undefined>;
}

const fromBase64 = (s: string) => {
  const bin = atob(s), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
};

function worst(a: ArrayLike<number>, b: ArrayLike<number>) {
  let at = 0, err = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= err)) [at, err] = [i, e];
  }
  return { at, err };
}

Deno.test("the page samples and runs SePPO updates in headless Chromium as Deno does", async () => {
  const site = await Deno.makeTempDir({ prefix: "seppo-site-" });
  const runs = await Deno.makeTempDir({ prefix: "seppo-web-runs-" });
  try {
    await buildSite(host, { out: site, log: () => {}, minify: false });
    const b = await openSite(site);
    let r: PageResults;
    let coldMs: number | undefined;
    try {
      const { page } = b;
      // Runs in the page: the element's data-state is one of `states`.
      const isIn = ([id, states]: [string, string[]]) => {
        const doc =
          (globalThis as unknown as { document: { getElementById(id: string): HTMLish | null } }).document;
        return states.includes(doc.getElementById(id)?.dataset.state ?? "");
      };
      const state = (id: string, states: string[], timeout: number) =>
        page.waitForFunction(isIn, [id, states] as [string, string[]], { timeout });
      await state("status", ["ready", "error", "no-webgpu"], 2 * MINUTES);
      const status = await page.textContent("#status");
      assert.match(status ?? "", /^Ready: browser WebGPU/, `page status: ${status}\n${b.console.join("\n")}`);
      for (
        const [id, v] of Object.entries({
          prompt: SAMPLE.prompt,
          seed: SAMPLE.seed,
          n: SAMPLE.n,
          steps: SAMPLE.steps,
        })
      ) {
        await page.fill(`#${id}`, String(v));
      }
      await page.fill("#guidance", String(SAMPLE.guidance));
      // Twice: the first includes compiling every pipeline (cold), the second is the speed of use.
      await page.click("#sample");
      await state("sample-status", ["done", "error"], 10 * MINUTES);
      coldMs = await page.evaluate(() =>
        (globalThis as unknown as { seppoPage: PageResults }).seppoPage.sample?.ms
      );
      await page.evaluate(() => {
        (globalThis as unknown as { document: { getElementById(id: string): HTMLish } }).document
          .getElementById("sample-status").dataset.state = "again";
      });
      await page.click("#sample");
      await state("sample-status", ["done", "error"], 10 * MINUTES);
      const ft = {
        "ft-updates": FINETUNE.updates,
        "ft-batch": FINETUNE.batch,
        "ft-ref-steps": FINETUNE.refSteps,
        "ft-grid-every": FINETUNE.gridEvery,
        "ft-preview-steps": FINETUNE.previewSteps,
      };
      for (const [id, v] of Object.entries(ft)) await page.fill(`#${id}`, String(v));
      await page.click("#finetune");
      await state("ft-status", ["done", "error"], 20 * MINUTES);
      await Deno.mkdir("out/test-web", { recursive: true });
      await page.screenshot({ path: SHOT, fullPage: true });
      r = await page.evaluate(() => (globalThis as unknown as { seppoPage: PageResults }).seppoPage);
      assert.equal(r.error, undefined, `the page failed: ${r.error}\n${b.console.join("\n")}`);
    } finally {
      await b.close();
    }
    console.log(`browser: ${r.adapter}; screenshot ${SHOT}`);

    // The same requests under Deno.
    const ctx = await gpu();
    const model = await TextToImage.load(ctx, `${site}/${r.sample.model}`);
    let t0 = performance.now();
    await samplePlanar(ctx, model, r.sample.request);
    const denoColdMs = performance.now() - t0;
    t0 = performance.now();
    const mine = await samplePlanar(ctx, model, r.sample.request);
    const denoSampleMs = performance.now() - t0;
    model.dispose();
    const theirs = fromBase64(r.sample.pixels);
    assert.equal(theirs.length, mine.length, "pixel count");
    const w = worst(theirs, mine);
    console.log(
      `sample (${r.sample.request.n} x ${r.sample.request.steps} steps): worst |browser - deno| ` +
        `${w.err.toExponential(2)} at ${w.at} (${theirs[w.at]} vs ${mine[w.at]}); Deno on ${ctx.label}`,
    );
    assert.ok(w.err <= PIXEL_ATOL, `pixels differ by ${w.err} > ${PIXEL_ATOL} at ${w.at}`);
    const size = Math.round(Math.sqrt(mine.length / 3 / r.sample.request.n));
    const levels = worst(planarToImages(theirs, size)[0].data, planarToImages(mine, size)[0].data);
    assert.ok(levels.err <= 1, `8-bit images differ by ${levels.err} levels at ${levels.at}`);

    const req = r.finetune.request;
    const stats: StepStats[] = [];
    const t1 = performance.now();
    await finetune(ctx, {
      ...req,
      base: `${site}/${req.base}`,
      prefs: `${site}/${req.prefs}`,
      out: `${runs}/run`,
    }, {
      onUpdate: (_, s) => void (s && stats.push(s)),
    });
    const denoFtMs = performance.now() - t1;
    const page = r.finetune.stats;
    assert.equal(page.length, FINETUNE.updates, "updates logged by the page");
    assert.equal(stats.length, page.length, "updates logged by Deno");
    const keys = ["loss", "e_theta_w", "e_ref_w", "e_theta_l", "e_ref_l", "grad_norm"] as const;
    for (let k = 0; k < page.length; k++) {
      const row = keys.map((key) => `${key} ${page[k][key].toPrecision(6)}/${stats[k][key].toPrecision(6)}`);
      console.log(`update ${k + 1} (browser/deno): ${row.join(", ")}`);
      for (const key of keys) {
        const a = page[k][key], d = stats[k][key];
        assert.ok(
          Math.abs(a - d) <= 1e-5 + STAT_RTOL * Math.abs(d),
          `update ${k + 1} ${key}: browser ${a}, deno ${d}`,
        );
      }
      assert.equal(page[k].implicit_acc, stats[k].implicit_acc, `update ${k + 1} implicit accuracy`);
      assert.equal(page[k].flip_rate, stats[k].flip_rate, `update ${k + 1} flip rate`);
    }
    // Speed, browser against Deno, the same work in this one process: cold includes compiling the
    // pipelines; an update's time is its `seconds` minus the previous update's (the second update).
    const ratio = (a: number, d: number) =>
      `${(a / 1000).toFixed(1)} s / ${(d / 1000).toFixed(1)} s = ${(a / d).toFixed(1)}x`;
    const upd = (x: StepStats[]) => 1000 * (x[1].seconds - x[0].seconds);
    console.log(
      `speed (browser / Deno): sample ${r.sample.request.n} x ${r.sample.request.steps} steps cold ` +
        `${ratio(coldMs ?? NaN, denoColdMs)}, warm ${
          ratio(r.sample.ms, denoSampleMs)
        }; SePPO update of batch ` +
        `${FINETUNE.batch} (${FINETUNE.refSteps} reference steps) ${
          ratio(upd(page), upd(stats))
        }; the whole ` +
        `fine-tune with grids ${ratio(r.finetune.ms, denoFtMs)}`,
    );
  } finally {
    await Deno.remove(site, { recursive: true });
    await Deno.remove(runs, { recursive: true });
  }
});
