// `deno task bench`: the kernel lab. Measures the adapter (FMA and copy probes), then times every
// op and pass at UNet-like shapes on our kernels and on TensorFlow.js's WebGPU backend (same
// adapter, same run, same input numbers), checks that both agree, and prints a table. Flags: CLI
// below (`deno task bench --help`).
import { defineCli, flag, type FlagValues } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkOutFile } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { type Case, convCases, matmulCases, type Side, type Tf } from "./cases.ts";
import { attentionCases, groupNormCases } from "./layers.ts";
import { copyProbe, fmaProbe } from "./probes.ts";
import { timeOurs, timeTfjs, type Timing } from "./timing.ts";
import { loadTfjs } from "./tfjs.ts";
import { formatTable, type Row } from "./table.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "bench",
  purpose: "the kernel lab: measures the adapter (FMA and copy probes), times every op and pass at " +
    "UNet-like shapes on our kernels and on TensorFlow.js's WebGPU backend (same adapter, same inputs), " +
    "checks that both agree, and prints a table.",
  flags: {
    json: flag.str(
      "also write the rows as JSON ({op, shape, pass, impl, ms, gflops, gbps, peak_fraction, " +
        "vs_tfjs}; null where a figure does not apply)",
      { arg: "FILE" },
    ),
    quick: flag.bool("tiny shapes, one run each (smoke test)"),
    "no-tfjs": flag.bool("skip TensorFlow.js"),
    only: flag.str("only the cases whose op contains WORD", { arg: "WORD" }),
  },
  examples: ["deno task bench --only matmul --json out/bench-matmul.json"],
});

/** The case list: the shapes, or tiny ones for --quick. */
export function benchCases(quick: boolean): Case[] {
  if (quick) {
    return [
      ...matmulCases(1, 64, 64, 64, "matmul"),
      ...matmulCases(4, 32, 8, 32, "matmul_batched"),
      ...convCases(2, 8, 8, 8, 8),
      ...groupNormCases(2, 8, 8, 8, 4),
      ...attentionCases(1, 2, 16, 16, 8),
      ...attentionCases(1, 2, 16, 7, 8),
    ];
  }
  return [
    ...matmulCases(1, 512, 512, 512, "matmul"),
    ...matmulCases(1, 1024, 1024, 1024, "matmul"),
    ...matmulCases(64, 256, 32, 256, "matmul_batched"),
    ...convCases(8, 64, 32, 32, 64),
    ...groupNormCases(8, 64, 32, 32, 32),
    ...attentionCases(2, 8, 256, 256, 40),
    ...attentionCases(2, 8, 256, 77, 40),
  ];
}

/** Largest |a - b| relative to the largest |b| (both sides hold the same inputs). */
function agreement(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return Number.isFinite(d) ? d / Math.max(m, 1e-30) : Infinity;
}

async function timeSide(side: Side | null, time: (run: () => unknown) => Promise<Timing>) {
  if (!side) return null;
  try {
    const t = await time(() => side.run());
    const out = await side.output();
    return { t, out };
  } finally {
    side.dispose();
  }
}

async function main(f: FlagValues<typeof CLI.flags>) {
  if (f.json) await checkOutFile(host, f.json, "--json", ["json"]);
  const flags = { json: f.json ?? null, quick: f.quick, tfjs: !f["no-tfjs"], only: f.only ?? null };
  const ctx = await GpuContext.create(host);
  const load = Deno.loadavg?.() ?? [];
  console.log(`adapter: ${ctx.label}`);
  console.log(
    `load average at start: ${load.map((x) => x.toFixed(2)).join(" ")} (other processes stretch wall time)`,
  );
  const rows: Row[] = [];
  const fma = await fmaProbe(ctx, flags.quick);
  const copy = await copyProbe(ctx, flags.quick);
  const byCpu = ctx.isSoftware;
  const fmaWork = fma.gflops * fma.ms * 1e6, copyWork = copy.gbps * copy.ms * 1e6; // FLOPs, bytes per run
  rows.push(
    row("probe_fma", fma.shape, "forward", "ours", fma.ms, fma.gflops, null, 1, null, fma.cpuMs),
    row("probe_copy", copy.shape, "forward", "ours", copy.ms, null, copy.gbps, 1, null, copy.cpuMs),
  );

  let tf: Tf | null = null, tfError: string | null = flags.tfjs ? null : "skipped (--no-tfjs)";
  if (flags.tfjs) {
    const r = await loadTfjs();
    if ("tf" in r) tf = r.tf;
    else tfError = `TensorFlow.js WebGPU backend unavailable: ${r.error}`;
  }
  if (tfError) console.log(tfError);

  const checks: string[] = [];
  for (const c of benchCases(flags.quick)) {
    if (flags.only && !c.op.includes(flags.only)) continue;
    const ours = await timeSide(c.ours(ctx), (run) => timeOurs(ctx, run, { quick: flags.quick }));
    let theirs = null, caseError = tfError;
    if (tf) {
      try {
        theirs = await timeSide(c.tfjs(tf), (run) => timeTfjs(tf, run, { quick: flags.quick }));
      } catch (e) {
        caseError = `TensorFlow.js failed on this case: ${e instanceof Error ? e.message : e}`;
        console.log(caseError);
      }
    }
    // Peak fraction: the op's rate over the probe's. On the software adapter both are taken in
    // process CPU time, which other processes on the machine do not stretch (wall time they do,
    // unevenly between a short probe and a long op); on a GPU, in wall time.
    const peakOf = (t: Timing) => {
      const probe = c.bound === "compute" ? fma : copy;
      return byCpu
        ? probe.cpuMs / t.cpuMs * (c.bound === "compute" ? c.flops! / fmaWork : c.bytes / copyWork)
        : probe.ms / t.ms * (c.bound === "compute" ? c.flops! / fmaWork : c.bytes / copyWork);
    };
    const mk = (impl: "ours" | "tfjs", t: Timing, vs: number | null) =>
      row(
        c.op,
        c.shape,
        c.pass,
        impl,
        t.ms,
        c.flops === null ? null : c.flops / t.ms / 1e6,
        c.bytes / t.ms / 1e6,
        peakOf(t),
        vs,
        t.cpuMs,
      );
    if (ours) rows.push(mk("ours", ours.t, theirs ? theirs.t.ms / ours.t.ms : null));
    if (theirs) rows.push(mk("tfjs", theirs.t, null));
    else {rows.push({
        ...row(c.op, c.shape, c.pass, "tfjs", null, null, null, null, null),
        error: caseError!,
      });}
    if (ours && theirs) {
      const err = agreement(ours.out, theirs.out);
      checks.push(`${c.op} ${c.pass} [${c.shape}]: max |ours - tfjs| / max |tfjs| = ${err.toExponential(2)}`);
      if (!(err < 1e-3)) checks.push(`  ^ DISAGREE`);
    }
    console.log(formatTable(rows.slice(-2), false));
  }
  console.log("\n" + formatTable(rows, true));
  console.log(`\nFMA probe ${fma.gflops.toFixed(1)} GFLOP/s, copy probe ${copy.gbps.toFixed(1)} GB/s;`);
  console.log(
    `peak = rate / FMA probe (compute-bound ops) or / copy probe (group norm), in ${
      byCpu ? "process CPU time (software adapter)" : "wall time"
    };`,
  );
  if (byCpu) {
    console.log(
      `FMA probe in CPU time: ${(fmaWork / fma.cpuMs / 1e6).toFixed(1)} GFLOP/s of CPU, i.e. ${
        (fmaWork / (fma.cpuMs / 2) / 1e6).toFixed(1)
      } GFLOP/s on 2 busy cores`,
    );
  }
  console.log(
    "vs tfjs = TensorFlow.js ms / our ms; medians of wall time per run; cpu = process CPU ms per run.",
  );
  console.log(
    "\nAgreement with TensorFlow.js (same inputs):\n" +
      (checks.length ? checks.join("\n") : "  (not checked)"),
  );
  if (flags.json) {
    await Deno.writeTextFile(
      flags.json,
      JSON.stringify(rows.map(({ cpu_ms: _, ...r }) => r), null, 1) + "\n",
    );
    console.log(`\nwrote ${rows.length} rows to ${flags.json}`);
  }
  ctx.destroy();
}

function row(
  op: string,
  shape: string,
  pass: string,
  impl: "ours" | "tfjs",
  ms: number | null,
  gflops: number | null,
  gbps: number | null,
  peak: number | null,
  vs: number | null,
  cpuMs: number | null = null,
): Row {
  return { op, shape, pass, impl, ms, gflops, gbps, peak_fraction: peak, vs_tfjs: vs, cpu_ms: cpuMs };
}

if (import.meta.main) await runTask(host, CLI, ({ flags }) => main(flags));
