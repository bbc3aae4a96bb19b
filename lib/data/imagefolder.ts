// The imagefolder loader: metadata.jsonl + images (or clips), decoded once through sharp (any PNG,
// JPEG, WebP, GIF mode; any size, centre-cropped and resized to the model's), served as shuffled,
// seeded batches of f32 tensors in [-1, 1].

import { join } from "node:path";
import type { Rng } from "../util/rng.ts";
import type { ClipAttrs, SceneAttrs } from "../world/attrs.ts";
import { readFrames, readImage } from "../io/images.ts";
import { type MetadataRow, readMetadata } from "./metadata.ts";
import { pool } from "./pool.ts";
import type { Host } from "../host/host.ts";

export interface LoadOptions {
  /** Side the images are resized to (the model's). */
  size: number;
  /** Frames per clip: set for a moving-shapes dataset. */
  frames?: number;
  /** Decodes in flight at once (default 8). */
  concurrency?: number;
}

export interface Batch {
  /** [B, 3, H, W] (clips: [B, F, 3, H, W]), planar, in [-1, 1]. */
  images: Float32Array;
  texts: string[];
  /** The world attributes (null for a plain row: file_name + text only). */
  attrs: (SceneAttrs | ClipAttrs | null)[];
  /** The paired losers, same layout as images, when every row of the dataset has one. */
  losers?: Float32Array;
  loserAttrs?: (SceneAttrs | ClipAttrs | null)[];
  /** Row indices into Dataset.items. */
  indices: number[];
}

export interface Dataset {
  dir: string;
  size: number;
  /** 1 for still images. */
  frames: number;
  items: MetadataRow[];
  /** RGB bytes per item, [F, H, W, 3] (F = 1 for stills). */
  pixels: Uint8Array[];
  loserPixels?: Uint8Array[];
  /** One epoch of shuffled batches; with dropLast (default) only full batches. */
  batches(batchSize: number, rng: Rng, opts?: { dropLast?: boolean }): Generator<Batch>;
}

/** Reads a clip: a directory of frame images (sorted by name) or an animated GIF/WebP. */
async function readClip(
  host: Host,
  dir: string,
  framesDir: string | undefined,
  file: string,
  size: number,
): Promise<Uint8Array[]> {
  if (framesDir !== undefined) {
    const names: string[] = [];
    for await (const e of host.fs.readDir(join(dir, framesDir))) {
      if (e.isFile && /\.(png|jpe?g|webp)$/i.test(e.name)) names.push(e.name);
    }
    names.sort();
    return Promise.all(
      names.map(async (n) => (await readImage(host, join(dir, framesDir, n), { size })).data),
    );
  }
  return (await readFrames(host, join(dir, file), { size })).map((f) => f.data);
}

async function readItem(
  host: Host,
  dir: string,
  row: MetadataRow,
  size: number,
  frames: number | undefined,
  loser: boolean,
): Promise<Uint8Array> {
  const file = loser ? row.loser_file_name! : row.file_name;
  const at = `${join(dir, "metadata.jsonl")}:${row.line}`;
  try {
    if (frames === undefined) return (await readImage(host, join(dir, file), { size })).data;
    const clip = await readClip(host, dir, loser ? row.loser_frames_dir : row.frames_dir, file, size);
    if (clip.length !== frames) throw new Error(`${file}: ${clip.length} frames, expected ${frames}`);
    const out = new Uint8Array(frames * size * size * 3);
    clip.forEach((f, k) => out.set(f, k * f.length));
    return out;
  } catch (e) {
    throw new Error(`${at}: ${(e as Error).message}`);
  }
}

/** Converts RGB bytes [F, H, W, 3] to planar [F, 3, H, W] floats in [-1, 1], written at `out[at]`. */
export function toPlanar(px: Uint8Array, size: number, out: Float32Array, at: number): void {
  const n = size * size;
  const frames = px.length / (3 * n);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < 3; c++) {
      const dst = at + (f * 3 + c) * n;
      for (let i = 0; i < n; i++) out[dst + i] = px[3 * (f * n + i) + c] / 127.5 - 1;
    }
  }
}

export async function loadImageFolder(host: Host, dir: string, opts: LoadOptions): Promise<Dataset> {
  const { size, frames } = opts;
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`loadImageFolder: size must be a positive integer, got ${size}`);
  }
  const items = await readMetadata(host, dir, { clip: frames !== undefined });
  const limit = opts.concurrency ?? 8;
  const pixels = await pool(items.length, limit, (i) => readItem(host, dir, items[i], size, frames, false));
  const paired = items.every((r) => r.loser_file_name !== undefined);
  const loserPixels = paired
    ? await pool(items.length, limit, (i) => readItem(host, dir, items[i], size, frames, true))
    : undefined;
  const F = frames ?? 1;
  const per = F * 3 * size * size;

  function* batches(batchSize: number, rng: Rng, bopts: { dropLast?: boolean } = {}): Generator<Batch> {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`batches: bad batch size ${batchSize}`);
    }
    const dropLast = bopts.dropLast ?? true;
    if (dropLast && batchSize > items.length) {
      throw new Error(`batches: batch size ${batchSize} exceeds the ${items.length} items of ${dir}`);
    }
    const order = rng.shuffle(items.map((_, i) => i));
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      if (idx.length < batchSize && dropLast) break;
      const images = new Float32Array(idx.length * per);
      idx.forEach((i, b) => toPlanar(pixels[i], size, images, b * per));
      const batch: Batch = {
        images,
        texts: idx.map((i) => items[i].text),
        attrs: idx.map((i) => items[i].attrs),
        indices: idx,
      };
      if (loserPixels) {
        batch.losers = new Float32Array(idx.length * per);
        idx.forEach((i, b) => toPlanar(loserPixels[i], size, batch.losers!, b * per));
        batch.loserAttrs = idx.map((i) => items[i].loser_attrs ?? items[i].attrs);
      }
      yield batch;
    }
  }
  return { dir, size, frames: F, items, pixels, loserPixels, batches };
}

/** Throws unless every row has a paired loser, naming the first row without one. */
export function requireLosers(ds: Dataset, why: string): void {
  if (ds.loserPixels) return;
  const row = ds.items.find((r) => r.loser_file_name === undefined)!;
  const missing = ds.items.filter((r) => r.loser_file_name === undefined).length;
  throw new Error(
    `${join(ds.dir, "metadata.jsonl")}:${row.line}: no loser_file_name (${why} needs a paired loser on ` +
      `every row; ${missing} of ${ds.items.length} rows lack one; generate with deno task data --pairs)`,
  );
}
