// A run folder belongs to one run. RunFolder.open is what a trainer calls before its first step:
//   - a new run (no --resume) refuses a folder that already holds a run, unless `overwrite`, which
//     moves the old run aside to DIR.old-<time> (never deletes it);
//   - a resume takes the newest checkpoint that validates (each one skipped is named, with why) or
//     the one asked for, compares its saved config with the new one and refuses a change that alters
//     the run (method, data, batch, lr schedule, seed, base...) unless `allowConfigChange`, which is
//     recorded in run.json; longer train.steps, logging, saving and the NaN policy may change;
//   - checkpoints newer than the resumed one are moved aside (DIR/checkpoint-N.abandoned-<time>, or
//     .damaged-<time> when they did not validate), so `latest` never points into another history.
// After every save, saved(step) points DIR/latest at the checkpoint (atomically) and prunes to
// train.checkpoints_total_limit. Files: run.json (task, history of starts and resumes), config.yaml
// (the effective config), latest, metrics.jsonl, checkpoint-<step>/ (with <task>_config.yaml).
import { basename, join, resolve } from "node:path";
import { parse } from "yaml";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { cleanCheckpointLeftovers, LATEST, loadCheckpoint, resolveCheckpoint } from "../io/checkpoint.ts";
import { dumpYaml, type Schema } from "../io/config.ts";
import { assertFinite } from "../io/checkpoint.ts";
import { parseSafetensors } from "../io/safetensors.ts";
import { UsageError } from "../util/errors.ts";
import type { AdamW } from "./adamw.ts";
import { type NanPolicy, NonFiniteGuard } from "./guard.ts";
import { MetricsLog } from "./run.ts";
import type { Host } from "../host/host.ts";

export interface RunOptions {
  /** Unset/false: a new run. true or "latest": the newest valid checkpoint. Else a checkpoint path. */
  resume?: boolean | string;
  /** A new run in a folder that holds one: move the old run to DIR.old-<time> first. */
  overwrite?: boolean;
  /** Resume even when the config changed in a way that alters the run (recorded in run.json). */
  allowConfigChange?: boolean;
  /** The effective config as YAML (default: dumpYaml(config)). */
  configYaml?: string;
}

/** The keys every trainer config has that the run folder reads. */
export interface RunConfig {
  out: string;
  train: { steps: number; checkpoints_total_limit: number; nan_policy: string; nan_max_skips: number };
  save: { keep_all: boolean };
}

/** Keys (or key prefixes ending in ".") that may differ on resume: they do not change the run. */
const FREE_ON_RESUME = [
  "out",
  "train.steps",
  "train.checkpoints_total_limit",
  "train.nan_policy",
  "train.nan_max_skips",
  "pool.gpu_budget_mb",
  "log.",
  "save.",
];
const STEP_DIR = /^checkpoint-(\d+)$/;
const TRAINER_STATE = "trainer_state.safetensors";

const stamp = () => new Date().toISOString().replace(/[:.]/g, "-");
const exists = (host: Host, p: string) => host.fs.lstat(p).then(() => true, () => false);

/** Dotted leaf -> value (lists are leaves). */
function flatten(o: unknown, prefix = "", out: Record<string, unknown> = {}): Record<string, unknown> {
  if (typeof o === "object" && o !== null && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o)) flatten(v, `${prefix}${k}.`, out);
  } else out[prefix.slice(0, -1)] = o;
  return out;
}

/** The keys whose values differ: key -> [saved, now]. */
export function configChanges(saved: unknown, now: unknown): Record<string, [unknown, unknown]> {
  const a = flatten(saved), b = flatten(now), out: Record<string, [unknown, unknown]> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out[k] = [a[k], b[k]];
  }
  return out;
}

const isFree = (k: string) => FREE_ON_RESUME.some((f) => (f.endsWith(".") ? k.startsWith(f) : k === f));
const showChange = ([k, [a, b]]: [string, [unknown, unknown]]) =>
  `${k} ${JSON.stringify(a) ?? "(unset)"} -> ${JSON.stringify(b) ?? "(unset)"}`;

/**
 * Checks a checkpoint folder that a resume would read: every component and safetensors file parses
 * and is finite, every JSON file parses, and the trainer state says the step the name says. Throws
 * with the reason; returns the step and the saved config text (or null).
 */
export async function validateCheckpoint(
  host: Host,
  dir: string,
  configFile: string,
): Promise<{ step: number; configYaml: string | null }> {
  const ck = await loadCheckpoint(host, dir);
  if (!ck.files[TRAINER_STATE]) {
    throw new Error(`${dir}: missing ${TRAINER_STATE} (not a trainer checkpoint)`);
  }
  let step = NaN;
  for (const [rel, bytes] of Object.entries(ck.files)) {
    const file = join(dir, rel);
    if (rel.endsWith(".safetensors")) {
      const { tensors, metadata } = parseSafetensors(bytes, file);
      for (const [name, t] of tensors) assertFinite(file, name, t.data);
      if (rel === TRAINER_STATE) step = Number(metadata.step);
    } else if (rel.endsWith(".json")) {
      try {
        JSON.parse(new TextDecoder().decode(bytes));
      } catch (e) {
        throw new Error(`${file}: malformed JSON (${(e as Error).message})`);
      }
    }
  }
  const m = STEP_DIR.exec(basename(dir));
  if (!Number.isInteger(step) || (m && Number(m[1]) !== step)) {
    throw new Error(`${join(dir, TRAINER_STATE)}: metadata step ${step} does not match the folder name`);
  }
  const cfg = ck.files[configFile];
  return { step, configYaml: cfg ? new TextDecoder().decode(cfg) : null };
}

interface RunEvent {
  event: "start" | "resume";
  time: string;
  step: number;
  checkpoint?: string;
  config_changes?: Record<string, [unknown, unknown]>;
  allowed_by?: string;
}

export class RunFolder {
  private latestStep: number | null;
  /**
   * The checkpoint before the newest one, kept past the limit until an update after the newest has
   * passed the non-finite guard: finite weights can still be one step from diverging (lr 1e6 makes
   * update k finite and k + 1 NaN), and pruning the last checkpoint known to train on would lose it.
   */
  private previous: number | null = null;

  private constructor(
    readonly dir: string,
    readonly task: string,
    /** The checkpoint a resume starts from, or null (a fresh start). */
    readonly from: { dir: string; step: number } | null,
    readonly configYaml: string,
    private host: Host,
    private limit: number,
    private totalSteps: number,
    private say: (s: string) => void,
  ) {
    this.latestStep = from && resolve(join(dir, basename(from.dir))) === resolve(from.dir) ? from.step : null;
  }

  /** The checkpoint file name of this task's config ("train_config.yaml"). */
  static configFile(task: string) {
    return `${task}_config.yaml`;
  }

  static async open<T extends RunConfig>(
    host: Host,
    task: string,
    c: T,
    schema: Schema<T>,
    o: RunOptions,
    say: (s: string) => void,
  ): Promise<RunFolder> {
    const dir = c.out;
    if (o.overwrite && o.resume) throw new UsageError("--overwrite and --resume contradict each other");
    if (c.save.keep_all && c.train.checkpoints_total_limit !== 1) {
      throw new Error(
        `save.keep_all = true and train.checkpoints_total_limit = ${c.train.checkpoints_total_limit} ` +
          `disagree: keep_all is the old spelling of checkpoints_total_limit 0 (keep every checkpoint); drop it`,
      );
    }
    const limit = c.save.keep_all ? 0 : c.train.checkpoints_total_limit;
    const yaml = o.configYaml ?? dumpYaml(c);
    await host.fs.mkdir(dir, { recursive: true });
    for (const s of await cleanCheckpointLeftovers(host, dir)) say(`${task}: ${s} (left by a crashed save)`);
    const event = o.resume
      ? await resumeRun(host, dir, task, o.resume, c, schema, o.allowConfigChange ?? false, say)
      : await startRun(host, dir, task, o.overwrite ?? false, say);
    await recordEvent(host, dir, task, event);
    await writeFileAtomic(host, join(dir, "config.yaml"), yaml);
    const from = event.checkpoint ? { dir: event.checkpoint, step: event.step } : null;
    return new RunFolder(dir, task, from, yaml, host, limit, c.train.steps, say);
  }

  /** Files to write inside every checkpoint: the run's config, compared on resume. */
  checkpointFiles(): Record<string, string> {
    return { [RunFolder.configFile(this.task)]: this.configYaml };
  }

  /** The metrics log, truncated to the resumed update (rows after it are from a lost future). */
  metrics(): Promise<MetricsLog> {
    return MetricsLog.open(
      this.host,
      join(this.dir, "metrics.jsonl"),
      this.from ? this.from.step : null,
      this.say,
    );
  }

  /** The non-finite guard for this run's optimizer (train.nan_policy, train.nan_max_skips). */
  guard(opt: AdamW, c: RunConfig): NonFiniteGuard {
    return new NonFiniteGuard(opt, {
      policy: c.train.nan_policy as NanPolicy,
      maxSkips: c.train.nan_max_skips,
      lastGood: () => Promise.resolve(this.latest()),
      previous: () => (this.previous === null ? null : join(this.dir, `checkpoint-${this.previous}`)),
      healthy: (update) => this.healthy(update),
      say: this.say,
    });
  }

  /** The newest checkpoint of this run (saved or resumed from), or null. */
  latest(): string | null {
    return this.latestStep === null ? null : join(this.dir, `checkpoint-${this.latestStep}`);
  }

  /**
   * After checkpoint-<step> was written: point `latest` at it, then prune to the limit (keeping the
   * previous checkpoint until healthy(), unless the run ends at `step`).
   */
  async saved(step: number) {
    const prev = this.latestStep;
    this.latestStep = step;
    await writeFileAtomic(this.host, join(this.dir, LATEST), `checkpoint-${step}\n`);
    this.previous = step < this.totalSteps && prev !== null && prev < step ? prev : null;
    await this.prune();
  }

  /** The guard saw updates up to `update` finite: the checkpoint before the newest may go. */
  private async healthy(update: number) {
    if (this.previous === null || this.latestStep === null || update <= this.latestStep) return;
    this.previous = null;
    await this.prune();
  }

  private async prune() {
    if (this.limit <= 0 || this.latestStep === null) return;
    const steps: number[] = [];
    for await (const e of this.host.fs.readDir(this.dir)) {
      const m = e.isDirectory ? STEP_DIR.exec(e.name) : null;
      if (m && Number(m[1]) <= this.latestStep) steps.push(Number(m[1]));
    }
    steps.sort((a, b) => b - a);
    for (const s of steps.slice(this.limit)) {
      if (s !== this.latestStep && s !== this.previous) {
        await this.host.fs.remove(join(this.dir, `checkpoint-${s}`), { recursive: true });
      }
    }
  }
}

/** A new run in `dir`: refused when it holds one, unless `overwrite` (then the old run moves aside). */
async function startRun(
  host: Host,
  dir: string,
  task: string,
  overwrite: boolean,
  say: (s: string) => void,
): Promise<RunEvent> {
  const held = await heldBy(host, dir);
  if (held.length && !overwrite) {
    const list = held.slice(0, 4).join(", ") + (held.length > 4 ? ", ..." : "");
    throw new Error(
      `${dir}: holds a run already (${list}); pass --resume to continue it, or --overwrite to move it ` +
        `aside and start a new one (or choose another --out)`,
    );
  }
  if (held.length) {
    const aside = `${dir.replace(/\/+$/, "")}.old-${stamp()}`;
    await host.fs.rename(dir, aside).catch((e) => {
      throw new Error(`${dir}: --overwrite cannot move the old run aside to ${aside} (${e.message})`);
    });
    await host.fs.mkdir(dir, { recursive: true });
    say(`${task}: --overwrite: moved the previous run to ${aside}`);
  }
  return { event: "start", time: new Date().toISOString(), step: 0 };
}

/** A resume of `dir`: finds the checkpoint, checks the config change, sets newer checkpoints aside. */
async function resumeRun<T>(
  host: Host,
  dir: string,
  task: string,
  resume: true | string,
  c: T & RunConfig,
  schema: Schema<T>,
  allowConfigChange: boolean,
  say: (s: string) => void,
): Promise<RunEvent> {
  const time = new Date().toISOString();
  const saved = await readRunJson(host, dir);
  if (saved && saved.task !== task) {
    throw new Error(`${dir}: holds a ${saved.task} run, not a ${task} run (--resume)`);
  }
  const found = await findResumePoint(host, dir, resume, RunFolder.configFile(task), say);
  if (!found) {
    say(`resume: no checkpoint in ${dir}; starting from the beginning`);
    await repointLatest(host, dir);
    return { event: "start", time, step: 0 };
  }
  if (c.train.steps < found.step) {
    throw new Error(`train.steps ${c.train.steps} is below ${found.dir}'s update ${found.step} (--resume)`);
  }
  const changes = await compareConfig(host, dir, found.configYaml, c, schema);
  const altering = Object.entries(changes).filter(([k]) => !isFree(k));
  if (altering.length && !allowConfigChange) {
    throw new Error(
      `${dir}: --resume with a config that changes the run: ${altering.map(showChange).join(", ")}. ` +
        `Resume with the saved config (${found.dir}/${RunFolder.configFile(task)}), pass ` +
        `--allow-config-change to continue anyway (recorded in run.json), or start a new run ` +
        `(--overwrite, or another --out)`,
    );
  }
  if (Object.keys(changes).length) {
    say(`resume: config changes: ${Object.entries(changes).map(showChange).join(", ")}`);
  }
  await setAsideNewer(host, dir, found.step, found.skipped, say);
  await repointLatest(host, dir);
  return {
    event: "resume",
    time,
    step: found.step,
    checkpoint: found.dir,
    ...(Object.keys(changes).length ? { config_changes: changes } : {}),
    ...(altering.length ? { allowed_by: "--allow-config-change" } : {}),
  };
}

/**
 * What in `dir` a new run would lose: checkpoints and logged metrics (empty when there is none; a
 * run that failed before its first update leaves only run.json and config.yaml, which it may redo).
 */
async function heldBy(host: Host, dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of host.fs.readDir(dir)) {
    if (/^checkpoint-\d+/.test(e.name)) out.push(e.name);
    if (e.name === "metrics.jsonl" && (await host.fs.stat(join(dir, e.name))).size > 0) out.push(e.name);
  }
  return out.sort();
}

async function readRunJson(host: Host, dir: string): Promise<{ task: string; events: RunEvent[] } | null> {
  const text = await host.fs.readTextFile(join(dir, "run.json")).catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${join(dir, "run.json")}: malformed JSON (${(e as Error).message})`);
  }
}

async function recordEvent(host: Host, dir: string, task: string, event: RunEvent) {
  const run = (await readRunJson(host, dir)) ?? { task, events: [] };
  run.events.push(event);
  await writeJsonAtomic(host, join(dir, "run.json"), run);
}

/**
 * The checkpoint to resume from: `resume` true/"latest" takes the newest checkpoint-<step> of `dir`
 * that validates (each skipped one is said, with why, and returned in `skipped`); a path (or a
 * checkpoint-<step> name inside `dir`) must validate. null: `dir` has no checkpoint at all.
 */
async function findResumePoint(
  host: Host,
  dir: string,
  resume: true | string,
  configFile: string,
  say: (s: string) => void,
): Promise<{ dir: string; step: number; configYaml: string | null; skipped: string[] } | null> {
  if (resume !== true && resume !== "latest") {
    const path = (await exists(host, resume)) ? resume : join(dir, resume);
    const ck = await resolveCheckpoint(host, path).catch((e) => {
      throw new Error(`--resume ${resume}: ${(e as Error).message}`);
    });
    const v = await validateCheckpoint(host, ck, configFile).catch((e) => {
      throw new Error(`--resume ${resume}: cannot resume from ${ck}: ${(e as Error).message}`);
    });
    return { dir: ck, ...v, skipped: [] };
  }
  const steps: number[] = [];
  for await (const e of host.fs.readDir(dir)) {
    const m = e.isDirectory ? STEP_DIR.exec(e.name) : null;
    if (m) steps.push(Number(m[1]));
  }
  steps.sort((a, b) => b - a);
  const skipped: string[] = [], reasons: string[] = [];
  for (const s of steps) {
    const ck = join(dir, `checkpoint-${s}`);
    try {
      return { dir: ck, ...await validateCheckpoint(host, ck, configFile), skipped };
    } catch (e) {
      const why = (e as Error).message;
      say(`resume: skipping ${ck}: ${why}`);
      skipped.push(ck);
      reasons.push(`${basename(ck)}: ${why}`);
    }
  }
  if (steps.length) {
    throw new Error(
      `${dir}: no checkpoint validates, so there is nothing to resume from (${reasons.join("; ")}); ` +
        `--overwrite starts a new run and keeps these aside`,
    );
  }
  return null;
}

/** The saved config (the checkpoint's, else the run folder's config.yaml) against the new one. */
async function compareConfig<T>(
  host: Host,
  dir: string,
  savedYaml: string | null,
  c: T,
  schema: Schema<T>,
): Promise<Record<string, [unknown, unknown]>> {
  const where = savedYaml !== null ? "the checkpoint's config" : join(dir, "config.yaml");
  const text = savedYaml ?? await host.fs.readTextFile(join(dir, "config.yaml")).catch(() => null);
  if (text === null) return {}; // an old run without a saved config: nothing to compare with
  let saved: T;
  try {
    saved = schema.validate(parse(text), where);
  } catch (e) {
    throw new Error(`${dir}: cannot read the saved config to compare with (${(e as Error).message})`);
  }
  // Through the schema too, so an optional key left out (a library caller's config) reads as its default.
  return configChanges(saved, schema.validate(JSON.parse(JSON.stringify(c)), "the config"));
}

/** Moves checkpoints newer than `step` aside: they belong to a history the resume abandons. */
async function setAsideNewer(
  host: Host,
  dir: string,
  step: number,
  damaged: string[],
  say: (s: string) => void,
) {
  const t = stamp();
  for await (const e of host.fs.readDir(dir)) {
    const m = e.isDirectory ? STEP_DIR.exec(e.name) : null;
    if (!m || Number(m[1]) <= step) continue;
    const path = join(dir, e.name);
    const bad = damaged.some((d) => resolve(d) === resolve(path));
    const aside = `${path}.${bad ? "damaged" : "abandoned"}-${t}`;
    await host.fs.rename(path, aside);
    say(
      `resume: moved ${path} aside to ${aside} (${
        bad ? "it did not validate" : "newer than the resumed update"
      })`,
    );
  }
}

/** Points `latest` at the newest checkpoint-<step> left in `dir` (or removes it when there is none). */
async function repointLatest(host: Host, dir: string) {
  let best = -1;
  for await (const e of host.fs.readDir(dir)) {
    const m = e.isDirectory ? STEP_DIR.exec(e.name) : null;
    if (m && Number(m[1]) > best && (await exists(host, join(dir, e.name, "model_index.json")))) {
      best = Number(m[1]);
    }
  }
  if (best >= 0) await writeFileAtomic(host, join(dir, LATEST), `checkpoint-${best}\n`);
  else await host.fs.remove(join(dir, LATEST)).catch(() => {});
}
