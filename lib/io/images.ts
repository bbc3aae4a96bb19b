// Image and animation files through the host's codecs (lib/host/host.ts: sharp under Deno, canvas in
// a page): reading any PNG/JPEG/WebP/GIF (grey, RGBA, 16-bit, palette) to 8-bit RGB, writing
// PNG/JPEG/WebP, animated GIF/WebP, and contact sheets. Pixel buffers here are RGB bytes [H, W, 3],
// row-major. Errors name the file.
import type { Host } from "../host/host.ts";

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Reads an image file (first frame of an animation) as RGB bytes, optionally resized to size x size.
 * Alpha is dropped, not composited, as PIL's convert("RGB") does. Errors name the file. */
export async function readImage(host: Host, path: string, opts: { size?: number } = {}): Promise<RgbImage> {
  try {
    return await host.images.read(path, opts.size);
  } catch (e) {
    throw new Error(`${path}: unreadable image (${(e as Error).message})`);
  }
}

/** Reads every frame of an animated GIF/WebP (a still image gives one frame) as RGB bytes. */
export async function readFrames(
  host: Host,
  path: string,
  opts: { size?: number } = {},
): Promise<RgbImage[]> {
  try {
    return await host.images.readFrames(path, opts.size);
  } catch (e) {
    throw new Error(`${path}: unreadable animation (${(e as Error).message})`);
  }
}

/** Resizes RGB bytes to size x size (centre crop). */
export function resizeRgb(host: Host, img: RgbImage, size: number): Promise<RgbImage> {
  return host.images.resize(img, size);
}

/** Encodes RGB bytes by file extension: .png, .jpg/.jpeg (quality 95), .webp (lossless). */
export function encodeImage(host: Host, img: RgbImage, path: string): Promise<Uint8Array> {
  const ext = path.toLowerCase().split(".").pop();
  if (ext === "png" || ext === "webp") return host.images.encode(img, ext);
  if (ext === "jpg" || ext === "jpeg") return host.images.encode(img, "jpeg");
  throw new Error(`${path}: unsupported image extension '.${ext}' (png, jpg, jpeg, webp)`);
}

/** The reason in a write error: libvips' log has one "path: write error" line per failed file of
 * the process and the system error last; Deno's ends "(os error N): write 'path'". */
function writeReason(e: unknown): string {
  const lines = String((e as Error)?.message ?? e).split("\n").map((l) => l.trim()).filter(Boolean);
  return (lines[lines.length - 1] ?? "unknown error").replace(/^system error: /, "").replace(
    / \(os error.*$/,
    "",
  );
}

/** Writes encoded bytes to `path`; a failure (disk full, no permission) names the path and the reason. */
async function writeBytes(host: Host, path: string, data: Uint8Array): Promise<void> {
  try {
    await host.fs.writeFile(path, data);
  } catch (e) {
    throw new Error(`${path}: cannot write (${writeReason(e)})`, { cause: e });
  }
}

export async function writeImage(host: Host, path: string, img: RgbImage): Promise<void> {
  await writeBytes(host, path, await encodeImage(host, img, path));
}

/** Writes an animated GIF (no dithering: flat colours stay exact) or lossless WebP, looping. */
export async function writeAnimation(
  host: Host,
  path: string,
  frames: RgbImage[],
  delayMs = 125,
): Promise<void> {
  if (frames.length === 0) throw new Error(`${path}: no frames`);
  const { width, height } = frames[0];
  const strip = new Uint8Array(width * height * 3 * frames.length);
  frames.forEach((f, k) => {
    if (f.width !== width || f.height !== height) {
      throw new Error(`${path}: frame ${k} is not ${width}x${height}`);
    }
    strip.set(f.data, k * f.data.length);
  });
  const ext = path.toLowerCase().split(".").pop();
  if (ext !== "gif" && ext !== "webp") {
    throw new Error(`${path}: unsupported animation extension '.${ext}' (gif, webp)`);
  }
  const img = { data: strip, width, height: height * frames.length };
  await writeBytes(
    host,
    path,
    await host.images.encodeAnimation(img, height, ext, frames.map(() => delayMs)),
  );
}

/** Rasterises an SVG straight to a PNG file (one pipeline: the generators' fast path). */
export async function writeSvgPng(host: Host, svg: string, path: string): Promise<void> {
  await writeBytes(host, path, await host.images.svgToPng(svg));
}

export interface SheetOptions {
  /** Images per row (default: ceil(sqrt(n))). */
  cols?: number;
  /** Pixels between tiles (default 1), in output pixels. */
  pad?: number;
  /** Integer nearest-neighbour upscale of each tile (default 1), so 16x16 pixels stay visible. */
  scale?: number;
  /** Colour between tiles (default mid grey). */
  background?: [number, number, number];
}

/** Tiles equally sized RGB images into one grid image, row by row. */
export function contactSheet(images: RgbImage[], opts: SheetOptions = {}): RgbImage {
  if (images.length === 0) throw new Error("contactSheet: no images");
  const cols = opts.cols ?? Math.ceil(Math.sqrt(images.length));
  const rows = Math.ceil(images.length / cols);
  const pad = opts.pad ?? 1, scale = opts.scale ?? 1, bg = opts.background ?? [128, 128, 128];
  const tw = images[0].width * scale, th = images[0].height * scale;
  const width = cols * tw + (cols + 1) * pad, height = rows * th + (rows + 1) * pad;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(bg, 3 * i);
  images.forEach((img, k) => {
    if (img.width * scale !== tw || img.height * scale !== th) {
      throw new Error(`contactSheet: image ${k} size differs`);
    }
    const ox = pad + (k % cols) * (tw + pad), oy = pad + Math.floor(k / cols) * (th + pad);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const src = 3 * (Math.floor(y / scale) * img.width + Math.floor(x / scale));
        data.set(img.data.subarray(src, src + 3), 3 * ((oy + y) * width + ox + x));
      }
    }
  });
  return { data, width, height };
}
