// Scores every row of a dataset folder (generated data or model samples, docs/DATA.md) against its own
// attributes, and optionally against another row's (the "mismatched prompt" baseline). Rows with a
// `taste` field (the taste world) also get the taste, guard and headline scores (score_taste.ts).

import { join } from "node:path";
import { Rng } from "../util/rng.ts";
import { type ClipAttrs, SCENE_FIELDS, type SceneAttrs } from "../world/attrs.ts";
import { renderClip, renderScene } from "../world/shapes.ts";
import { readFrames, readImage, resizeRgb, type RgbImage } from "../io/images.ts";
import { type MetadataRow, readMetadata, worldAttrs } from "../data/metadata.ts";
import { pool } from "../data/pool.ts";
import { parseTaste } from "../world/taste.ts";
import { readScene, scoreReading } from "./score_image.ts";
import { scoreTasteReading } from "./score_taste.ts";
import { scoreClip } from "./score_video.ts";
import { psnr, ssim } from "./metrics.ts";
import { bootstrapCI, type Interval } from "./stats.ts";
import type { Progress } from "../util/progress.ts";
import type { Host } from "../host/host.ts";

export interface ItemScores {
  file_name: string;
  /** Metric name -> value (NaN where a metric does not apply). */
  scores: Record<string, number>;
  /** Per field, 1 when the reading equals the prompt's value (stills only); `taste`: 1 when the
   * reading has the taste exactly when the row's taste is preferred. */
  agree?: Record<string, number>;
  /** Per field, the score against another row's attributes, where that field differs. */
  mismatch?: Record<string, number>;
}

export interface FolderReport {
  dir: string;
  kind: "image" | "clip";
  size: number;
  count: number;
  /** Metric -> mean with 95% bootstrap CI (NaN values skipped). */
  summary: Record<string, Interval & { n: number }>;
  items: ItemScores[];
}

/**
 * A non-square image is centre-cropped to a square of its shorter side: the region training keeps
 * (lib/data/imagefolder.ts resizes that same centre square to the model's size), scored at its own
 * resolution.
 */
async function square(host: Host, img: RgbImage, path: string): Promise<Uint8Array> {
  if (img.width === img.height) return img.data;
  return (await readImage(host, path, { size: Math.min(img.width, img.height) })).data;
}

function squareFrames(host: Host, frames: RgbImage[]): Promise<Uint8Array[]> {
  if (frames.length === 0 || frames[0].width === frames[0].height) {
    return Promise.resolve(frames.map((f) => f.data));
  }
  const side = Math.min(frames[0].width, frames[0].height);
  return Promise.all(frames.map(async (f) => (await resizeRgb(host, f, side)).data));
}

async function loadPixels(
  host: Host,
  dir: string,
  row: MetadataRow,
  clip: boolean,
  loser = false,
): Promise<Uint8Array[]> {
  const file = loser ? row.loser_file_name! : row.file_name;
  const framesDir = loser ? row.loser_frames_dir : row.frames_dir;
  const still = async (path: string) => await square(host, await readImage(host, path), path);
  if (!clip) return [await still(join(dir, file))];
  if (framesDir === undefined) return await squareFrames(host, await readFrames(host, join(dir, file)));
  const names: string[] = [];
  for await (const e of host.fs.readDir(join(dir, framesDir))) {
    if (e.isFile && /\.png$/i.test(e.name)) names.push(e.name);
  }
  names.sort();
  return Promise.all(names.map((n) => still(join(dir, framesDir, n))));
}

function sideOf(px: Uint8Array, where: string): number {
  const size = Math.round(Math.sqrt(px.length / 3));
  if (size * size * 3 !== px.length) throw new Error(`${where}: image is not square`);
  return size;
}

/** Scores one row; `other` is a different row's attributes for the mismatch baseline. */
async function scoreRow(
  host: Host,
  dir: string,
  row: MetadataRow,
  clip: boolean,
  other?: SceneAttrs,
): Promise<ItemScores> {
  const where = `${join(dir, "metadata.jsonl")}:${row.line} (${row.file_name})`;
  const frames = await loadPixels(host, dir, row, clip).catch((e) => {
    throw new Error(`${where}: ${(e as Error).message}`);
  });
  const size = sideOf(frames[0], where);
  const seeded = row.seed === undefined ? null : new Rng(row.seed);
  const out: ItemScores = { file_name: row.file_name, scores: {} };
  if (clip) {
    const a = row.attrs as ClipAttrs;
    const ref = await renderClip(host, a, size, frames.length, seeded);
    const s = scoreClip(frames, size, a, ref);
    for (const [k, v] of Object.entries(s)) if (typeof v === "number") out.scores[k] = v;
    if (row.loser_file_name) {
      const lf = await loadPixels(host, dir, row, clip, true);
      out.scores.loser_mean = scoreClip(lf, size, a).mean;
    }
    if (other) {
      const b = { ...a, ...other, motion: (other as ClipAttrs).motion ?? a.motion } as ClipAttrs;
      const m = scoreClip(frames, size, b);
      out.mismatch = { mean: m.mean };
      if (b.motion !== a.motion) out.mismatch.motion = m.motion;
    }
    return out;
  }
  const a = row.attrs as SceneAttrs;
  const reading = readScene(frames[0], size);
  Object.assign(out.scores, scoreReading(reading, a));
  const ref = await renderScene(host, a, size, seeded);
  out.scores.psnr = psnr(frames[0], ref, size);
  out.scores.ssim = ssim(frames[0], ref, size);
  out.agree = {};
  for (const f of SCENE_FIELDS) out.agree[f] = reading.attrs[f] === a[f] ? 1 : 0;
  const taste = parseTaste(row.raw, where);
  if (taste !== undefined) {
    const t = scoreTasteReading(reading, a);
    Object.assign(out.scores, { taste: t.taste, has_taste: t.hasTaste ? 1 : 0, guard: t.guard });
    out.scores.headline = t.headline;
    out.agree.taste = t.hasTaste === (taste === "preferred") ? 1 : 0;
  }
  if (row.loser_file_name) {
    const lp = await loadPixels(host, dir, row, clip, true);
    const lr = readScene(lp[0], size);
    out.scores.loser_mean = scoreReading(lr, a).mean;
    if (taste !== undefined) out.scores.loser_taste = scoreTasteReading(lr, a).taste;
  }
  if (other) {
    const s = scoreReading(reading, other);
    out.mismatch = { mean: s.mean };
    for (const f of SCENE_FIELDS) if (other[f] !== a[f]) out.mismatch[f] = s[f];
    const differs = other.background !== a.background || other.color !== a.color || other.shape !== a.shape;
    if (taste !== undefined && differs) out.mismatch.guard = scoreTasteReading(reading, other).guard;
  }
  return out;
}

function summarise(values: Record<string, number[]>, seed: number): Record<string, Interval & { n: number }> {
  const out: Record<string, Interval & { n: number }> = {};
  for (const [k, vs] of Object.entries(values)) {
    const ok = vs.filter((v) => !Number.isNaN(v));
    if (ok.length > 0) out[k] = { ...bootstrapCI(ok, new Rng(seed).fork(k)), n: ok.length };
  }
  return out;
}

/** Scores a folder. With mismatch, row i is also scored against row perm(i)'s attributes, perm a
 * seeded shuffle with no fixed points. */
export async function scoreFolder(
  host: Host,
  dir: string,
  opts: { mismatch?: boolean; seed?: number; progress?: (total: number) => Progress } = {},
): Promise<FolderReport> {
  const rows = await readMetadata(host, dir);
  const attrs = worldAttrs(rows, dir, "the scorer");
  const clip = "motion" in attrs[0];
  const rng = new Rng(opts.seed ?? 0).fork("mismatch");
  const perm = rows.map((_, i) => i);
  if (opts.mismatch && rows.length > 1) {
    rng.shuffle(perm);
    // Fix points are swapped with their neighbour: still a permutation, now without i -> i.
    for (let i = 0; i < perm.length; i++) {
      if (perm[i] === i) [perm[i], perm[(i + 1) % perm.length]] = [perm[(i + 1) % perm.length], perm[i]];
    }
  }
  const progress = opts.progress?.(rows.length);
  const items = await pool(rows.length, 8, async (i) => {
    const r = await scoreRow(
      host,
      dir,
      rows[i],
      clip,
      opts.mismatch && rows.length > 1 ? attrs[perm[i]] : undefined,
    );
    progress?.tick();
    return r;
  });
  progress?.finish();
  const values: Record<string, number[]> = {};
  const push = (k: string, v: number) => (values[k] ??= []).push(v);
  for (const it of items) {
    for (const [k, v] of Object.entries(it.scores)) push(k, v);
    for (const [k, v] of Object.entries(it.agree ?? {})) push(`agree.${k}`, v);
    for (const [k, v] of Object.entries(it.mismatch ?? {})) push(`mismatch.${k}`, v);
  }
  const first = await loadPixels(host, dir, rows[0], clip);
  return {
    dir,
    kind: clip ? "clip" : "image",
    size: sideOf(first[0], dir),
    count: rows.length,
    summary: summarise(values, opts.seed ?? 0),
    items,
  };
}
