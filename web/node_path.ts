// node:path for the browser bundle (web/build.ts maps the import here): the POSIX functions lib/
// uses, on site-relative paths. The page's "current directory" is the site root, so resolve() gives
// paths without a leading "/" as the browser host's files (lib/host/web_fs.ts) name them.
export const sep = "/";

/** Collapses "", "." and ".." segments; keeps a leading and a trailing "/"; "." for an empty path. */
export function normalize(p: string): string {
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === ".." && out.length && out[out.length - 1] !== "..") out.pop();
    else if (seg !== ".." || !abs) out.push(seg);
  }
  let s = out.join("/");
  if (s && p.endsWith("/")) s += "/";
  return abs ? "/" + s : s || ".";
}

export function join(...parts: string[]): string {
  const s = parts.filter((p) => p !== "").join("/");
  return s === "" ? "." : normalize(s);
}

export function isAbsolute(p: string): boolean {
  return p.startsWith("/");
}

/** Site-relative: the last absolute part restarts the path, and the root is "". */
export function resolve(...parts: string[]): string {
  let acc = "";
  for (const p of parts) acc = isAbsolute(p) ? p : acc ? `${acc}/${p}` : p;
  const n = normalize(acc).replace(/^\/+/, "");
  return n === "." ? "" : n;
}

export function dirname(p: string): string {
  const s = p.replace(/\/+$/, "");
  const i = s.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : s.slice(0, i);
}

export function basename(p: string, ext?: string): string {
  const s = p.replace(/\/+$/, "");
  const b = s.slice(s.lastIndexOf("/") + 1);
  return ext && b.endsWith(ext) && b !== ext ? b.slice(0, -ext.length) : b;
}

export function extname(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf(".");
  return i <= 0 || b === ".." ? "" : b.slice(i);
}

export default { sep, normalize, join, isAbsolute, resolve, dirname, basename, extname };
