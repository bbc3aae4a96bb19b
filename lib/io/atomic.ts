// Atomic file writes: data goes to a temporary name in the target's directory, is fsynced, and is
// then renamed over the target. rename(2) within one file system is atomic, so a reader (or a run
// resumed after a crash) sees either the old file or the complete new one, never a partial file.
import { basename, dirname, join } from "node:path";

// Distinguishes concurrent writes from one process; the pid distinguishes processes.
let counter = 0;

/** The temporary name used for `path`: a hidden sibling, so it stays on the same file system. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}-${counter++}`);
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
export async function writeFileSynced(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, create: true, truncate: true });
  } catch (e) {
    throw new WriteError(path, reason(e), { cause: e });
  }
  try {
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
    await file.sync();
  } catch (e) {
    throw new WriteError(path, reason(e), { cause: e });
  } finally {
    file.close();
  }
}

/** Best-effort fsync of a directory so that a rename inside it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic.
  }
}

/** Writes `data` to `path` atomically (temp name + fsync + rename); the temp is removed on failure. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeFileSynced(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    // Named by the target (the temporary name means nothing to the reader); the old file is intact.
    const why = e instanceof WriteError ? e.reason : reason(e);
    throw new Error(`${path}: write failed (${why}); the previous file, if any, is unchanged`, { cause: e });
  }
  await syncDir(dirname(path));
}

/** Writes `value` as pretty JSON (2-space indent, trailing newline) atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (e) {
    // BigInt values and cycles: report them against the file being written.
    throw new Error(`${path}: cannot encode JSON: ${(e as Error).message}`, { cause: e });
  }
  if (text === undefined) throw new Error(`${path}: cannot write ${String(value)} as JSON`);
  await writeFileAtomic(path, text + "\n");
}
