// Reading metadata.jsonl / prompts.jsonl with errors that name the file, the line and the bad value.

import { join } from "node:path";
import { type ClipAttrs, type SceneAttrs, validateAttrs } from "../world/attrs.ts";

/** One row of an imagefolder dataset (docs/DATA.md). */
export interface MetadataRow {
  /** 1-based line number in metadata.jsonl, for error messages. */
  line: number;
  file_name: string;
  text: string;
  attrs: SceneAttrs | ClipAttrs;
  /** Render seed: renderScene(attrs, size, new Rng(seed)) reproduces the clean image. */
  seed?: number;
  frames_dir?: string;
  loser_file_name?: string;
  loser_frames_dir?: string;
  loser_attrs?: SceneAttrs | ClipAttrs;
  raw: Record<string, unknown>;
}

/** Parses JSONL text into objects; each error names `where:line`. Blank lines are skipped. */
export function parseJsonl(text: string, where: string): { line: number; obj: Record<string, unknown> }[] {
  const out: { line: number; obj: Record<string, unknown> }[] = [];
  text.split("\n").forEach((raw, k) => {
    const s = raw.trim();
    if (s === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(s);
    } catch (e) {
      throw new Error(`${where}:${k + 1}: malformed JSON (${(e as Error).message}): ${s.slice(0, 80)}`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new Error(`${where}:${k + 1}: expected a JSON object, got ${s.slice(0, 80)}`);
    }
    out.push({ line: k + 1, obj: obj as Record<string, unknown> });
  });
  return out;
}

function str(obj: Record<string, unknown>, key: string, at: string): string {
  const v = obj[key];
  if (v === undefined || v === null) throw new Error(`${at}: missing field '${key}'`);
  if (typeof v !== "string" || v.trim() === "") {
    throw new Error(`${at}: field '${key}' must be a non-empty string, got ${JSON.stringify(v)}`);
  }
  return v;
}

function optStr(obj: Record<string, unknown>, key: string, at: string): string | undefined {
  return obj[key] === undefined || obj[key] === null ? undefined : str(obj, key, at);
}

/**
 * Reads and checks `dir/metadata.jsonl`: every row needs file_name, text (the caption) and the scene
 * attributes (plus motion for clips); referenced files must exist. Errors quote file, line and value.
 */
export async function readMetadata(dir: string, opts: { clip?: boolean } = {}): Promise<MetadataRow[]> {
  const path = join(dir, "metadata.jsonl");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  const rows: MetadataRow[] = [];
  for (const { line, obj } of parseJsonl(text, path)) {
    const at = `${path}:${line}`;
    const clip = opts.clip ?? obj.motion !== undefined;
    const row: MetadataRow = {
      line,
      file_name: str(obj, "file_name", at),
      text: str(obj, "text", at),
      attrs: validateAttrs(obj, at, clip),
      frames_dir: optStr(obj, "frames_dir", at),
      loser_file_name: optStr(obj, "loser_file_name", at),
      loser_frames_dir: optStr(obj, "loser_frames_dir", at),
      raw: obj,
    };
    if (obj.seed !== undefined) {
      if (typeof obj.seed !== "number" || !Number.isSafeInteger(obj.seed) || obj.seed < 0) {
        throw new Error(
          `${at}: field 'seed' must be a non-negative integer, got ${JSON.stringify(obj.seed)}`,
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
    for (const f of [row.frames_dir ?? row.file_name, row.loser_frames_dir ?? row.loser_file_name]) {
      if (f === undefined) continue;
      try {
        await Deno.stat(join(dir, f));
      } catch {
        throw new Error(`${at}: file '${f}' not found (${join(dir, f)})`);
      }
    }
    rows.push(row);
  }
  if (rows.length === 0) throw new Error(`${path}: no rows`);
  return rows;
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
export async function loadPrompts(pathOrDir: string): Promise<PromptRow[]> {
  const path = pathOrDir.endsWith(".jsonl") ? pathOrDir : join(pathOrDir, "prompts.jsonl");
  const rows = parseJsonl(await Deno.readTextFile(path), path);
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
