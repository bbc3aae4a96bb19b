// The browser host (lib/host/host.ts) for a page: files are the site's (web_fs.ts: fetched, listed
// by the build's files.json) plus an in-memory layer for writes; images are decoded and encoded with
// ImageBitmap and a canvas instead of sharp; the kernels' WGSL is fetched once when the host is
// created, so pipelines compile synchronously as under Deno. No Deno, no sharp, no DOM library types
// (the few canvas calls are typed below), so `deno check` sees this file as it sees the rest of lib/.
import type { BackendChoice } from "../gpu/backend.ts";
import type { KernelFile } from "../gpu/kernel.ts";
import type { RgbImage } from "../io/images.ts";
import type { Host, HostImages, HostProcess } from "./host.ts";
import { WebFs } from "./web_fs.ts";

/** What the build writes beside the page: every served file with its size, and the models offered. */
export interface SiteManifest {
  version: 1;
  files: Record<string, number>;
  models: SiteModel[];
}

export interface SiteModel {
  /** Folder name, e.g. "base-shapes-16". */
  name: string;
  /** Site path of the checkpoint folder ("models/base-shapes-16"). */
  dir: string;
  /** The synthetic world it was pretrained on ("shapes", "taste"). */
  world: string;
  /** Site path of its small preference set (an imagefolder of winners). */
  prefs: string;
  /** Prompts for the before/after comparison, from its world. */
  prompts: string[];
}

// ---- the canvas calls used, typed structurally -------------------------------------------------
interface Ctx2d {
  drawImage(
    img: unknown,
    sx: number,
    sy: number,
    sw: number,
    sh: number,
    dx: number,
    dy: number,
    dw: number,
    dh: number,
  ): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  putImageData(d: unknown, x: number, y: number): void;
  imageSmoothingEnabled: boolean;
  imageSmoothingQuality: string;
}
interface Canvas {
  getContext(kind: "2d", o?: { willReadFrequently?: boolean }): Ctx2d | null;
  convertToBlob(o: { type: string; quality?: number }): Promise<Blob>;
}
interface BrowserGlobals {
  OffscreenCanvas?: new (w: number, h: number) => Canvas;
  ImageData: new (data: Uint8ClampedArray, w: number, h: number) => unknown;
  Image?: new () => { src: string; decode(): Promise<void>; naturalWidth: number; naturalHeight: number };
}
const web = globalThis as unknown as BrowserGlobals;

function canvas(w: number, h: number): { c: Canvas; g: Ctx2d } {
  if (!web.OffscreenCanvas) throw new Error("images: this browser has no OffscreenCanvas");
  const c = new web.OffscreenCanvas(w, h);
  const g = c.getContext("2d", { willReadFrequently: true });
  if (!g) throw new Error("images: no 2d canvas context");
  return { c, g };
}

const toRgb = (rgba: Uint8ClampedArray, width: number, height: number): RgbImage => {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    data[i] = rgba[j];
    data[i + 1] = rgba[j + 1];
    data[i + 2] = rgba[j + 2];
  }
  return { data, width, height };
};

const toRgba = (img: RgbImage): Uint8ClampedArray => {
  const out = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    out[j] = img.data[i];
    out[j + 1] = img.data[i + 1];
    out[j + 2] = img.data[i + 2];
    out[j + 3] = 255;
  }
  return out;
};

/** Draws `src` (w x h) into a size x size canvas, centre-cropped to a square (sharp's fit "cover"). */
function drawSquare(src: unknown, w: number, h: number, size: number): RgbImage {
  const { g } = canvas(size, size);
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = "high";
  const side = Math.min(w, h);
  g.drawImage(src, (w - side) / 2, (h - side) / 2, side, side, 0, 0, size, size);
  return toRgb(g.getImageData(0, 0, size, size).data, size, size);
}

/** Decodes image bytes exactly: no colour-space conversion, no premultiplied alpha (alpha dropped). */
async function decode(bytes: Uint8Array, size?: number): Promise<RgbImage> {
  const bmp = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  try {
    if (size !== undefined) return drawSquare(bmp, bmp.width, bmp.height, size);
    const { g } = canvas(bmp.width, bmp.height);
    g.drawImage(bmp, 0, 0, bmp.width, bmp.height, 0, 0, bmp.width, bmp.height);
    return toRgb(g.getImageData(0, 0, bmp.width, bmp.height).data, bmp.width, bmp.height);
  } finally {
    bmp.close();
  }
}

function putRgb(img: RgbImage): Canvas {
  const { c, g } = canvas(img.width, img.height);
  g.putImageData(new web.ImageData(toRgba(img), img.width, img.height), 0, 0);
  return c;
}

async function svgImage(svg: string) {
  if (!web.Image) throw new Error("images: SVG needs a page (no Image element here)");
  const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
  try {
    const img = new web.Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

const MIME = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" } as const;

function browserImages(fs: WebFs): HostImages {
  const encode = async (img: RgbImage, format: keyof typeof MIME) => {
    const blob = await putRgb(img).convertToBlob({
      type: MIME[format],
      quality: format === "png" ? undefined : 1,
    });
    return new Uint8Array(await blob.arrayBuffer());
  };
  return {
    read: async (path, size) => decode(await fs.readFile(path), size),
    readFrames: async (path, size) => [await decode(await fs.readFile(path), size)],
    resize: (img, size) => Promise.resolve().then(() => drawSquare(putRgb(img), img.width, img.height, size)),
    encode,
    encodeAnimation() {
      return Promise.reject(new Error("animated images are not written by the browser host"));
    },
    async renderSvg(svg) {
      const img = await svgImage(svg);
      const w = img.naturalWidth, h = img.naturalHeight;
      const { g } = canvas(w, h);
      g.drawImage(img, 0, 0, w, h, 0, 0, w, h);
      return toRgb(g.getImageData(0, 0, w, h).data, w, h).data;
    },
    async svgToPng(svg) {
      const img = await svgImage(svg);
      const w = img.naturalWidth, h = img.naturalHeight;
      const { c, g } = canvas(w, h);
      g.drawImage(img, 0, 0, w, h, 0, 0, w, h);
      return new Uint8Array(await (await c.convertToBlob({ type: "image/png" })).arrayBuffer());
    },
  };
}

function browserProcess(log: (s: string) => void): HostProcess {
  return {
    pid: 0,
    args: [],
    env: () => undefined,
    exit(code) {
      throw new Error(`exit(${code}) called in a page`);
    },
    // A page has no signals; it stops a run with StopFlag.request().
    watchStop: () => Promise.resolve(() => {}),
    writeStderr: (t) => log(t.replace(/\n$/, "")),
    stderrIsTerminal: () => false,
  };
}

const BACKEND: BackendChoice = { backend: "browser", reason: "the browser's navigator.gpu" };

export interface BrowserHost extends Host {
  readonly fs: WebFs;
  readonly site: SiteManifest;
}

/**
 * Creates the host for a page served from `base` (the folder holding files.json): reads the
 * manifest, then fetches every kernels/*.wgsl (a few dozen KB). `log` takes progress lines.
 */
export async function browserHost(
  o: { base: string | URL; log?: (s: string) => void; fetch?: typeof fetch },
): Promise<BrowserHost> {
  const base = new URL(o.base);
  const fetcher = o.fetch ?? fetch.bind(globalThis);
  const res = await fetcher(new URL("files.json", base));
  if (!res.ok) {
    throw new Error(`${new URL("files.json", base)}: ${res.status} ${res.statusText} (not a built site?)`);
  }
  const site = await res.json() as SiteManifest;
  if (site.version !== 1 || typeof site.files !== "object") {
    throw new Error(`${new URL("files.json", base)}: not a site manifest of version 1`);
  }
  const fs = new WebFs({ base, manifest: site.files, fetch: fetcher });
  const kernels = new Map<string, string>();
  await Promise.all(
    Object.keys(site.files).filter((p) => p.startsWith("kernels/") && p.endsWith(".wgsl")).map(async (p) => {
      kernels.set(p, await fs.readTextFile(p));
    }),
  );
  return {
    name: "browser",
    fs,
    site,
    images: browserImages(fs),
    proc: browserProcess(o.log ?? ((s) => console.info(s))),
    kernelSource(kernel: KernelFile) {
      const src = kernels.get(kernel.file);
      if (src === undefined) throw new Error(`${kernel.file}: not in the site's files.json`);
      return src;
    },
    chooseBackend: () => BACKEND,
  };
}
