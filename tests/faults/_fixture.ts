// Shared by the fault-injection tests: a tiny preference dataset and base (made once per test file),
// configs for short sft runs (no reference sampling, so they are fast), a child-process runner for
// faults that need a real kill -9, and the file-system faults: a small tmpfs where this machine
// allows mounting one, else a simulated writer that fails like a full or read-only disk.
import { join } from "node:path";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { train, TRAIN_DEFAULTS, type TrainConfig } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";

export interface Fixture {
  dir: string;
  prefs: string;
  base: string;
}

let made: Promise<Fixture> | null = null;

/** The dataset and base, made once per test file (removed at process exit). */
export function fixture(): Promise<Fixture> {
  made ??= (async () => {
    const ctx = await gpu();
    const dir = await Deno.makeTempDir({ prefix: "seppo-faults-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const prefs = join(dir, "prefs"), base = join(dir, "base");
    await generate(host, {
      ...DEFAULTS,
      world: "shapes",
      split: "prefs",
      count: 4,
      size: 16,
      pairs: true,
      out: prefs,
      progress: false,
    });
    await saveTinyBase(ctx, base);
    return { dir, prefs, base };
  })();
  return made;
}

/** A short sft run: batch 2, a checkpoint and a metrics row every update, every checkpoint kept. */
export function sftConfig(f: Fixture, out: string, steps: number, train: Partial<TrainConfig["train"]> = {}) {
  const c: TrainConfig = structuredClone(TRAIN_DEFAULTS);
  c.base = f.base;
  c.data = { prefs: f.prefs, size: 16, frames: 0 };
  c.method = "sft";
  c.pool = { size: 2, interval: 100, gpu_budget_mb: 64 };
  c.train = { ...c.train, steps, batch: 2, warmup: 0, lr: 1e-3, checkpoints_total_limit: 0, ...train };
  c.log = { ...c.log, every: 1, ckpt_every: 1 };
  c.out = out;
  return c;
}

export const quiet = { quiet: true, log: () => {} };

let straightRun: Promise<string> | null = null;

/** An uninterrupted 3-update sft run (checkpoints 1..3), made once: the reference and a template. */
export function straight(): Promise<string> {
  straightRun ??= (async () => {
    const f = await fixture();
    const out = join(f.dir, "straight");
    await train(await gpu(), sftConfig(f, out, 3), quiet);
    return out;
  })();
  return straightRun;
}

/** A copy of a run folder (cheaper than training one again). */
export async function copyRun(from: string, to: string) {
  const r = await new Deno.Command("cp", { args: ["-a", from, to] }).output();
  if (!r.success) throw new Error(`cp -a ${from} ${to} failed`);
}

/** The trainer state's tensors (weights and moments) of a checkpoint, for exact comparisons. */
export async function state(ckpt: string): Promise<Map<string, Float32Array>> {
  const { tensors } = await readSafetensors(host, join(ckpt, "trainer_state.safetensors"));
  return new Map([...tensors].map(([k, t]) => [k, t.data]));
}

/** Runs tests/faults/_child.ts (one training run, with an injected fault) in a fresh process. */
export async function runChild(spec: unknown): Promise<{ code: number; signal: string | null; out: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-P", "--quiet", join(import.meta.dirname!, "_child.ts"), JSON.stringify(spec)],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await child.output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  return { code: r.code, signal: r.signal, out };
}

/** A small tmpfs (a real full disk), or null where this machine does not allow mounting one. */
export async function tmpfs(
  bytes: number,
): Promise<{ dir: string; remount(opts: string): Promise<void>; close(): Promise<void> } | null> {
  // SEPPO_TEST_NO_TMPFS=1 runs the simulated path on a machine that could mount.
  if (Deno.build.os !== "linux" || Deno.env.get("SEPPO_TEST_NO_TMPFS")) return null;
  const dir = await Deno.makeTempDir({ prefix: "seppo-tmpfs-" });
  const mount = async (...args: string[]) =>
    (await new Deno.Command("mount", { args, stdout: "null", stderr: "null" }).output().catch(() => null))
      ?.success ?? false;
  if (!(await mount("-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir))) {
    await Deno.remove(dir);
    return null;
  }
  return {
    dir,
    async remount(opts: string) {
      if (!(await mount("-o", `remount,${opts}`, dir))) throw new Error(`remount ${opts} of ${dir} failed`);
    },
    async close() {
      await new Deno.Command("umount", { args: [dir] }).output();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Simulates a disk that fails (in this process) for writes under `root`: after `budget` bytes,
 * every write, mkdir and rename there throws `error` (a full disk: ENOSPC; read-only: EROFS), as
 * the OS would. Returns the undo. Used where no tmpfs can be mounted.
 */
export function failingDisk(root: string, budget: number, error: () => Error): () => void {
  const D = Deno as unknown as Record<string, unknown>;
  const saved = ["open", "writeFile", "writeTextFile", "mkdir", "rename"].map((k) => [k, D[k]] as const);
  const orig = Object.fromEntries(saved) as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const under = (p: unknown) => String(p instanceof URL ? p.pathname : p).startsWith(root);
  let left = budget;
  const spend = (n: number) => {
    if (left < n) {
      left = 0;
      throw error();
    }
    left -= n;
  };
  D.open = async (path: unknown, opts?: Deno.OpenOptions) => {
    const writing = under(path) && (opts?.write || opts?.append);
    if (writing && left === 0) throw error();
    const file = await orig.open(path, opts) as Deno.FsFile;
    if (!writing) return file;
    const write = file.write.bind(file);
    file.write = async (b: Uint8Array) => {
      const n = Math.min(b.length, left);
      if (n > 0) await write(b.subarray(0, n));
      spend(b.length);
      return b.length;
    };
    return file;
  };
  for (const k of ["writeFile", "writeTextFile"]) {
    D[k] = async (path: unknown, data: Uint8Array | string, o?: unknown) => {
      if (under(path)) spend(typeof data === "string" ? new TextEncoder().encode(data).length : data.length);
      return await orig[k](path, data, o);
    };
  }
  for (const k of ["mkdir", "rename"]) {
    D[k] = async (...a: unknown[]) => {
      if (under(a[a.length - 1]) && left === 0) throw error();
      return await orig[k](...a);
    };
  }
  return () => {
    for (const [k, v] of saved) D[k] = v;
  };
}
