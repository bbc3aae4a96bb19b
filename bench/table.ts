// Bench rows and their text table.

export interface Row {
  op: string;
  shape: string;
  pass: string;
  impl: "ours" | "tfjs";
  ms: number | null;
  gflops: number | null;
  gbps: number | null;
  peak_fraction: number | null;
  vs_tfjs: number | null;
  /** Process CPU ms per run (table only; not in the JSON). */
  cpu_ms?: number | null;
  /** Why a row has no figures (TensorFlow.js did not load). */
  error?: string;
}

const fmt = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? "-" : x.toFixed(d));

export function formatTable(rows: Row[], header: boolean): string {
  const cols = ["op", "shape", "pass", "impl", "ms", "cpu ms", "GFLOP/s", "GB/s", "peak", "vs tfjs"];
  const cells = rows.map((r) => [
    r.op,
    r.shape,
    r.pass,
    r.impl,
    fmt(r.ms, 2),
    fmt(r.cpu_ms, 1),
    fmt(r.gflops, 2),
    fmt(r.gbps, 2),
    r.peak_fraction === null ? "-" : `${(100 * r.peak_fraction).toFixed(1)}%`,
    r.vs_tfjs === null ? "-" : `${r.vs_tfjs.toFixed(1)}x`,
  ]);
  const all = header ? [cols, ...cells] : cells;
  const w = cols.map((_, k) => Math.max(...all.map((c) => c[k].length), header ? 0 : 8));
  const line = (c: string[]) => c.map((s, k) => (k < 4 ? s.padEnd(w[k]) : s.padStart(w[k]))).join("  ");
  const out = all.map(line);
  if (header) out.splice(1, 0, w.map((n) => "-".repeat(n)).join("  "));
  return out.join("\n");
}
