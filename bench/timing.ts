// Timing for the bench: warm up, then batches of N runs with one sync (ours) or one readback
// (TensorFlow.js) per batch; the figure is the median over batches of wall time / N. Process CPU
// time is kept too: the software adapter runs on the CPU, and other processes on the machine
// stretch wall time but not CPU time.
import process from "node:process";
import type { GpuContext } from "../lib/ops/util.ts";

export interface Timing {
  /** Median wall milliseconds per run. */
  ms: number;
  /** Median process CPU milliseconds per run. */
  cpuMs: number;
  runs: number;
}

export interface TimingOptions {
  quick?: boolean;
  /** Wall time to aim for per batch (ms). */
  batchMs?: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Batch size and count from one warm run's time: slow ops get fewer, shorter batches. */
function plan(warmMs: number, o: TimingOptions): { n: number; batches: number } {
  if (o.quick) return { n: 1, batches: 1 };
  const n = Math.max(1, Math.min(20, Math.round((o.batchMs ?? 300) / Math.max(warmMs, 0.01))));
  return { n, batches: warmMs > 1500 ? 3 : 5 };
}

async function timeLoop(
  once: () => Promise<void>,
  batchEnd: () => Promise<void>,
  o: TimingOptions,
): Promise<Timing> {
  // warm-up: pipelines compile, pools fill
  await once();
  await batchEnd();
  const t0 = performance.now();
  await once();
  await batchEnd();
  const { n, batches } = plan(performance.now() - t0, o);
  const wall: number[] = [], cpu: number[] = [];
  for (let b = 0; b < batches; b++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < n; i++) await once();
    await batchEnd();
    wall.push((performance.now() - w0) / n);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000 / n);
  }
  return { ms: median(wall), cpuMs: median(cpu), runs: n * batches };
}

/** Times `run` (which encodes GPU work) on our context: one sync per batch. */
export function timeOurs(ctx: GpuContext, run: () => unknown, o: TimingOptions = {}): Promise<Timing> {
  return timeLoop(
    async () => {
      await ctx.scope(() => {
        run();
      });
    },
    () => ctx.sync(),
    o,
  );
}

/** Times a TensorFlow.js op: tensors made by `run` are disposed; one readback per batch. */
// deno-lint-ignore no-explicit-any
export function timeTfjs(tf: any, run: () => any, o: TimingOptions = {}): Promise<Timing> {
  // deno-lint-ignore no-explicit-any
  let last: any = null;
  return timeLoop(async () => {
    if (last) last.dispose();
    last = tf.tidy(() => {
      const r = run();
      return Array.isArray(r) ? r[0] : r;
    });
    await Promise.resolve();
  }, async () => {
    await last.data();
  }, o);
}
