// Adapter probes (kernels/probe.wgsl): FMA-bound GFLOP/s and copy GB/s, the yardsticks for the
// bench's peak fractions.
import { groups1d } from "../lib/gpu/context.ts";
import { KernelFile } from "../lib/gpu/kernel.ts";
import { empty } from "../lib/tensor/tensor.ts";
import type { GpuContext } from "../lib/ops/util.ts";
import { timeOurs } from "./timing.ts";

const kernel = new KernelFile("probe.wgsl");
const WG = 64;

export interface ProbeResult {
  ms: number;
  /** Process CPU ms per run (the software adapter's threads). */
  cpuMs: number;
  gflops: number;
  gbps: number;
  shape: string;
}

/** FMA-bound loop: `threads` invocations x `iters` iterations x 64 FLOPs. */
export async function fmaProbe(ctx: GpuContext, quick: boolean): Promise<ProbeResult> {
  const threads = quick ? 1024 : 16384, iters = quick ? 256 : 16384; // ~0.2 s on llvmpipe
  const out = empty(ctx, [threads * 4]);
  const t = await timeOurs(ctx, () => {
    ctx.run(kernel, "fma_probe", {
      buffers: [null, out],
      params: [iters, 0],
      groups: [threads / WG, 1, 1],
      overrides: { WG },
    });
  }, { quick });
  out.dispose();
  const flops = threads * iters * 64;
  return {
    ms: t.ms,
    cpuMs: t.cpuMs,
    gflops: flops / t.ms / 1e6,
    gbps: 0,
    shape: `${threads} x ${iters} x 64 FLOP`,
  };
}

/** Device-to-device vec4 copy of `floats` floats (bytes read + written). */
export async function copyProbe(ctx: GpuContext, quick: boolean): Promise<ProbeResult> {
  const floats = quick ? 1 << 16 : 1 << 23;
  const src = empty(ctx, [floats]), dst = empty(ctx, [floats]);
  const n4 = floats / 4;
  const t = await timeOurs(ctx, () => {
    ctx.run(kernel, "copy_probe", {
      buffers: [src, dst],
      params: [0, n4],
      groups: groups1d(Math.ceil(n4 / WG)),
      overrides: { WG },
    });
  }, { quick });
  src.dispose();
  dst.dispose();
  return {
    ms: t.ms,
    cpuMs: t.cpuMs,
    gflops: 0,
    gbps: (8 * floats) / t.ms / 1e6,
    shape: `${floats * 4 / 2 ** 20} MiB`,
  };
}
