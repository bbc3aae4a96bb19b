// The dataset generators of the worlds. Every item is drawn from rng.fork(index), so the output
// does not depend on the order renders finish in: the same options give byte-identical files.
// Layout: docs/DATA.md.

import { join } from "node:path";
import { Rng } from "../lib/util/rng.ts";
import { Progress } from "../lib/util/progress.ts";
import { type ClipAttrs, HELDOUT, isHeldout, type SceneAttrs } from "../lib/world/attrs.ts";
import { layoutScene, renderClip, renderScene, sceneSvg } from "../lib/world/shapes.ts";
import { contactSheet, type RgbImage, writeAnimation, writeImage, writeSvgPng } from "../lib/io/images.ts";
import { pool } from "../lib/data/pool.ts";
import { UsageError } from "../lib/util/errors.ts";
import { DESIGN_CELLS, designCell, OTHER_LOOKS, PREFERRED, tasteOf } from "../lib/world/taste.ts";
import {
  type AnyAttrs,
  caption,
  changeableFields,
  changeField,
  sampleAttrs,
  sampleLook,
} from "./sampling.ts";
import type { Host } from "../lib/host/host.ts";

export type World = "shapes" | "moving-shapes" | "taste";
/** val (taste world only) and eval are prompts only. */
export type Split = "pretrain" | "prefs" | "val" | "eval";

export interface GenerateOptions {
  world: World;
  split: Split;
  count: number;
  size: number;
  seed: number;
  /** Share of captions with one wrong or missing field. */
  captionNoise: number;
  /** Also render a loser per item, with one field changed. */
  pairs: boolean;
  out: string;
  /** Frames per clip (moving-shapes). */
  frames: number;
  /** Share of clips that also grow or shrink (moving-shapes). */
  growth: number;
  /** Share of pretraining scenes with the preferred look (taste; default 0.2). */
  tasteShare?: number;
  /** Renders in flight at once. */
  concurrency: number;
  /** Print progress (default true). */
  progress?: boolean;
}

export const DEFAULTS: Required<Omit<GenerateOptions, "world" | "split" | "out" | "progress">> = {
  count: 1000,
  size: 32,
  seed: 0,
  captionNoise: 0,
  pairs: false,
  frames: 8,
  growth: 0,
  tasteShare: 0.2,
  concurrency: 8,
};

function promptsOnly(split: Split): boolean {
  return split === "eval" || split === "val";
}

/** Rejects option combinations that make no sense, naming the flag. */
export function checkOptions(o: GenerateOptions): void {
  const share = o.tasteShare ?? DEFAULTS.tasteShare;
  if (!(share >= 0 && share <= 1)) {
    throw new UsageError(`--taste-share: expected a share in [0, 1] (${share})`);
  }
  if (o.captionNoise > 0 && promptsOnly(o.split) && o.world === "taste") {
    throw new UsageError(`--caption-noise: the ${o.split} split is clean prompts (${o.captionNoise})`);
  }
  if (o.pairs && promptsOnly(o.split)) throw new UsageError(`--pairs: the ${o.split} split is prompts only`);
  if (o.world !== "taste") {
    if (o.split === "val") throw new UsageError(`--split: only the taste world has a val split (${o.world})`);
    return;
  }
  if (o.split === "prefs" && o.captionNoise > 0) {
    throw new UsageError(`--caption-noise: taste prefs have clean captions (${o.captionNoise})`);
  }
  if (o.split === "pretrain" && o.pairs) {
    throw new UsageError("--pairs: in the taste world only the prefs split has losers");
  }
}

/** The attribute fields of a row, in a fixed order; the taste world adds the scene's taste. */
function attrFields(a: AnyAttrs, world: World): Record<string, string> {
  const out: Record<string, string> = {
    background: a.background,
    color: a.color,
    shape: a.shape,
    size: a.size,
    position: a.position,
  };
  if ("motion" in a) {
    out.motion = a.motion;
    if (a.growth) out.growth = a.growth;
  }
  if (world === "taste") out.taste = tasteOf(a);
  return out;
}

function pad(i: number): string {
  return String(i).padStart(6, "0");
}

/** Renders one item (and its loser); returns its metadata row and its first frame for the sheet. */
async function makeItem(
  host: Host,
  o: GenerateOptions,
  root: Rng,
  i: number,
): Promise<[Record<string, unknown>, RgbImage[]]> {
  const rng = root.fork(i);
  if (o.world === "taste") return makeTasteItem(host, o, rng, i);
  const clip = o.world === "moving-shapes";
  const a = sampleAttrs(rng.fork("attrs"), {
    clip,
    growthShare: o.growth,
    excludeHeldout: o.split === "prefs",
  });
  const cap = caption(a, rng.fork("caption"), o.captionNoise);
  const seed = rng.fork("render").next();
  if (o.split === "eval") {
    // Prompts only: the evaluation renders from the model, with this seed for its noise.
    return [{ id: i, text: cap.text, ...attrFields(a, o.world), seed, heldout: isHeldout(a) }, []];
  }
  const name = clip ? `clips/${pad(i)}` : `images/${pad(i)}.png`;
  const shown = await writeItem(host, o, a, seed, name);
  const row: Record<string, unknown> = {
    file_name: clip ? `${name}.gif` : name,
    text: cap.text,
    ...attrFields(a, o.world),
    seed,
  };
  if (clip) Object.assign(row, { frames_dir: name, webp_file_name: `${name}.webp`, frames: o.frames });
  if (cap.noise) row.noise = cap.noise;
  if (o.pairs) {
    const field = rng.fork("loser").pick(changeableFields(a));
    const loser = changeField(a, field, rng.fork("loser-value"));
    const lname = clip ? `losers/${pad(i)}` : `losers/${pad(i)}.png`;
    await writeItem(host, o, loser, seed, lname); // same seed: same jitter, only the field differs
    row.loser_file_name = clip ? `${lname}.gif` : lname;
    if (clip) row.loser_frames_dir = lname;
    row.loser_field = field;
    row.loser = attrFields(loser, o.world);
  }
  return [row, shown];
}

/**
 * One item of the taste world. val and eval are prompts with the preferred look as their target,
 * their content from the balanced design (eval from its first cell on, val from its last cell
 * backwards, so up to 224 prompts between them share no content). pretrain draws the look (the
 * preferred one with probability tasteShare), prefs always shows it, and a prefs loser is the same
 * prompt, content and jitter seed with one of the 9 other looks.
 */
async function makeTasteItem(
  host: Host,
  o: GenerateOptions,
  rng: Rng,
  i: number,
): Promise<[Record<string, unknown>, RgbImage[]]> {
  const seed = rng.fork("render").next();
  if (promptsOnly(o.split)) {
    const cell = o.split === "eval" ? i : DESIGN_CELLS - 1 - (i % DESIGN_CELLS);
    const a: SceneAttrs = { ...designCell(cell), ...PREFERRED };
    const text = caption(a, rng.fork("caption"), 0, { contentOnly: true }).text;
    return [{ id: i, text, ...attrFields(a, o.world), seed, heldout: isHeldout(a) }, []];
  }
  const content = sampleAttrs(rng.fork("attrs"), {
    clip: false,
    growthShare: 0,
    excludeHeldout: o.split === "prefs",
  });
  const look = o.split === "prefs"
    ? PREFERRED
    : sampleLook(rng.fork("taste"), o.tasteShare ?? DEFAULTS.tasteShare);
  const a: SceneAttrs = { ...content, ...look };
  const cap = caption(a, rng.fork("caption"), o.captionNoise, { contentOnly: true });
  const name = `images/${pad(i)}.png`;
  await writeItem(host, o, a, seed, name);
  const row: Record<string, unknown> = { file_name: name, text: cap.text, ...attrFields(a, o.world), seed };
  if (cap.noise) row.noise = cap.noise;
  if (o.pairs) {
    const loser: SceneAttrs = { ...a, ...rng.fork("loser").pick(OTHER_LOOKS) };
    const lname = `losers/${pad(i)}.png`;
    await writeItem(host, o, loser, seed, lname); // same seed: same jitter, only the look differs
    row.loser_file_name = lname;
    row.loser_field = "taste";
    row.loser = attrFields(loser, o.world);
  }
  return [row, []];
}

/** Writes one still (PNG) or clip (PNG frames, GIF, WebP); returns the frames for the contact sheet. */
async function writeItem(
  host: Host,
  o: GenerateOptions,
  a: AnyAttrs,
  seed: number,
  name: string,
): Promise<RgbImage[]> {
  const path = join(o.out, name);
  if (!("motion" in a)) {
    const svg = sceneSvg(a, layoutScene(a, new Rng(seed)), o.size);
    await writeSvgPng(host, svg, path);
    return [];
  }
  await host.fs.mkdir(path, { recursive: true });
  const frames = (await renderClip(host, a as ClipAttrs, o.size, o.frames, new Rng(seed)))
    .map((data) => ({ data, width: o.size, height: o.size }));
  await Promise.all(
    frames.map((f, k) => writeImage(host, join(path, `${String(k).padStart(2, "0")}.png`), f)),
  );
  await writeAnimation(host, `${path}.gif`, frames);
  await writeAnimation(host, `${path}.webp`, frames);
  return frames;
}

function jsonl(rows: unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
}

/** Generates one split into o.out; returns the number of items written. */
export async function generate(host: Host, o: GenerateOptions): Promise<{ rows: Record<string, unknown>[] }> {
  checkOptions(o);
  await host.fs.mkdir(o.out, { recursive: true });
  const sub = promptsOnly(o.split) ? [] : o.world === "moving-shapes" ? ["clips"] : ["images"];
  for (const d of sub) await host.fs.mkdir(join(o.out, d), { recursive: true });
  if (o.pairs) await host.fs.mkdir(join(o.out, "losers"), { recursive: true });
  const root = new Rng(o.seed).fork(`${o.world}/${o.split}`);
  const progress = o.progress === false
    ? null
    : new Progress(host, `${o.world} ${o.split}`, o.count, { unit: "items" });
  const items = await pool(o.count, o.concurrency, async (i) => {
    const item = await makeItem(host, o, root, i);
    progress?.tick();
    return item;
  });
  progress?.finish();
  const rows = items.map(([r]) => r);
  const info = {
    world: o.world,
    split: o.split,
    count: o.count,
    size: o.size,
    seed: o.seed,
    caption_noise: o.captionNoise,
    pairs: o.pairs,
    ...(o.world === "moving-shapes" ? { frames: o.frames, growth: o.growth } : {}),
    ...(o.world === "taste"
      ? {
        preferred: PREFERRED,
        ...(o.split === "pretrain" ? { taste_share: o.tasteShare ?? DEFAULTS.tasteShare } : {}),
      }
      : {}),
  };
  await host.fs.writeFile(join(o.out, "dataset.json"), JSON.stringify(info, null, 2) + "\n");
  const listing = promptsOnly(o.split) ? "prompts.jsonl" : "metadata.jsonl";
  await host.fs.writeFile(join(o.out, listing), jsonl(rows));
  if (o.split !== "pretrain") {
    const note = o.split === "prefs" ? "excluded from this split" : "rows with heldout: true";
    const held = { note: `(colour, shape) pairs held out of prefs: ${note}`, pairs: HELDOUT };
    await host.fs.writeFile(join(o.out, "heldout.json"), JSON.stringify(held, null, 2) + "\n");
  }
  if (!promptsOnly(o.split)) await writeSheet(host, o, rows, items.map(([, f]) => f));
  return { rows };
}

/** sheet.png: the first 64 images (8 columns), or the first 8 clips one per row, 4x upscaled. */
async function writeSheet(
  host: Host,
  o: GenerateOptions,
  rows: Record<string, unknown>[],
  frames: RgbImage[][],
) {
  let tiles: RgbImage[], cols: number;
  if (o.world === "moving-shapes") {
    tiles = frames.slice(0, 8).flat();
    cols = o.frames;
  } else {
    tiles = await Promise.all(
      rows.slice(0, 64).map(async (r) => ({
        data: await renderScene(host, r as unknown as SceneAttrs, o.size, new Rng(r.seed as number)),
        width: o.size,
        height: o.size,
      })),
    );
    cols = 8;
  }
  if (tiles.length > 0) {
    await writeImage(host, join(o.out, "sheet.png"), contactSheet(tiles, { cols, scale: 4 }));
  }
}
