// The Deno host's images: sharp (libvips). Reads any PNG/JPEG/WebP/GIF (grey, RGBA, 16-bit, palette)
// to 8-bit RGB, encodes PNG/JPEG/WebP and animated GIF/WebP, rasterises SVG (librsvg). Pixel buffers
// are RGB bytes [H, W, 3], row-major. Only the Deno host imports this file: sharp never reaches the
// browser bundle.
import sharp from "sharp";
import type { RgbImage } from "../io/images.ts";
import type { HostImages } from "./host.ts";

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

async function rawRgb(p: sharp.Sharp): Promise<RgbImage> {
  const { data, info } = await p.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return { data: bytes(data), width: info.width, height: info.height };
}

function fromRaw(img: RgbImage, pageHeight?: number): sharp.Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3, pageHeight } });
}

const resize = (img: RgbImage, size: number) => rawRgb(toRgb(fromRaw(img), size));

/** A file (path) or encoded bytes as RGB, resized to size x size when given. */
export function decodeImage(input: string | Uint8Array, size?: number): Promise<RgbImage> {
  return rawRgb(toRgb(sharp(input), size));
}

export const denoImages: HostImages = {
  read: decodeImage,
  async readFrames(path, size) {
    const meta = await sharp(path, { pages: -1 }).metadata();
    const pages = meta.pages ?? 1;
    const strip = await rawRgb(toRgb(sharp(path, { pages: -1 })));
    const h = meta.pageHeight ?? strip.height / pages;
    const frameBytes = strip.width * h * 3;
    const out: RgbImage[] = [];
    for (let k = 0; k < pages; k++) {
      const frame = {
        data: strip.data.slice(k * frameBytes, (k + 1) * frameBytes),
        width: strip.width,
        height: h,
      };
      out.push(size === undefined ? frame : await resize(frame, size));
    }
    return out;
  },
  resize,
  async encode(img, format) {
    const p = fromRaw(img);
    if (format === "png") return bytes(await p.png().toBuffer());
    if (format === "jpeg") return bytes(await p.jpeg({ quality: 95 }).toBuffer());
    return bytes(await p.webp({ lossless: true }).toBuffer());
  },
  async encodeAnimation(strip, frameHeight, format, delay) {
    const p = fromRaw(strip, frameHeight);
    // No dithering: flat colours stay exact.
    if (format === "gif") return bytes(await p.gif({ loop: 0, delay, dither: 0 }).toBuffer());
    return bytes(await p.webp({ loop: 0, delay, lossless: true }).toBuffer());
  },
  async renderSvg(svg) {
    return bytes(await sharp(new TextEncoder().encode(svg)).removeAlpha().raw().toBuffer());
  },
  async svgToPng(svg) {
    return bytes(await sharp(new TextEncoder().encode(svg)).removeAlpha().png().toBuffer());
  },
};
