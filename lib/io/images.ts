// Image and animation files through sharp (libvips): reading any PNG/JPEG/WebP/GIF (grey, RGBA,
// 16-bit, palette) to 8-bit RGB, writing PNG/JPEG/WebP, animated GIF/WebP, and contact sheets.
// Pixel buffers here are RGB bytes [H, W, 3], row-major.

import sharp from "sharp";

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

function bytes(buf: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A sharp pipeline to 8-bit sRGB without alpha, resized (centre crop) to size x size if given. Alpha
 * is dropped, not composited, as PIL's convert("RGB") does, so results match diffusers' loaders. */
function toRgb(img: sharp.Sharp, size?: number): sharp.Sharp {
  let p = img.removeAlpha().toColourspace("srgb");
  if (size !== undefined) p = p.resize(size, size, { fit: "cover", kernel: "lanczos3" });
  return p;
}

async function rawRgb(p: sharp.Sharp, what: string): Promise<RgbImage> {
  const { data, info } = await p.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${what}: decoded to ${info.channels} channels, expected 3`);
  return { data: bytes(data), width: info.width, height: info.height };
}

/** Reads an image file (first frame of an animation) as RGB bytes, optionally resized to size x size.
 * Errors name the file. */
export async function readImage(path: string, opts: { size?: number } = {}): Promise<RgbImage> {
  try {
    return await rawRgb(toRgb(sharp(path), opts.size), path);
  } catch (e) {
    throw new Error(`${path}: unreadable image (${(e as Error).message})`);
  }
}

/** Reads every frame of an animated GIF/WebP (a still image gives one frame) as RGB bytes. */
export async function readFrames(path: string, opts: { size?: number } = {}): Promise<RgbImage[]> {
  try {
    const meta = await sharp(path, { pages: -1 }).metadata();
    const pages = meta.pages ?? 1;
    const strip = await rawRgb(toRgb(sharp(path, { pages: -1 })), path);
    const h = meta.pageHeight ?? strip.height / pages;
    const frameBytes = strip.width * h * 3;
    const out: RgbImage[] = [];
    for (let k = 0; k < pages; k++) {
      const data = strip.data.slice(k * frameBytes, (k + 1) * frameBytes);
      out.push(
        opts.size === undefined ? { data, width: strip.width, height: h } : await resizeRgb(
          { data, width: strip.width, height: h },
          opts.size,
        ),
      );
    }
    return out;
  } catch (e) {
    throw new Error(`${path}: unreadable animation (${(e as Error).message})`);
  }
}

function fromRaw(img: RgbImage, pageHeight?: number): sharp.Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3, pageHeight } });
}

/** Resizes RGB bytes to size x size (centre crop). */
export function resizeRgb(img: RgbImage, size: number): Promise<RgbImage> {
  return rawRgb(toRgb(fromRaw(img), size), "resize");
}

/** Encodes RGB bytes by file extension: .png, .jpg/.jpeg (quality 95), .webp (lossless). */
export async function encodeImage(img: RgbImage, path: string): Promise<Uint8Array> {
  const ext = path.toLowerCase().split(".").pop();
  const p = fromRaw(img);
  if (ext === "png") return bytes(await p.png().toBuffer());
  if (ext === "jpg" || ext === "jpeg") return bytes(await p.jpeg({ quality: 95 }).toBuffer());
  if (ext === "webp") return bytes(await p.webp({ lossless: true }).toBuffer());
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

/** Runs a write of `path`; a failure (disk full, no permission) names the path and the reason. */
async function writing(path: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (e) {
    throw new Error(`${path}: cannot write (${writeReason(e)})`, { cause: e });
  }
}

export async function writeImage(path: string, img: RgbImage): Promise<void> {
  const data = await encodeImage(img, path);
  await writing(path, () => Deno.writeFile(path, data));
}

/** Writes an animated GIF (no dithering: flat colours stay exact) or lossless WebP, looping. */
export async function writeAnimation(path: string, frames: RgbImage[], delayMs = 125): Promise<void> {
  if (frames.length === 0) throw new Error(`${path}: no frames`);
  const { width, height } = frames[0];
  const strip = new Uint8Array(width * height * 3 * frames.length);
  frames.forEach((f, k) => {
    if (f.width !== width || f.height !== height) {
      throw new Error(`${path}: frame ${k} is not ${width}x${height}`);
    }
    strip.set(f.data, k * f.data.length);
  });
  const p = fromRaw({ data: strip, width, height: height * frames.length }, height);
  const ext = path.toLowerCase().split(".").pop();
  const delay = frames.map(() => delayMs);
  if (ext === "gif") await writing(path, () => p.gif({ loop: 0, delay, dither: 0 }).toFile(path));
  else if (ext === "webp") await writing(path, () => p.webp({ loop: 0, delay, lossless: true }).toFile(path));
  else throw new Error(`${path}: unsupported animation extension '.${ext}' (gif, webp)`);
}

/** Rasterises an SVG straight to a PNG file (one sharp pipeline: the generators' fast path). */
export async function writeSvgPng(svg: string, path: string): Promise<void> {
  await writing(path, () => sharp(new TextEncoder().encode(svg)).removeAlpha().png().toFile(path));
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
