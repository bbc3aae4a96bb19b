// Early checks of paths, before a task acquires the GPU or spends minutes on work it then cannot save:
// an input must exist (as a folder or a file where that is what the flag takes); an output file needs
// a known extension and an existing, writable folder (a task does not invent folders for a single
// file); an output folder may not exist yet (it is created when written), but its nearest existing
// ancestor must be a writable folder and the path itself must not be a file.
import { dirname, extname, resolve } from "node:path";
import { UsageError } from "../util/errors.ts";
import type { FileInfo, Host } from "../host/host.ts";

/** Image extensions lib/io/images.ts writes. */
export const IMAGE_EXTENSIONS = ["png", "jpg", "jpeg", "webp"];

async function statOrNull(host: Host, path: string): Promise<FileInfo | null> {
  try {
    return await host.fs.stat(path);
  } catch (e) {
    if (host.fs.isNotFound(e) || host.fs.isNotADirectory(e)) return null;
    throw e;
  }
}

/** Checks that an input path given by `flag` exists (and is a folder or a file, when `want` says). */
export async function checkInput(
  host: Host,
  path: string,
  flag: string,
  want?: "folder" | "file",
): Promise<string> {
  const info = await statOrNull(host, path);
  if (!info) throw new UsageError(`flag ${flag}: ${path} does not exist`);
  if (want === "folder" && !info.isDirectory) {
    throw new UsageError(`flag ${flag}: ${path} is a file, expected a folder`);
  }
  if (want === "file" && info.isDirectory) {
    throw new UsageError(`flag ${flag}: ${path} is a folder, expected a file`);
  }
  return path;
}

/** Throws unless a file can be created in `dir` (permissions, read-only file systems). */
async function assertWritable(host: Host, dir: string, what: string): Promise<void> {
  let probe: string;
  try {
    probe = await host.fs.makeTempFile({ dir, prefix: ".seppo-write-check-" });
  } catch (e) {
    throw new UsageError(
      `${what}: folder ${dir} is not writable (${(e as Error).message.replace(/ \(os error.*$/, "")})`,
    );
  }
  await host.fs.remove(probe).catch(() => {});
}

/**
 * Checks an output file path given by `flag` (e.g. "--out"): extension among `exts` (when given),
 * parent folder existing and writable, the path not a folder. Returns the path.
 */
export async function checkOutFile(
  host: Host,
  path: string,
  flag: string,
  exts?: readonly string[],
): Promise<string> {
  const what = `flag ${flag}`;
  const ext = extname(path).slice(1).toLowerCase();
  if (exts && !exts.includes(ext)) {
    throw new UsageError(
      `${what}: ${JSON.stringify(path)}: unknown file type ${
        ext ? `".${ext}"` : "(no extension)"
      }; use one of ${exts.map((e) => "." + e).join(", ")}`,
    );
  }
  const info = await statOrNull(host, path);
  if (info?.isDirectory) throw new UsageError(`${what}: ${path} is a folder, expected a file name`);
  const dir = dirname(resolve(path));
  const d = await statOrNull(host, dir);
  if (!d) throw new UsageError(`${what}: folder ${dirname(path)} does not exist (create it first)`);
  if (!d.isDirectory) throw new UsageError(`${what}: ${dirname(path)} is not a folder`);
  await assertWritable(host, dir, what);
  return path;
}

/** Checks an output folder path: not a file; its nearest existing ancestor a writable folder. */
export async function checkOutDir(host: Host, path: string, flag: string): Promise<string> {
  const what = `flag ${flag}`;
  let p = resolve(path);
  for (;;) {
    const info = await statOrNull(host, p);
    if (info) {
      if (!info.isDirectory) {
        throw new UsageError(
          p === resolve(path)
            ? `${what}: ${path} is a file, expected a folder`
            : `${what}: ${p} is a file, not a folder`,
        );
      }
      await assertWritable(host, p, what);
      return path;
    }
    const up = dirname(p);
    if (up === p) return path;
    p = up;
  }
}
