/// <reference lib="dom" />
// The page (web/index.html): model choice, prompt, seed, steps and guidance -> a sample grid; a SePPO
// fine-tune on the model's bundled preference set with a progress bar, live sample grids, loss /
// implicit accuracy / flip rate curves, and a before/after comparison on fixed prompts and seeds. All
// of it through lib/ on the browser host (lib/host/browser.ts) and web/engine.ts, the functions the
// browser test also runs under Deno. `globalThis.seppoPage` holds the last results for that test.
import { GpuContext } from "../lib/gpu/context.ts";
import { NoAdapterError } from "../lib/gpu/errors.ts";
import { type BrowserHost, browserHost, type SiteModel } from "../lib/host/browser.ts";
import { contactSheet, type RgbImage } from "../lib/io/images.ts";
import { lineChart } from "../lib/eval/svg.ts";
import { TextToImage } from "../lib/nn/pipeline.ts";
import { StopFlag } from "../lib/train/run.ts";
import type { StepStats } from "../lib/train/seppo.ts";
import { planarToImages } from "../lib/train/images.ts";
import { StoppedError } from "../lib/util/errors.ts";
import { finetune, type FinetuneRequest, samplePlanar, type SampleRequest } from "./engine.ts";

/** What the page did last, read by tests/web/browser_test.ts (pixels as base64 of float32). */
interface PageResults {
  adapter?: string;
  sample?: { request: SampleRequest; model: string; ms: number; pixels: string };
  finetune?: { request: FinetuneRequest; ms: number; stats: StepStats[]; stopped: boolean };
  compare?: { ms: number };
  error?: string;
}
const results: PageResults = {};
(globalThis as unknown as { seppoPage: PageResults }).seppoPage = results;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (id: string) => Number($<HTMLInputElement>(id).value);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function setState(el: HTMLElement, state: string, text: string) {
  el.dataset.state = state;
  el.textContent = text;
}

function base64(f: Float32Array): string {
  const bytes = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Draws RGB bytes into a canvas at their own size (CSS scales it up, pixelated). */
function draw(canvas: HTMLCanvasElement, img: RgbImage, cssScale = 1) {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.style.width = `${img.width * cssScale}px`;
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    rgba.set(img.data.subarray(i, i + 3), j);
    rgba[j + 3] = 255;
  }
  canvas.getContext("2d")!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
}

/** Planar images [n, 3, H, W] as one grid, `cols` per row, each pixel 4 x 4. */
const grid = (px: Float32Array, size: number, cols: number) =>
  contactSheet(planarToImages(px, size), { cols, scale: 4, pad: 2 });

function noWebGpu(message: string) {
  const box = $("nogpu");
  box.hidden = false;
  box.innerHTML = "";
  const h = document.createElement("strong");
  h.textContent = "WebGPU is not available here. ";
  box.append(h, message);
  setState($("status"), "no-webgpu", "No WebGPU: nothing can run in this browser.");
}

class Page {
  private models = new Map<string, Promise<TextToImage>>();
  private runs = 0;
  private busy = false;
  private stop: StopFlag | null = null;

  constructor(readonly host: BrowserHost, readonly ctx: GpuContext) {}

  get model(): SiteModel {
    const name = $<HTMLSelectElement>("model").value;
    return this.host.site.models.find((m) => m.name === name)!;
  }

  /** The base model, loaded once per folder. */
  load(dir: string): Promise<TextToImage> {
    let m = this.models.get(dir);
    if (!m) this.models.set(dir, m = TextToImage.load(this.ctx, dir));
    return m;
  }

  log(s: string) {
    const pre = $("log");
    pre.textContent += s + "\n";
    pre.scrollTop = pre.scrollHeight;
  }

  setup() {
    const sel = $<HTMLSelectElement>("model");
    for (const m of this.host.site.models) {
      const o = document.createElement("option");
      o.value = m.name;
      o.textContent = `${m.name} (${m.world} world)`;
      sel.append(o);
    }
    const choose = () => {
      $<HTMLInputElement>("prompt").value = this.model.prompts[0] ?? "";
      $("prefs-name").textContent = `${this.model.prefs} (${this.model.world} world)`;
    };
    sel.addEventListener("change", choose);
    choose();
    $("sample-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.guard($("sample-status"), () => this.sample());
    });
    $("ft-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.guard($("ft-status"), () => this.finetune());
    });
    $("stop").addEventListener("click", () => this.stop?.request());
    $("app").hidden = false;
  }

  /** One action at a time; a failure is shown where the action reports. */
  async guard(where: HTMLElement, fn: () => Promise<void>) {
    if (this.busy) return;
    this.busy = true;
    for (const id of ["sample", "finetune"]) $<HTMLButtonElement>(id).disabled = true;
    try {
      await fn();
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      results.error = msg;
      setState(where, "error", `error: ${msg}`);
      this.log(`error: ${msg}`);
      console.error(e);
    } finally {
      this.busy = false;
      for (const id of ["sample", "finetune"]) $<HTMLButtonElement>(id).disabled = false;
    }
  }

  async sample() {
    const status = $("sample-status");
    const m = this.model;
    const request: SampleRequest = {
      prompt: $<HTMLInputElement>("prompt").value,
      seed: num("seed"),
      n: num("n"),
      steps: num("steps"),
      guidance: num("guidance"),
    };
    setState(status, "running", `loading ${m.name}...`);
    const model = await this.load(m.dir);
    setState(status, "running", `sampling ${request.n} images, ${request.steps} steps...`);
    const t0 = performance.now();
    const px = await samplePlanar(this.ctx, model, request);
    const ms = performance.now() - t0;
    const size = model.unet.config.sample_size;
    draw($<HTMLCanvasElement>("grid"), grid(px, size, Math.min(8, request.n)), 2);
    results.sample = { request, model: m.dir, ms, pixels: base64(px) };
    setState(
      status,
      "done",
      `${request.n} image${request.n === 1 ? "" : "s"} of "${request.prompt}" in ${secs(ms)} ` +
        `(${(request.n / (ms / 1000)).toFixed(2)} images/s)`,
    );
  }

  async finetune() {
    const status = $("ft-status");
    const m = this.model;
    const base = await this.load(m.dir);
    const size = base.unet.config.sample_size;
    const request: FinetuneRequest = {
      base: m.dir,
      prefs: m.prefs,
      out: `runs/web-${++this.runs}`,
      size,
      updates: num("ft-updates"),
      batch: num("ft-batch"),
      refSteps: num("ft-ref-steps"),
      lr: num("ft-lr"),
      beta: num("ft-beta"),
      gridEvery: num("ft-grid-every"),
      gridSteps: num("ft-preview-steps"),
      gridPrompts: m.prompts,
      seed: 0,
    };
    const bar = $<HTMLProgressElement>("ft-progress");
    bar.max = request.updates;
    bar.value = 0;
    const stats: StepStats[] = [];
    this.stop = new StopFlag(this.host);
    $<HTMLButtonElement>("stop").disabled = false;
    setState(status, "running", `loading ${m.prefs} and starting...`);
    const t0 = performance.now();
    let stopped = false;
    try {
      await finetune(this.ctx, request, {
        stop: this.stop,
        log: (s) => this.log(s),
        onUpdate: async (done, s) => {
          bar.value = done;
          if (s) stats.push(s);
          const el = performance.now() - t0;
          setState(
            status,
            "running",
            `update ${done}/${request.updates}` +
              (s ? `: loss ${s.loss.toFixed(4)}, flip rate ${s.flip_rate.toFixed(2)}` : "") +
              ` (${secs(el)}, ${(done / (el / 1000)).toFixed(3)} updates/s)`,
          );
          this.curves(stats);
          if (request.gridEvery > 0 && done % request.gridEvery === 0) await this.liveGrid(request.out, done);
        },
      });
    } catch (e) {
      if (!(e instanceof StoppedError)) throw e;
      stopped = true;
    } finally {
      this.stop.dispose();
      this.stop = null;
      $<HTMLButtonElement>("stop").disabled = true;
    }
    const ms = performance.now() - t0;
    results.finetune = { request, ms, stats, stopped };
    setState(status, "running", `${stats.length} updates in ${secs(ms)}; sampling before / after...`);
    const tc = performance.now();
    await this.compare(base, request);
    results.compare = { ms: performance.now() - tc };
    setState(
      status,
      "done",
      `${stopped ? "stopped after" : "done:"} ${stats.length} updates in ${secs(ms)} ` +
        `(${(stats.length / (ms / 1000)).toFixed(3)} updates/s); last loss ${
          stats.at(-1)?.loss.toFixed(4) ?? "-"
        }`,
    );
  }

  /** The trainer's own sample grid of this update, read back from the in-memory run folder. */
  async liveGrid(out: string, step: number) {
    const path = `${out}/samples/step-${step}.png`;
    const bytes = await this.host.fs.readFile(path).catch(() => null);
    if (!bytes) return;
    const img = $<HTMLImageElement>("ft-grid");
    const old = img.src;
    img.src = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "image/png" }));
    img.hidden = false;
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    const caption = await this.host.fs.readTextFile(path.replace(/\.png$/, ".txt")).catch(() => "");
    $("ft-grid-caption").textContent = `After update ${step}. ${caption.replace(/\n/g, "; ")}`;
  }

  curves(stats: StepStats[]) {
    const series = (key: keyof StepStats) => stats.map((s) => [s.step, Number(s[key])] as [number, number]);
    $("curves").innerHTML = lineChart("SePPO loss", [{ name: "loss", points: series("loss") }], {
      xLabel: "update",
    }) + lineChart("implicit accuracy and flip rate", [
      { name: "implicit accuracy", points: series("implicit_acc") },
      { name: "flip rate", points: series("flip_rate") },
    ], { xLabel: "update" });
  }

  /** Base and fine-tuned model on the world's comparison prompts, seeds 0 and 1, side by side. */
  async compare(base: TextToImage, r: FinetuneRequest) {
    const box = $("compare");
    box.innerHTML = "";
    const prompts = r.gridPrompts.flatMap((p) => [p, p]);
    const seeds = r.gridPrompts.flatMap(() => [0, 1]);
    const o = { steps: r.gridSteps, guidance: 3 };
    const tuned = await TextToImage.load(this.ctx, r.out); // the run folder's latest checkpoint
    try {
      for (const [label, model] of [["base", base], [`after ${r.updates} updates`, tuned]] as const) {
        const x = await model.generate(this.ctx, prompts, seeds, o);
        const px = await x.read();
        x.dispose();
        const fig = document.createElement("figure");
        const canvas = document.createElement("canvas");
        draw(canvas, grid(px, r.size, 2), 1);
        const cap = document.createElement("figcaption");
        cap.textContent = label;
        fig.append(canvas, cap);
        box.append(fig);
      }
    } finally {
      tuned.dispose();
    }
    const list = document.createElement("ol");
    for (const p of r.gridPrompts) {
      list.append(Object.assign(document.createElement("li"), { textContent: p }));
    }
    box.append(list);
  }
}

async function main() {
  if (!("gpu" in navigator)) {
    noWebGpu(
      "This browser has no navigator.gpu. Use a recent Chrome, Edge or Safari (or Firefox with WebGPU " +
        "enabled) over https or localhost; headless Chromium needs --enable-unsafe-webgpu.",
    );
    return;
  }
  const host = await browserHost({ base: new URL(".", location.href), log: (s) => console.info(s) });
  let ctx: GpuContext;
  try {
    ctx = await GpuContext.create(host);
  } catch (e) {
    if (e instanceof NoAdapterError) return noWebGpu(e.message);
    throw e;
  }
  results.adapter = ctx.label;
  const page = new Page(host, ctx);
  page.setup();
  setState(
    $("status"),
    "ready",
    `Ready: ${ctx.label}. Models: ${host.site.models.map((m) => m.name).join(", ")}.`,
  );
}

main().catch((e) => {
  results.error = (e as Error).message ?? String(e);
  setState($("status"), "error", `error: ${results.error}`);
  console.error(e);
});
