// One training run in its own process with a fault injected, for tests/faults/crash_test.ts:
//   deno run -P tests/faults/_child.ts '{"config": {...}, "resume": true, "fault": {...}}'
// fault.kind "kill-mid-write": SIGKILL halfway through writing the first file whose path matches
// fault.match; "kill-at-rename": SIGKILL just before (or, with after, just after) the first rename
// whose destination matches. Test code only: the library has no fault hooks.
import { GpuContext } from "../../lib/gpu/context.ts";
import { train } from "../../lib/train/seppo.ts";
import { denoHost } from "../../lib/host/deno.ts";

const host = denoHost();

const spec = JSON.parse(Deno.args[0]);
const f = spec.fault as { kind: string; match: string; after?: boolean } | undefined;
const D = Deno as unknown as Record<string, unknown>;
const die = () => Deno.kill(Deno.pid, "SIGKILL");
if (f?.kind === "kill-mid-write") {
  const open = Deno.open;
  D.open = async (path: string | URL, opts?: Deno.OpenOptions) => {
    const file = await open(path, opts);
    if (opts?.write && new RegExp(f.match).test(String(path))) {
      const write = file.write.bind(file);
      file.write = async (b: Uint8Array) => {
        await write(b.subarray(0, b.length >> 1));
        await file.sync();
        die();
        return 0;
      };
    }
    return file;
  };
}
if (f?.kind === "kill-at-rename") {
  const rename = Deno.rename;
  D.rename = async (from: string, to: string) => {
    const hit = new RegExp(f.match).test(String(to));
    if (hit && !f.after) die();
    await rename(from, to);
    if (hit) die();
  };
}
const ctx = await GpuContext.create(host);
const r = await train(ctx, spec.config, { resume: spec.resume, quiet: true, log: console.log });
console.log(`done: ${r.steps} updates, checkpoint ${r.checkpoint}`);
