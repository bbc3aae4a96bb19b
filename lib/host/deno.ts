// The Deno host (lib/host/host.ts): the one module under lib/ that calls Deno.* (with its image
// half, deno_images.ts, and its signal worker, deno_stop_worker.ts). Entry points create it with
// denoHost() and pass it down; it holds no state of its own except the per-process backend choice.
import type { BackendChoice } from "../gpu/backend.ts";
import type { KernelFile } from "../gpu/kernel.ts";
import { denoImages } from "./deno_images.ts";
import type { FileInfo, Host, HostFs, HostProcess, WriteOptions } from "./host.ts";

const info = (i: Deno.FileInfo): FileInfo => ({
  isFile: i.isFile,
  isDirectory: i.isDirectory,
  isSymlink: i.isSymlink,
  size: i.size,
});

/** Writes all of `bytes` to `path` (create/truncate or append), fsynced when asked. */
async function writeFile(path: string, data: Uint8Array | string, o: WriteOptions = {}): Promise<void> {
  if (!o.sync) {
    if (typeof data === "string") return await Deno.writeTextFile(path, data, { append: o.append });
    return await Deno.writeFile(path, data, { append: o.append });
  }
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(path, { write: true, create: true, truncate: !o.append, append: o.append });
  try {
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
    await file.sync();
  } finally {
    file.close();
  }
}

const fs: HostFs = {
  readFile: (p) => Deno.readFile(p),
  async *readChunks(p) {
    const f = await Deno.open(p);
    yield* f.readable; // the stream closes the file when it ends or the reader stops
  },
  readTextFile: (p) => Deno.readTextFile(p),
  readTextFileSync: (p) => Deno.readTextFileSync(p),
  writeFile,
  mkdir: (p, o) => Deno.mkdir(p, o),
  remove: (p, o) => Deno.remove(p, o),
  rename: (a, b) => Deno.rename(a, b),
  copyFile: (a, b) => Deno.copyFile(a, b),
  stat: async (p) => info(await Deno.stat(p)),
  lstat: async (p) => info(await Deno.lstat(p)),
  readDir: (p) => Deno.readDir(p),
  realPath: (p) => Deno.realPath(p),
  makeTempFile: (o) => Deno.makeTempFile(o),
  async syncDir(dir) {
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
  },
  isNotFound: (e) => e instanceof Deno.errors.NotFound,
  isNotADirectory: (e) => e instanceof Deno.errors.NotADirectory,
};

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no env permission
  }
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * The signal side of StopFlag. The signals are taken in a worker thread (deno_stop_worker.ts says
 * why); where a worker cannot start (permissions), listeners on this thread do the same, later.
 */
async function watchStop(flag: Int32Array, message: string): Promise<() => void> {
  try {
    const worker = new Worker(new URL("./deno_stop_worker.ts", import.meta.url), { type: "module" });
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => {
        e.preventDefault();
        worker.terminate();
        reject(new Error(e.message));
      };
      worker.postMessage({ flag: flag.buffer, message });
    });
    return () => worker.terminate();
  } catch {
    const onSignal = () => {
      if (Atomics.load(flag, 0) === 1) Deno.exit(130);
      Atomics.store(flag, 0, 1);
      console.error(message);
    };
    for (const sig of SIGNALS) {
      try {
        Deno.addSignalListener(sig, onSignal);
      } catch { /* not supported on this platform */ }
    }
    return () => {
      for (const sig of SIGNALS) {
        try {
          Deno.removeSignalListener(sig, onSignal);
        } catch { /* ignore */ }
      }
    };
  }
}

const encoder = new TextEncoder();
const proc: HostProcess = {
  get pid() {
    return Deno.pid;
  },
  get args() {
    return Deno.args;
  },
  env: envGet,
  exit: (code) => Deno.exit(code),
  watchStop,
  writeStderr: (t) => {
    Deno.stderr.writeSync(encoder.encode(t));
  },
  stderrIsTerminal: () => Deno.stderr.isTerminal(),
};

// ---- the WebGPU backend ---------------------------------------------------------------------
// Which backend Deno's wgpu uses, chosen before the first requestAdapter (wgpu reads
// DENO_WEBGPU_BACKEND once, when it creates its instance, so the choice cannot be retried in-process).
//   DENO_WEBGPU_BACKEND set by the user  -> used as is (the documented override: vulkan | gl | metal | dx12)
//   Linux with a Vulkan driver manifest  -> vulkan (on machines without a GPU this is Mesa's lavapipe,
//                                           measured faster than llvmpipe through GL; see README)
//   otherwise                            -> wgpu's own default

/** Where the Vulkan loader looks for driver manifests (ICD JSON files) on Linux. */
const ICD_DIRS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];

/** The first Vulkan driver manifest on this machine, or null. */
export function vulkanManifest(): string | null {
  const listed = envGet("VK_DRIVER_FILES") ?? envGet("VK_ICD_FILENAMES");
  if (listed) return listed.split(":")[0];
  for (const dir of ICD_DIRS) {
    try {
      for (const e of Deno.readDirSync(dir)) if (e.name.endsWith(".json")) return `${dir}/${e.name}`;
    } catch { /* no such folder */ }
  }
  return null;
}

// Per process, as wgpu's own choice is: the one piece of state here.
let chosen: BackendChoice | null = null;

/** Decides the backend once per process (and sets DENO_WEBGPU_BACKEND so child processes agree). */
export function chooseBackend(): BackendChoice {
  if (chosen) return chosen;
  const env = envGet("DENO_WEBGPU_BACKEND");
  if (env) return chosen = { backend: env.toLowerCase(), reason: "DENO_WEBGPU_BACKEND" };
  const manifest = Deno.build.os === "linux" ? vulkanManifest() : null;
  if (manifest) {
    try {
      Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
      return chosen = { backend: "vulkan", reason: `vulkan driver ${manifest}` };
    } catch { /* no env permission */ }
  }
  return chosen = { backend: "default", reason: "wgpu default" };
}

/** The Deno host: files on disk, this process, sharp, kernels read from the kernel file's URL. */
export function denoHost(): Host {
  return {
    name: "deno",
    fs,
    images: denoImages,
    proc,
    kernelSource: (kernel: KernelFile) => Deno.readTextFileSync(kernel.url),
    chooseBackend,
  };
}
