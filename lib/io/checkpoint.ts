// Diffusers-style checkpoint folders:
//   <dir>/model_index.json
//   <dir>/<component>/config.json + <component>/diffusion_pytorch_model.safetensors (unet) or
//   model.safetensors (others), each with {format, seppo_format_version, config} in __metadata__
//   <dir>/<extra files> (scheduler configs, tokenizers, the run's YAML config, ...)
// The whole folder is written as `<dir>.tmp-<pid>` and renamed into place, so a crash never leaves a
// half checkpoint under the real name. One writer per checkpoint folder is assumed: leftover
// `.tmp-*` folders of the same name are treated as debris of a crashed save.
import { basename, dirname, join } from "node:path";
import type { Host } from "../host/host.ts";
import { syncDir, WriteError, writeFileSynced } from "./atomic.ts";
import {
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
  type StInput,
  type StTensor,
} from "./safetensors.ts";

export const CHECKPOINT_FORMAT_VERSION = 1;
const RESERVED_METADATA = ["format", "seppo_format_version", "config"];
const MODEL_INDEX = "model_index.json";
const CONFIG = "config.json";
const STEP_DIR = /^checkpoint-(\d+)$/;
/** In a run folder: the name of its newest checkpoint folder (written after every save). */
export const LATEST = "latest";

export interface ComponentInput {
  config: object;
  tensors: StInput[];
  /** Defaults to diffusion_pytorch_model.safetensors for "unet", model.safetensors otherwise. */
  weightsName?: string;
}

export interface SaveCheckpointOptions {
  components: Record<string, ComponentInput>;
  modelIndex: object;
  /** Other files by relative path ("scheduler/scheduler_config.json", "run.yaml"). */
  extraFiles?: Record<string, string | Uint8Array>;
  dtype?: "F32" | "F16";
  /** Extra safetensors metadata for every component (the keys above are reserved). */
  metadata?: Record<string, string>;
}

export interface LoadedComponent {
  config: Record<string, unknown>;
  tensors: Map<string, StTensor>;
  weightsFile: string;
  metadata: Record<string, string>;
}

export interface LoadedCheckpoint {
  /** The checkpoint folder read (a run folder given to loadCheckpoint resolves to one). */
  dir: string;
  modelIndex: Record<string, unknown>;
  components: Record<string, LoadedComponent>;
  /** Every other file, by relative path with "/" separators. */
  files: Record<string, Uint8Array>;
}

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export function checkpointDir(runDir: string, step: number): string {
  return join(runDir, `checkpoint-${step}`);
}

export function defaultWeightsName(component: string): string {
  return component === "unet" ? "diffusion_pytorch_model.safetensors" : "model.safetensors";
}

async function exists(host: Host, path: string): Promise<boolean> {
  try {
    await host.fs.lstat(path);
    return true;
  } catch (e) {
    if (host.fs.isNotFound(e)) return false;
    throw e;
  }
}

const removeTree = (host: Host, path: string) =>
  host.fs.remove(path, { recursive: true }).catch((e) => {
    if (!host.fs.isNotFound(e)) throw e;
  });

/** A plain relative path of safe segments (no "..", no absolute paths, no hidden names). */
function checkRelPath(path: string, what: string, dir: string): string[] {
  const segs = path.split("/");
  if (path === "" || segs.some((s) => s === "" || s.startsWith(".") || s.includes("\\"))) {
    throw new CheckpointError(
      `${dir}: ${what} ${JSON.stringify(path)}: expected a relative path like "a/b.json"`,
    );
  }
  return segs;
}

/** The relative paths of every file this save will write, checked for clashes. */
function plan(
  dir: string,
  opts: SaveCheckpointOptions,
): Map<string, string | Uint8Array | (() => Uint8Array)> {
  const files = new Map<string, string | Uint8Array | (() => Uint8Array)>();
  const add = (rel: string, data: string | Uint8Array | (() => Uint8Array)) => {
    if (files.has(rel) || [...files.keys()].some((k) => k.startsWith(rel + "/") || rel.startsWith(k + "/"))) {
      throw new CheckpointError(`${dir}: ${rel}: written twice (a component and an extra file clash)`);
    }
    files.set(rel, data);
  };
  for (const k of Object.keys(opts.metadata ?? {})) {
    if (RESERVED_METADATA.includes(k)) throw new CheckpointError(`${dir}: metadata "${k}" is reserved`);
  }
  for (const [name, c] of Object.entries(opts.components)) {
    if (checkRelPath(name, "component", dir).length !== 1) {
      throw new CheckpointError(`${dir}: component ${JSON.stringify(name)}: expected a plain folder name`);
    }
    const weights = c.weightsName ?? defaultWeightsName(name);
    if (weights.includes("/") || !weights.endsWith(".safetensors")) {
      throw new CheckpointError(
        `${dir}: component "${name}": weightsName ${
          JSON.stringify(weights)
        } must be a *.safetensors file name`,
      );
    }
    add(`${name}/${CONFIG}`, JSON.stringify(c.config, null, 2) + "\n");
    const metadata = {
      ...opts.metadata,
      format: "pt", // what transformers/diffusers loaders expect
      seppo_format_version: String(CHECKPOINT_FORMAT_VERSION),
      config: JSON.stringify(c.config),
    };
    // Encoded lazily, one component at a time, so only one weights buffer is alive during the save.
    add(
      `${name}/${weights}`,
      () => encodeSafetensors(c.tensors, { dtype: opts.dtype, metadata }, join(dir, name, weights)),
    );
  }
  for (const [rel, data] of Object.entries(opts.extraFiles ?? {})) {
    checkRelPath(rel, "extra file", dir);
    if (rel === MODEL_INDEX) {
      throw new CheckpointError(`${dir}: extra file ${MODEL_INDEX} is written from modelIndex`);
    }
    add(rel, data);
  }
  return files;
}

/** Removes `<dir>.tmp-*` siblings: the debris of a save of this folder that crashed. */
async function removeTmpSiblings(host: Host, dir: string) {
  const parent = dirname(dir);
  if (!(await exists(host, parent))) return;
  const prefix = basename(dir) + ".tmp-";
  for await (const e of host.fs.readDir(parent)) {
    if (e.name.startsWith(prefix)) await removeTree(host, join(parent, e.name));
  }
}

/**
 * Writes a checkpoint folder atomically: everything goes into `<dir>.tmp-<pid>`, then the previous
 * folder (if any) is moved to `<dir>.old`, the new one renamed into place, and `.old` deleted.
 * A failure before the final rename leaves the previous checkpoint untouched and no temp folder.
 */
export async function saveCheckpoint(host: Host, dir: string, opts: SaveCheckpointOptions): Promise<void> {
  const files = plan(dir, opts);
  const tmp = `${dir}.tmp-${host.proc.pid}`;
  await removeTmpSiblings(host, dir);
  try {
    await host.fs.mkdir(tmp, { recursive: true }).catch((e) => {
      throw new CheckpointError(`${dir}: cannot create ${tmp} (${e.message})`, { cause: e });
    });
    const dirs = new Set([tmp]);
    // model_index.json goes last: its presence marks a folder written to the end.
    for (
      const [rel, data] of [...files, [MODEL_INDEX, JSON.stringify(opts.modelIndex, null, 2) + "\n"] as const]
    ) {
      const path = join(tmp, ...rel.split("/"));
      dirs.add(dirname(path));
      try {
        await host.fs.mkdir(dirname(path), { recursive: true });
        await writeFileSynced(host, path, typeof data === "function" ? data() : data);
      } catch (e) {
        // Disk full, read-only folder: say which file, and that the previous checkpoint is intact.
        if (e instanceof CheckpointError || e instanceof SafetensorsError) throw e;
        const why = e instanceof WriteError ? e.reason : (e as Error).message;
        throw new CheckpointError(`${dir}: cannot write ${rel} (${why}); nothing was replaced`, { cause: e });
      }
    }
    for (const d of dirs) await syncDir(host, d);
  } catch (e) {
    await removeTree(host, tmp).catch(() => {});
    throw e;
  }
  const old = `${dir}.old`;
  const hadDir = await exists(host, dir);
  if (hadDir) {
    await removeTree(host, old); // `dir` is complete, so an older `.old` is redundant
    await host.fs.rename(dir, old);
  }
  // Without `dir` but with `.old` (a crash between the renames), `.old` is the last good copy:
  // it stays until the new folder is in place.
  try {
    await host.fs.rename(tmp, dir);
  } catch (e) {
    if (hadDir) await host.fs.rename(old, dir).catch(() => {}); // put the previous checkpoint back
    await removeTree(host, tmp);
    throw new CheckpointError(`${dir}: cannot move the new checkpoint into place: ${(e as Error).message}`, {
      cause: e,
    });
  }
  await syncDir(host, dirname(dir));
  await removeTree(host, old);
}

async function readJsonObject(host: Host, path: string): Promise<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(await host.fs.readTextFile(path));
  } catch (e) {
    throw new CheckpointError(
      `${path}: ${e instanceof SyntaxError ? "malformed JSON: " : ""}${(e as Error).message}`,
    );
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new CheckpointError(`${path}: expected a JSON object, got ${JSON.stringify(v)?.slice(0, 60)}`);
  }
  return v as Record<string, unknown>;
}

/** Relative paths ("a/b.json") of every file under `root`; folders end in "/". */
async function listFiles(host: Host, root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of host.fs.readDir(join(root, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(`${rel}/`, ...await listFiles(host, root, rel));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * Throws when `data` holds a NaN or an infinity, naming the file, the tensor, the first bad index
 * and how many there are. Weights like that sample black images or train on NaN without a word.
 */
export function assertFinite(file: string, name: string, data: Float32Array) {
  let first = -1, count = 0;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first >= 0) {
    throw new CheckpointError(
      `${file}: tensor "${name}": ${count} non-finite value(s) of ${data.length}, the first ${
        data[first]
      } at index ${first} (a diverged or damaged checkpoint; allowNonFinite / --allow-non-finite loads it for inspection)`,
    );
  }
}

export interface LoadCheckpointOptions {
  /** Load tensors holding NaN or infinity (for inspecting a diverged run); refused by default. */
  allowNonFinite?: boolean;
}

/**
 * The checkpoint folder `path` names: the folder itself when it holds model_index.json, else (a run
 * folder) the checkpoint its `latest` file names, else its newest complete checkpoint-<step>.
 */
export async function resolveCheckpoint(host: Host, path: string): Promise<string> {
  const info = await host.fs.stat(path).catch(() => null);
  if (!info?.isDirectory) {
    throw new CheckpointError(`${path}: checkpoint folder not found${info ? " (it is a file)" : ""}`);
  }
  if (await exists(host, join(path, MODEL_INDEX))) return path;
  const pointer = await host.fs.readTextFile(join(path, LATEST)).catch(() => null);
  if (pointer !== null) {
    const name = pointer.trim();
    if (!STEP_DIR.test(name) || !(await exists(host, join(path, name, MODEL_INDEX)))) {
      throw new CheckpointError(
        `${join(path, LATEST)}: names ${
          JSON.stringify(name.slice(0, 60))
        }, not a complete checkpoint-<step> ` +
          `folder in ${path}`,
      );
    }
    return join(path, name);
  }
  const last = await latestCheckpoint(host, path);
  if (last) return last.dir;
  throw new CheckpointError(
    `${path}: missing ${MODEL_INDEX} (not a checkpoint folder, or an incomplete one), and not a run ` +
      `folder either (no ${LATEST} file, no checkpoint-<step> folder)`,
  );
}

/**
 * Loads a checkpoint folder (or a run folder's latest checkpoint, see resolveCheckpoint); errors
 * name the folder and the missing or bad file. Every tensor is checked for NaN and infinity.
 */
export async function loadCheckpoint(
  host: Host,
  path: string,
  opts: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpoint(host, path);
  const modelIndex = await readJsonObject(host, join(dir, MODEL_INDEX));
  const listing = await listFiles(host, dir);
  const all = listing.filter((f) => !f.endsWith("/"));
  // diffusers lists components as name: [library, class]; [null, null] marks an absent optional one.
  for (const [name, v] of Object.entries(modelIndex)) {
    if (name.startsWith("_") || !Array.isArray(v) || v[0] === null) continue;
    if (!all.some((f) => f.startsWith(`${name}/`))) {
      throw new CheckpointError(
        `${dir}: missing folder "${name}/" (or it is empty), listed in ${MODEL_INDEX}`,
      );
    }
  }
  const used = new Set([MODEL_INDEX]);
  const components: Record<string, LoadedComponent> = {};
  // Model components are the folders model_index.json lists (as diffusers loads them); other
  // folders (a trainer's pool/, samples/) are plain files.
  const listed = new Set(
    Object.entries(modelIndex).filter(([n, v]) => !n.startsWith("_") && Array.isArray(v) && v[0] !== null)
      .map(([n]) => n),
  );
  const folders = new Set(
    all.filter((f) => f.includes("/")).map((f) => f.split("/")[0]).filter((n) => listed.has(n)),
  );
  for (const name of folders) {
    const folder = listing.find((f) => f.startsWith(`${name}/`) && /^[^/]+\/[^/]+\.safetensors\/$/.test(f));
    if (folder) throw new CheckpointError(`${join(dir, folder)}: is a folder, expected a weights file`);
    const weights = all.filter((f) =>
      f.startsWith(`${name}/`) && f.split("/").length === 2 && f.endsWith(".safetensors")
    );
    const hasConfig = all.includes(`${name}/${CONFIG}`);
    if (!hasConfig && weights.length === 0) continue; // e.g. scheduler/, tokenizer/: plain files
    const where = join(dir, name);
    if (!hasConfig) throw new CheckpointError(`${where}: missing ${CONFIG} next to ${basename(weights[0])}`);
    if (weights.length === 0) {
      throw new CheckpointError(`${where}: missing weights file (expected ${defaultWeightsName(name)})`);
    }
    if (weights.length > 1) {
      throw new CheckpointError(
        `${where}: several weights files (${
          weights.map((w) => basename(w)).join(", ")
        }); sharded checkpoints are not supported`,
      );
    }
    const { tensors, metadata } = await readSafetensors(host, join(dir, weights[0]));
    const version = Number(metadata.seppo_format_version ?? CHECKPOINT_FORMAT_VERSION);
    if (!(version <= CHECKPOINT_FORMAT_VERSION)) {
      const file = join(dir, weights[0]);
      const got = metadata.seppo_format_version;
      throw new CheckpointError(
        `${file}: seppo_format_version ${got} is newer than ${CHECKPOINT_FORMAT_VERSION}`,
      );
    }
    if (!opts.allowNonFinite) {
      for (const [tname, t] of tensors) assertFinite(join(dir, weights[0]), tname, t.data);
    }
    const config = await readJsonObject(host, join(where, CONFIG));
    components[name] = { config, tensors, weightsFile: basename(weights[0]), metadata };
    used.add(`${name}/${CONFIG}`).add(weights[0]);
  }
  const files: Record<string, Uint8Array> = {};
  for (const rel of all) {
    if (!used.has(rel)) files[rel] = await host.fs.readFile(join(dir, ...rel.split("/")));
  }
  return { dir, modelIndex, components, files };
}

/** The newest complete `checkpoint-<step>` folder in `runDir` (ignoring .tmp-* and .old), or null. */
export async function latestCheckpoint(
  host: Host,
  runDir: string,
): Promise<{ dir: string; step: number } | null> {
  if (!(await exists(host, runDir))) return null;
  let best: { dir: string; step: number } | null = null;
  for await (const e of host.fs.readDir(runDir)) {
    const m = e.isDirectory ? STEP_DIR.exec(e.name) : null;
    if (!m || (best && Number(m[1]) <= best.step)) continue;
    if (await exists(host, join(runDir, e.name, MODEL_INDEX))) {
      best = { dir: join(runDir, e.name), step: Number(m[1]) };
    }
  }
  return best;
}

/**
 * Tidies what crashed saves left in `runDir` for `checkpoint-<step>` folders: removes
 * `checkpoint-<step>.tmp-<pid>`, and for `checkpoint-<step>.old` either deletes it (the folder
 * exists) or renames it back (the crash hit between the two renames, so `.old` is the last complete
 * copy). Other names are left alone (their next save cleans them). Returns what it did, for the log.
 * Call it when a run starts or resumes, before anything saves into `runDir`.
 */
export async function cleanCheckpointLeftovers(host: Host, runDir: string): Promise<string[]> {
  if (!(await exists(host, runDir))) return [];
  const done: string[] = [];
  const names: string[] = [];
  for await (const e of host.fs.readDir(runDir)) if (e.isDirectory) names.push(e.name);
  for (const name of names.sort()) {
    const m = /^(checkpoint-\d+)(\.tmp-\d+|\.old)$/.exec(name);
    if (!m) continue;
    const path = join(runDir, name);
    const target = join(runDir, m[1]);
    if (m[2] === ".old" && !(await exists(host, target))) {
      await host.fs.rename(path, target);
      done.push(`restored ${target} from ${path}`);
    } else {
      await removeTree(host, path);
      done.push(`removed ${path}`);
    }
  }
  return done;
}

/**
 * Where an evaluation of `ckpt` writes when no --out is given, never inside a model folder: beside a
 * run's checkpoint (`<run>/eval-checkpoint-<step>`), else `runs/eval/<folder name>`.
 */
export async function defaultEvalOut(host: Host, ckpt: string, kind = "eval"): Promise<string> {
  const dir = await resolveCheckpoint(host, ckpt);
  return STEP_DIR.test(basename(dir))
    ? join(dirname(dir), `${kind}-${basename(dir)}`)
    : join("runs", kind, basename(dir.replace(/\/+$/, "")));
}
