// deno task web [--port 8000]      builds the browser page into out/web and serves it on localhost
// deno task web --build DIR        writes the static site into DIR (for any static host) and exits
// The page samples the shipped models and runs SePPO updates live on the browser's WebGPU (web/).
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkOutDir } from "../lib/cli/paths.ts";
import { denoHost } from "../lib/host/deno.ts";
import { buildSite } from "../web/build.ts";
import { serveSite } from "../web/serve.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "web",
  purpose: "builds the browser page (sampling and SePPO fine-tuning of the shipped models on the " +
    "browser's WebGPU) and serves it on localhost until Ctrl-C; --build writes the static site only.",
  flags: {
    build: flag.str("write the static site into DIR and exit (its files replace DIR's)", { arg: "DIR" }),
    port: flag.int("port on 127.0.0.1 (0: any free one)", { default: 8000, min: 0, max: 65535 }),
  },
  examples: ["deno task web", "deno task web --build out/site"],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => {
    const out = await checkOutDir(host, f.build ?? "out/web", "--build");
    await buildSite(host, { out });
    if (f.build) return;
    const server = await serveSite(out, f.port);
    console.log(`web: serving ${out} at ${server.url} (Ctrl-C stops)`);
    await new Promise(() => {}); // until the process is stopped
  });
}
