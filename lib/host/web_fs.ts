// The browser host's files: the site's files (listed by the build's manifest, read with fetch) plus
// everything written during the session, in one in-memory tree. A page cannot list a folder over
// HTTP, so the manifest is what readDir and stat see; a write, rename or remove changes the tree only
// (nothing goes back to the server), which is what lets the trainer's run folder, metrics and
// checkpoints work unchanged in a page. Paths are relative to the site root ("models/x/unet/config.json";
// "./a" and "/a" name "a"). Pure fetch + memory: tests run it under Deno against a local server.
import type { DirEntry, FileInfo, HostFs, WriteOptions } from "./host.ts";

/** A file-system error with a code the host's isNotFound / isNotADirectory recognise. */
export class WebFsError extends Error {
  override name = "WebFsError";
  constructor(
    readonly code: "NotFound" | "NotADirectory" | "AlreadyExists" | "NotEmpty" | "IsADirectory",
    message: string,
  ) {
    super(message);
  }
}

/** A file served by the site (read lazily from `src`) or written in this session (`data`). */
type Node = { dir: true } | { dir: false; size: number; data: Uint8Array | null; src: string | null };

/** "./a//b/" -> "a/b"; "" for the root. ".." is resolved lexically and may not leave the root. */
export function normPath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (!out.length) throw new WebFsError("NotFound", `${path}: leaves the site root`);
      out.pop();
    } else out.push(seg);
  }
  return out.join("/");
}

const parentOf = (p: string) => p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "";

/** Runs a synchronous tree operation as a promise (its errors reject, as a real file system's do). */
const later = <T>(fn: () => T): Promise<T> => new Promise((resolve) => resolve(fn()));

export interface WebFsOptions {
  /** The site root the manifest's paths are relative to (a URL ending in "/"). */
  base: string | URL;
  /** Path -> size in bytes of every file the site serves. */
  manifest: Record<string, number>;
  fetch?: typeof fetch;
}

export class WebFs implements HostFs {
  private nodes = new Map<string, Node>([["", { dir: true }]]);
  private base: URL;
  private fetcher: typeof fetch;
  private tempCounter = 0;

  constructor(o: WebFsOptions) {
    this.base = new URL(o.base);
    this.fetcher = o.fetch ?? fetch.bind(globalThis);
    for (const [path, size] of Object.entries(o.manifest)) {
      const p = normPath(path);
      this.ensureDirs(parentOf(p));
      this.nodes.set(p, { dir: false, size, data: null, src: p });
    }
  }

  private ensureDirs(dir: string) {
    for (let d = dir; d !== "" && !this.nodes.has(d); d = parentOf(d)) this.nodes.set(d, { dir: true });
  }

  private node(path: string, op: string): Node {
    const p = normPath(path);
    const n = this.nodes.get(p);
    if (n) return n;
    // A missing path under a file is "not a directory", as on a real file system.
    for (let d = parentOf(p); d !== ""; d = parentOf(d)) {
      const up = this.nodes.get(d);
      if (up && !up.dir) throw new WebFsError("NotADirectory", `Not a directory: ${op} '${path}'`);
    }
    throw new WebFsError("NotFound", `No such file or directory: ${op} '${path}'`);
  }

  private parentDir(path: string, op: string): string {
    const p = normPath(path);
    const parent = this.node(parentOf(p), op);
    if (!parent.dir) throw new WebFsError("NotADirectory", `Not a directory: ${op} '${path}'`);
    return p;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const n = this.node(path, "open");
    if (n.dir) throw new WebFsError("IsADirectory", `Is a directory: read '${path}'`);
    if (n.data) return n.data.slice();
    const url = new URL(n.src!.split("/").map(encodeURIComponent).join("/"), this.base);
    const res = await this.fetcher(url);
    if (!res.ok) {
      await res.body?.cancel();
      throw new WebFsError(
        "NotFound",
        `${path}: fetch ${url.pathname} answered ${res.status} ${res.statusText}`,
      );
    }
    return new Uint8Array(await res.arrayBuffer());
  }

  async *readChunks(path: string): AsyncIterable<Uint8Array> {
    yield await this.readFile(path);
  }

  async readTextFile(path: string): Promise<string> {
    return new TextDecoder().decode(await this.readFile(path));
  }

  /** Only files already in memory (written this session, or loaded with preload()) read synchronously. */
  readTextFileSync(path: string): string {
    const n = this.node(path, "open");
    if (n.dir) throw new WebFsError("IsADirectory", `Is a directory: read '${path}'`);
    if (!n.data) {
      throw new Error(`${path}: not loaded yet (a page reads site files asynchronously; preload it)`);
    }
    return new TextDecoder().decode(n.data);
  }

  /** Fetches site files into memory (for readTextFileSync). */
  async preload(paths: string[]): Promise<void> {
    await Promise.all(paths.map(async (p) => {
      const n = this.node(p, "open");
      if (!n.dir && !n.data) n.data = await this.readFile(p);
    }));
  }

  async writeFile(path: string, data: Uint8Array | string, o: WriteOptions = {}): Promise<void> {
    const p = this.parentDir(path, "open");
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data.slice();
    const old = this.nodes.get(p);
    if (old?.dir) throw new WebFsError("IsADirectory", `Is a directory: open '${path}'`);
    let out = bytes;
    if (o.append && old) {
      const prev = await this.readFile(p);
      out = new Uint8Array(prev.length + bytes.length);
      out.set(prev);
      out.set(bytes, prev.length);
    }
    this.nodes.set(p, { dir: false, size: out.length, data: out, src: null });
  }

  mkdir(path: string, o: { recursive?: boolean } = {}): Promise<void> {
    return later(() => {
      const p = normPath(path);
      const n = this.nodes.get(p);
      if (n) {
        if (n.dir && o.recursive) return;
        throw new WebFsError("AlreadyExists", `File exists: mkdir '${path}'`);
      }
      if (o.recursive) {
        for (let d = parentOf(p); d !== ""; d = parentOf(d)) {
          const up = this.nodes.get(d);
          if (up && !up.dir) throw new WebFsError("NotADirectory", `Not a directory: mkdir '${path}'`);
        }
        this.ensureDirs(p);
        return;
      }
      this.parentDir(path, "mkdir");
      this.nodes.set(p, { dir: true });
    });
  }

  private under(p: string): string[] {
    return [...this.nodes.keys()].filter((k) => p === "" ? k !== "" : k.startsWith(p + "/"));
  }

  remove(path: string, o: { recursive?: boolean } = {}): Promise<void> {
    return later(() => {
      const p = normPath(path);
      const n = this.node(path, "remove");
      if (n.dir) {
        const inside = this.under(p);
        if (inside.length && !o.recursive) {
          throw new WebFsError("NotEmpty", `Directory not empty: remove '${path}'`);
        }
        for (const k of inside) this.nodes.delete(k);
      }
      if (p !== "") this.nodes.delete(p);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return later(() => {
      const a = normPath(from);
      const n = this.node(from, "rename");
      const b = this.parentDir(to, "rename");
      if (a === b) return;
      if (b.startsWith(a + "/")) {
        throw new WebFsError("NotFound", `Invalid argument: rename '${from}' -> '${to}'`);
      }
      const dest = this.nodes.get(b);
      if (dest?.dir) {
        if (!n.dir) throw new WebFsError("IsADirectory", `Is a directory: rename '${from}' -> '${to}'`);
        if (this.under(b).length) {
          throw new WebFsError("NotEmpty", `Directory not empty: rename '${from}' -> '${to}'`);
        }
      } else if (dest && n.dir) {
        throw new WebFsError("NotADirectory", `Not a directory: rename '${from}' -> '${to}'`);
      }
      const moved = n.dir ? this.under(a) : [];
      this.nodes.set(b, n);
      this.nodes.delete(a);
      for (const k of moved) {
        this.nodes.set(b + k.slice(a.length), this.nodes.get(k)!);
        this.nodes.delete(k);
      }
    });
  }

  async copyFile(from: string, to: string): Promise<void> {
    await this.writeFile(to, await this.readFile(from));
  }

  stat(path: string): Promise<FileInfo> {
    return later(() => {
      const n = this.node(path, "stat");
      return { isFile: !n.dir, isDirectory: n.dir, isSymlink: false, size: n.dir ? 0 : n.size };
    });
  }

  lstat(path: string): Promise<FileInfo> {
    return this.stat(path);
  }

  async *readDir(path: string): AsyncIterable<DirEntry> {
    const p = normPath(path);
    const n = this.node(path, "readdir");
    if (!n.dir) throw new WebFsError("NotADirectory", `Not a directory: readdir '${path}'`);
    const names = [...this.nodes.keys()].filter((k) => k !== "" && parentOf(k) === p);
    for (const k of names) {
      const c = this.nodes.get(k);
      if (!c) continue; // removed while listing
      yield { name: k.slice(p ? p.length + 1 : 0), isFile: !c.dir, isDirectory: c.dir, isSymlink: false };
    }
  }

  realPath(path: string): Promise<string> {
    return later(() => {
      this.node(path, "realpath");
      return normPath(path);
    });
  }

  async makeTempFile(o: { dir: string; prefix: string }): Promise<string> {
    const path = normPath(`${o.dir}/${o.prefix}${this.tempCounter++}`);
    await this.writeFile(path, new Uint8Array(0));
    return path;
  }

  async syncDir(): Promise<void> {}

  isNotFound(e: unknown): boolean {
    return e instanceof WebFsError && e.code === "NotFound";
  }

  isNotADirectory(e: unknown): boolean {
    return e instanceof WebFsError && e.code === "NotADirectory";
  }
}
