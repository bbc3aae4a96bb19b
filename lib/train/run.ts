// What every training run shares: a metrics log (JSONL, truncated on resume so steps never
// repeat), a stop flag for Ctrl-C / SIGTERM (finish the step, checkpoint, exit 130), and the trainer
// state (raw weights, AdamW moments, EMA) as one safetensors blob inside each checkpoint folder.
import { writeFileAtomic } from "../io/atomic.ts";
import { assertFinite } from "../io/checkpoint.ts";
import { encodeSafetensors, parseSafetensors, type StInput } from "../io/safetensors.ts";
import type { GpuContext } from "../gpu/context.ts";
import type { Host } from "../host/host.ts";
import { readAll, type Tensor } from "../tensor/tensor.ts";
import type { AdamW } from "./adamw.ts";
import { Rng } from "../util/rng.ts";
import { preview } from "../util/text.ts";
import { cloneWeights, copyWeights, type Weights } from "./pool.ts";

/**
 * Reads a metrics.jsonl tolerantly: a line that is not a JSON object (the partial last line a crash
 * or a full disk leaves) is dropped with a warning naming the file and the line. A missing file is
 * an empty log.
 */
export async function readMetrics(
  host: Host,
  path: string,
  warn: (s: string) => void = console.warn,
): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await host.fs.readTextFile(path);
  } catch (e) {
    if (host.fs.isNotFound(e)) return [];
    throw new Error(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  const lines = text.split("\n");
  const rows: Record<string, unknown>[] = [];
  lines.forEach((line, k) => {
    if (!line.trim()) return;
    let row: unknown = null;
    try {
      row = JSON.parse(line);
    } catch { /* reported below */ }
    if (typeof row === "object" && row !== null && !Array.isArray(row)) {
      rows.push(row as Record<string, unknown>);
      return;
    }
    const last = lines.slice(k + 1).every((l) => !l.trim());
    warn(`${path}:${k + 1}: ${last ? "partial last line" : "malformed line"} dropped (${preview(line, 40)})`);
  });
  return rows;
}

export class MetricsLog {
  private lines: string[] = [];

  private constructor(private host: Host, readonly path: string) {}

  /**
   * Opens `path` for a run: a new run (`keepUpTo` null) starts it empty; a resumed one keeps only
   * the rows with step <= `keepUpTo` (read tolerantly), rewritten atomically.
   */
  static async open(
    host: Host,
    path: string,
    keepUpTo: number | null,
    warn: (s: string) => void = console.warn,
  ): Promise<MetricsLog> {
    const log = new MetricsLog(host, path);
    const kept = keepUpTo === null
      ? []
      : (await readMetrics(host, path, warn)).filter((r) => Number(r.step ?? 0) <= keepUpTo);
    await writeFileAtomic(host, path, kept.map((r) => JSON.stringify(r) + "\n").join(""));
    return log;
  }

  write(row: Record<string, unknown>) {
    this.lines.push(JSON.stringify(row));
  }

  async flush() {
    if (!this.lines.length) return;
    const text = this.lines.map((l) => l + "\n").join("");
    this.lines = [];
    try {
      await this.host.fs.writeFile(this.path, text, { append: true });
    } catch (e) {
      throw new Error(`${this.path}: cannot append metrics (${(e as Error).message})`, { cause: e });
    }
  }
}

const STOP_MESSAGE =
  "\nstop requested: finishing this update, then writing a checkpoint (Ctrl-C again aborts at once; the " +
  "last checkpoint written stays)";

/**
 * Ctrl-C / SIGTERM: the first asks the training loop to stop after the current update (the trainer
 * saves a checkpoint and throws StoppedError, exit 130); the second ends the process at once. The
 * host watches the signals (lib/host/deno.ts: in a worker thread, so `requested` turns true as soon
 * as the signal arrives, even while this thread is blocked in a GPU submission; a page has none and
 * calls request()). `await ready` before the loop; `dispose()` after it (a signal then has its
 * default effect again).
 */
export class StopFlag {
  readonly ready: Promise<void>;
  // Shared where the platform allows it (the Deno host's worker writes it); a page without
  // cross-origin isolation has no SharedArrayBuffer, and only request() writes the flag there.
  #flag = new Int32Array(
    typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : new ArrayBuffer(4),
  );
  #stop: (() => void) | null = null;
  #disposed = false;

  constructor(host: Host) {
    this.ready = host.proc.watchStop(this.#flag, STOP_MESSAGE).then((stop) => {
      if (this.#disposed) stop();
      else this.#stop = stop;
    });
  }

  get requested(): boolean {
    return Atomics.load(this.#flag, 0) === 1;
  }

  /** Asks for a stop as a signal does (for programs that embed a trainer, and the page). */
  request(): void {
    Atomics.store(this.#flag, 0, 1);
  }

  dispose() {
    this.#disposed = true;
    this.#stop?.();
    this.#stop = null;
  }
}

/** Serialises raw weights, AdamW moments and EMA weights (names prefixed by role). */
export async function encodeTrainerState(
  weights: Weights,
  opt: AdamW,
  ema: Weights | null,
  meta: Record<string, string>,
): Promise<Uint8Array> {
  const list: StInput[] = [];
  const names = [...weights.keys()];
  const roles: [string, Tensor][] = [];
  names.forEach((name, i) => {
    roles.push([`param.${name}`, weights.get(name)!], [`adam_m.${name}`, opt.m[i]], [
      `adam_v.${name}`,
      opt.v[i],
    ]);
    if (ema) roles.push([`ema.${name}`, ema.get(name)!]);
  });
  const data = await readAll(opt.m[0].ctx, roles.map(([, t]) => t));
  // The last line of defence of the non-finite guard: a NaN state is never written (nor pruned for).
  roles.forEach(([name], i) =>
    assertFinite(`trainer state at update ${meta.step} (not saved)`, name, data[i])
  );
  roles.forEach(([name, t], i) => list.push({ name, shape: [...t.shape], data: data[i] }));
  return encodeSafetensors(list, { metadata: { ...meta, adam_step: String(opt.step) } });
}

/** Restores what encodeTrainerState wrote; returns its metadata. */
export function decodeTrainerState(
  ctx: GpuContext,
  bytes: Uint8Array,
  source: string,
  weights: Weights,
  opt: AdamW,
  ema: Weights | null,
): Record<string, string> {
  const { tensors, metadata } = parseSafetensors(bytes, source);
  const put = (key: string, t: Tensor) => {
    const s = tensors.get(key);
    if (!s || s.data.length !== t.size) {
      throw new Error(`${source}: tensor ${key} missing or of another size`);
    }
    ctx.write(t.buffer, s.data);
  };
  [...weights.keys()].forEach((name, i) => {
    put(`param.${name}`, weights.get(name)!);
    put(`adam_m.${name}`, opt.m[i]);
    put(`adam_v.${name}`, opt.v[i]);
    if (ema) put(`ema.${name}`, ema.get(name)!);
  });
  opt.step = Number(metadata.adam_step ?? 0);
  return metadata;
}

/** Runs `fn` with `weights` temporarily replaced by `other` (e.g. saving EMA weights as the model). */
export async function withWeights<T>(
  ctx: GpuContext,
  weights: Weights,
  other: Weights,
  fn: () => Promise<T>,
) {
  const saved = cloneWeights(ctx, weights);
  copyWeights(ctx, other, weights);
  try {
    return await fn();
  } finally {
    copyWeights(ctx, saved, weights);
    for (const t of saved.values()) {
      t.persistent = false;
      t.dispose();
    }
  }
}

/**
 * The batch of (micro-)step k as a pure function of (seed, k): epoch floor(k / batchesPerEpoch),
 * shuffled by its own fork of the seed, so a resumed run sees exactly the batches the uninterrupted
 * run would have. Sequential access is cheap; a jump (resume) skips ahead within the epoch.
 */
export function batchSchedule<T>(
  data: { items: unknown[]; batches(n: number, rng: Rng): Generator<T> },
  batch: number,
  seed: number,
  where: string,
): (k: number) => T {
  const perEpoch = Math.floor(data.items.length / batch);
  if (perEpoch < 1) throw new Error(`${where}: ${data.items.length} items < train.batch ${batch}`);
  let epoch = -1, next = -1, iter: Generator<T> | null = null;
  return (k: number) => {
    const e = Math.floor(k / perEpoch);
    if (e !== epoch || !iter || k !== next) {
      epoch = e;
      iter = data.batches(batch, new Rng(seed).fork(`epoch-${e}`));
      for (let i = 0; i < k % perEpoch; i++) iter.next();
    }
    next = k + 1;
    return iter.next().value as T;
  };
}

/** Formats seconds as 1h02m or 3m05s or 4.2s. */
export function fmtSecs(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  return h
    ? `${h}h${String(m % 60).padStart(2, "0")}m`
    : `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

export { writeFileAtomic };
