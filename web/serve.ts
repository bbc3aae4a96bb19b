// A static file server for a built site (web/build.ts), on localhost only. GET and HEAD of files
// inside the folder; nothing else (no listing, no writes, no path outside the folder).
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  map: "application/json",
  wgsl: "text/plain; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  jsonl: "text/plain; charset=utf-8",
  yaml: "text/plain; charset=utf-8",
  png: "image/png",
  safetensors: "application/octet-stream",
};

export interface SiteServer {
  /** "http://127.0.0.1:PORT/" */
  url: string;
  close(): Promise<void>;
}

/** Serves `dir` on 127.0.0.1:`port` (0: any free port). */
export function serveSite(dir: string, port = 0, onListen?: (url: string) => void): Promise<SiteServer> {
  const root = Deno.realPathSync(dir);
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      onListen: ({ port }) => {
        const url = `http://127.0.0.1:${port}/`;
        onListen?.(url);
        resolve({ url, close: () => server.shutdown() });
      },
    }, async (req) => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("method not allowed", { status: 405 });
      }
      let rel = decodeURIComponent(new URL(req.url).pathname).replace(/^\/+/, "");
      if (rel === "" || rel.endsWith("/")) rel += "index.html";
      if (rel.split("/").some((s) => s === ".." || s.startsWith("."))) {
        return new Response("not found", { status: 404 });
      }
      try {
        const path = await Deno.realPath(`${root}/${rel}`);
        if (!path.startsWith(root + "/")) return new Response("not found", { status: 404 });
        const file = await Deno.open(path, { read: true });
        const ext = rel.slice(rel.lastIndexOf(".") + 1).toLowerCase();
        const size = (await file.stat()).size;
        const headers = {
          "content-type": TYPES[ext] ?? "application/octet-stream",
          "content-length": String(size),
          "cache-control": "no-cache",
        };
        if (req.method === "HEAD") {
          file.close();
          return new Response(null, { headers });
        }
        return new Response(file.readable, { headers });
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
  });
}
