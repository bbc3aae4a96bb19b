// Atomic file writes: data goes to a temporary name in the target's directory, is fsynced, and is
// then renamed over the target. rename(2) within one file system is atomic, so a reader (or a run
// resumed after a crash) sees either the old file or the complete new one, never a partial file.
import { basename, dirname, join } from "node:path";
import type { Host } from "../host/host.ts";

// Distinguishes concurrent writes from one process; the pid distinguishes processes.
let counter = 0;

/** The temporary name used for `path`: a hidden sibling, so it stays on the same file system. */
export function tempPathFor(host: Host, path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${host.proc.pid}-${counter++}`);
}

/** An OS error's reason without Deno's "(os error N): op 'path'" tail. */
const reason = (e: unknown) => String((e as Error)?.message ?? e).replace(/ \(os error \d+\).*$/, "");

/** A write error that names the file (a disk-full write() says only "No space left on device"). */
export class WriteError extends Error {
  override name = "WriteError";
  constructor(readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(`${path}: cannot write (${reason})`, options);
  }
}

/**
 * Writes `data` to `path` and fsyncs it (not atomic; used for files inside a fresh temp folder).
 * Failures (disk full, read-only) throw a WriteError naming `path`.
 */
export async function writeFileSynced(host: Host, path: string, data: Uint8Array | string): Promise<void> {
  try {
    await host.fs.writeFile(path, data, { sync: true });
  } catch (e) {
    throw new WriteError(path, reason(e), { cause: e });
  }
}

/** Best-effort fsync of a directory so that a rename inside it survives a power loss. */
export function syncDir(host: Host, dir: string): Promise<void> {
  return host.fs.syncDir(dir);
}

/** Writes `data` to `path` atomically (temp name + fsync + rename); the temp is removed on failure. */
export async function writeFileAtomic(host: Host, path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(host, path);
  try {
    await writeFileSynced(host, tmp, data);
    await host.fs.rename(tmp, path);
  } catch (e) {
    await host.fs.remove(tmp).catch(() => {});
    // Named by the target (the temporary name means nothing to the reader); the old file is intact.
    const why = e instanceof WriteError ? e.reason : reason(e);
    throw new Error(`${path}: write failed (${why}); the previous file, if any, is unchanged`, { cause: e });
  }
  await syncDir(host, dirname(path));
}

/** Writes `value` as pretty JSON (2-space indent, trailing newline) atomically. */
export async function writeJsonAtomic(host: Host, path: string, value: unknown): Promise<void> {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (e) {
    // BigInt values and cycles: report them against the file being written.
    throw new Error(`${path}: cannot encode JSON: ${(e as Error).message}`, { cause: e });
  }
  if (text === undefined) throw new Error(`${path}: cannot write ${String(value)} as JSON`);
  await writeFileAtomic(host, path, text + "\n");
}
