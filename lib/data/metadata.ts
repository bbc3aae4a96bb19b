// Reading metadata.jsonl / prompts.jsonl with errors that name the file, the line and the bad value.

import { isAbsolute, join, normalize, sep as SEP } from "node:path";
import { findDuplicateKey } from "../io/json.ts";
import { preview } from "../util/text.ts";
import { type ClipAttrs, SCENE_FIELDS, type SceneAttrs, validateAttrs } from "../world/attrs.ts";
import type { Host } from "../host/host.ts";

/** One row of an imagefolder dataset (docs/DATA.md). */
export interface MetadataRow {
  /** 1-based line number in metadata.jsonl (0: a folder without one), for error messages. */
  line: number;
  file_name: string;
  text: string;
  /** The synthetic world's attributes; null for a plain folder (file_name + text): only its scorer reads them. */
  attrs: SceneAttrs | ClipAttrs | null;
  /** Render seed: renderScene(attrs, size, new Rng(seed)) reproduces the clean image. */
  seed?: number;
  frames_dir?: string;
  loser_file_name?: string;
  loser_frames_dir?: string;
  loser_attrs?: SceneAttrs | ClipAttrs;
  raw: Record<string, unknown>;
}

/** A JSONL line longer than this is refused (a row is a caption and a few fields: far below it). */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * Parses JSONL into objects; each error names `where:line`. Blank lines are skipped. Refused: a
 * line over MAX_LINE_BYTES, invalid UTF-8, malformed JSON, a non-object, a duplicated key (JSON.parse
 * would silently keep the last one). Errors quote at most a short prefix of the line.
 */
export function parseJsonl(
  input: Uint8Array | string,
  where: string,
): { line: number; obj: Record<string, unknown> }[] {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const out: { line: number; obj: Record<string, unknown> }[] = [];
  let begin = 0;
  for (let k = 1; begin <= bytes.length; k++) {
    let end = bytes.indexOf(0x0a, begin);
    if (end < 0) end = bytes.length;
    const raw = bytes.subarray(begin, end);
    begin = end + 1;
    const at = `${where}:${k}`;
    if (raw.length > MAX_LINE_BYTES) {
      throw new Error(
        `${at}: line of ${raw.length} bytes, over the limit of ${MAX_LINE_BYTES} bytes per row`,
      );
    }
    let s: string;
    try {
      s = utf8.decode(raw).trim(); // a BOM on the first line is dropped by the decoder
    } catch {
      const shown = new TextDecoder().decode(raw);
      throw new Error(`${at}: invalid UTF-8 (save the file as UTF-8): ${preview(shown)}`);
    }
    if (s === "") continue;
    let obj: unknown;
    try {
      obj = JSON.parse(s);
    } catch (e) {
      throw new Error(`${at}: malformed JSON (${(e as Error).message}): ${preview(s, 80)}`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new Error(`${at}: expected a JSON object, got ${preview(s, 80)}`);
    }
    const dup = findDuplicateKey(s);
    if (dup) throw new Error(`${at}: duplicate key ${preview(dup.join("."))} (each field once per row)`);
    out.push({ line: k, obj: obj as Record<string, unknown> });
  }
  return out;
}

function str(obj: Record<string, unknown>, key: string, at: string): string {
  const v = obj[key];
  if (v === undefined || v === null) throw new Error(`${at}: missing field '${key}'`);
  if (typeof v !== "string" || v.trim() === "") {
    throw new Error(`${at}: field '${key}' must be a non-empty string, got ${preview(JSON.stringify(v))}`);
  }
  return v;
}

function optStr(obj: Record<string, unknown>, key: string, at: string): string | undefined {
  return obj[key] === undefined || obj[key] === null ? undefined : str(obj, key, at);
}

/** World attributes when the row has any (then all are checked), else null (a plain row). */
function optAttrs(obj: Record<string, unknown>, at: string, clip: boolean): SceneAttrs | ClipAttrs | null {
  const fields = [...SCENE_FIELDS, ...(clip ? ["motion"] : [])];
  return fields.some((f) => obj[f] !== undefined) ? validateAttrs(obj, at, clip) : null;
}

/**
 * `rel` (a dataset-relative path from `field`) as a path inside `dir`, refusing absolute paths and
 * any that leave the folder, through `..` or through a symlink. `real` is dir's resolved path.
 */
export async function containedPath(
  host: Host,
  dir: string,
  real: string,
  rel: string,
  at: string,
  field: string,
) {
  if (isAbsolute(rel) || /^[A-Za-z]:[\\/]/.test(rel) || rel.startsWith("\\")) {
    throw new Error(`${at}: ${field} ${preview(rel)} is an absolute path; paths are relative to ${dir}`);
  }
  const norm = normalize(rel.replaceAll("\\", "/"));
  if (norm === ".." || norm.startsWith("../")) {
    throw new Error(`${at}: ${field} ${preview(rel)} points outside the dataset folder ${dir}`);
  }
  const path = join(dir, norm);
  let target: string;
  try {
    target = await host.fs.realPath(path);
  } catch {
    throw new Error(`${at}: file ${preview(rel)} not found (${path})`);
  }
  if (target !== real && !target.startsWith(real + SEP)) {
    throw new Error(
      `${at}: ${field} ${
        preview(rel)
      } resolves (through a symlink) to ${target}, outside the dataset folder ${dir}`,
    );
  }
  return path;
}

const IMAGE = /\.(png|jpe?g|webp|gif)$/i;
const sidecar = (file: string) => file.replace(/\.[^./]+$/, "") + ".txt";

/** A caption from `<image minus extension>.txt` beside the image (kohya / many trainers), or null. */
async function readSidecar(
  host: Host,
  dir: string,
  real: string,
  file: string,
  at: string,
): Promise<string | null> {
  const rel = sidecar(file);
  const exists = await host.fs.lstat(join(dir, rel)).then(() => true, () => false);
  if (!exists) return null;
  const path = await containedPath(host, dir, real, rel, at, "caption file");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(await host.fs.readFile(path)).trim();
  } catch (e) {
    throw new Error(`${path}: cannot read the caption (${(e as Error).message}; expected UTF-8 text)`);
  }
  if (!text) throw new Error(`${path}: empty caption file`);
  if (text.length > MAX_LINE_BYTES) throw new Error(`${path}: caption over ${MAX_LINE_BYTES} characters`);
  return text.replace(/\s+/g, " ");
}

/** A folder without metadata.jsonl: every image (recursively, sorted) with a caption sidecar. */
async function scanCaptionFolder(
  host: Host,
  dir: string,
  real: string,
  path: string,
): Promise<MetadataRow[]> {
  const files: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of host.fs.readDir(join(dir, rel))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory && !e.name.startsWith(".")) await walk(r);
      else if (e.isFile && IMAGE.test(e.name)) files.push(r);
    }
  };
  await walk("");
  files.sort();
  if (!files.length) throw new Error(`${path}: cannot read (no such file), and ${dir} has no images either`);
  const rows: MetadataRow[] = [];
  for (const f of files) {
    const text = await readSidecar(host, dir, real, f, join(dir, f));
    if (text === null) {
      throw new Error(
        `${path}: not found, and ${join(dir, f)} has no caption file ${sidecar(f)} beside it ` +
          `(a folder needs metadata.jsonl rows {"file_name", "text"}, or a .txt caption per image)`,
      );
    }
    rows.push({ line: 0, file_name: f, text, attrs: null, raw: { file_name: f, text } });
  }
  return rows;
}

/**
 * Reads and checks `dir/metadata.jsonl`: every row needs file_name and a caption (`text`, or a
 * `.txt` sidecar beside the image); the synthetic world's attributes are optional (all or none; clips
 * add motion). Without metadata.jsonl, the images with sidecars are the rows. Referenced files must
 * exist inside `dir`. Errors quote file, line and (a prefix of) the value.
 */
export async function readMetadata(
  host: Host,
  dir: string,
  opts: { clip?: boolean } = {},
): Promise<MetadataRow[]> {
  const path = join(dir, "metadata.jsonl");
  let real: string;
  try {
    real = await host.fs.realPath(dir);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await host.fs.readFile(path);
  } catch (e) {
    if (host.fs.isNotFound(e)) return await scanCaptionFolder(host, dir, real, path);
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  const rows: MetadataRow[] = [];
  for (const { line, obj } of parseJsonl(bytes, path)) {
    const at = `${path}:${line}`;
    const clip = opts.clip ?? obj.motion !== undefined;
    const file_name = str(obj, "file_name", at);
    const frames_dir = optStr(obj, "frames_dir", at);
    const loser_file_name = optStr(obj, "loser_file_name", at);
    const loser_frames_dir = optStr(obj, "loser_frames_dir", at);
    for (const [field, f] of Object.entries({ file_name, frames_dir, loser_file_name, loser_frames_dir })) {
      if (f !== undefined) await containedPath(host, dir, real, f, at, field);
    }
    let text = obj.text === undefined || obj.text === null ? null : str(obj, "text", at);
    text ??= await readSidecar(host, dir, real, file_name, at);
    if (text === null) {
      throw new Error(
        `${at}: missing field 'text' (and no caption file ${sidecar(file_name)} beside the image)`,
      );
    }
    const row: MetadataRow = {
      line,
      file_name,
      text,
      attrs: optAttrs(obj, at, clip),
      frames_dir,
      loser_file_name,
      loser_frames_dir,
      raw: obj,
    };
    if (obj.seed !== undefined) {
      if (typeof obj.seed !== "number" || !Number.isSafeInteger(obj.seed) || obj.seed < 0) {
        throw new Error(
          `${at}: field 'seed' must be a non-negative integer, got ${preview(JSON.stringify(obj.seed))}`,
        );
      }
      row.seed = obj.seed;
    }
    if (obj.loser !== undefined) {
      if (typeof obj.loser !== "object" || obj.loser === null) {
        throw new Error(`${at}: field 'loser' must be an object`);
      }
      row.loser_attrs = validateAttrs(obj.loser as Record<string, unknown>, `${at} (loser)`, clip);
    }
    rows.push(row);
  }
  if (rows.length === 0) throw new Error(`${path}: no rows`);
  return rows;
}

/**
 * The rows' world attributes, for a scorer of the synthetic worlds; a plain folder (rows without
 * them) is refused, naming the first such row.
 */
export function worldAttrs(rows: MetadataRow[], dir: string, what: string): (SceneAttrs | ClipAttrs)[] {
  const bad = rows.find((r) => r.attrs === null);
  if (bad) {
    const at = bad.line ? `${join(dir, "metadata.jsonl")}:${bad.line}` : join(dir, bad.file_name);
    throw new Error(
      `${at}: no world attributes (${SCENE_FIELDS.join(", ")}): ${what} scores images of the synthetic ` +
        `worlds against them, so it cannot score this folder (training on it needs only file_name and text)`,
    );
  }
  return rows.map((r) => r.attrs!);
}

/** One eval prompt (eval/prompts.jsonl): text, attributes, and the seed to sample it with. */
export interface PromptRow {
  id: number;
  text: string;
  attrs: SceneAttrs | ClipAttrs;
  seed: number;
  heldout: boolean;
}

/** Reads an eval split's prompts.jsonl (a directory or the file itself). */
export async function loadPrompts(host: Host, pathOrDir: string): Promise<PromptRow[]> {
  const path = pathOrDir.endsWith(".jsonl") ? pathOrDir : join(pathOrDir, "prompts.jsonl");
  const rows = parseJsonl(await host.fs.readFile(path), path);
  return rows.map(({ line, obj }) => {
    const at = `${path}:${line}`;
    if (typeof obj.seed !== "number" || !Number.isSafeInteger(obj.seed)) {
      throw new Error(`${at}: field 'seed' must be an integer, got ${JSON.stringify(obj.seed)}`);
    }
    return {
      id: typeof obj.id === "number" ? obj.id : line - 1,
      text: str(obj, "text", at),
      attrs: validateAttrs(obj, at, obj.motion !== undefined),
      seed: obj.seed,
      heldout: obj.heldout === true,
    };
  });
}
