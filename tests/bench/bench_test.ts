// Smoke test of the kernel lab: `bench/main.ts --quick` runs every case at tiny sizes on our
// kernels and TensorFlow.js, writes the JSON rows with the documented fields, and both sides agree.
import assert from "node:assert";

Deno.test("bench --quick runs every case and writes well-formed JSON rows", async () => {
  const json = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P", "bench/main.ts", "--quick", "--json", json],
      cwd: new URL("../..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert(!text.includes("DISAGREE"), text);
    const rows = JSON.parse(await Deno.readTextFile(json)) as Record<string, unknown>[];
    const keys = ["op", "shape", "pass", "impl", "ms", "gflops", "gbps", "peak_fraction", "vs_tfjs"];
    for (const r of rows) for (const k of keys) assert(k in r, `row ${JSON.stringify(r)} lacks ${k}`);
    const ops = new Set(rows.map((r) => r.op));
    for (
      const op of ["probe_fma", "probe_copy", "matmul", "matmul_batched", "conv2d", "group_norm", "attention"]
    ) {
      assert(ops.has(op), `no ${op} rows`);
    }
    const ours = rows.filter((r) => r.impl === "ours" && !String(r.op).startsWith("probe"));
    for (const r of ours) assert(typeof r.ms === "number" && r.ms > 0, `bad time in ${JSON.stringify(r)}`);
    // every ours row has a tfjs twin: timed, or carrying the reason it could not be
    for (const r of ours) {
      const twin = rows.find((t) =>
        t.impl === "tfjs" && t.op === r.op && t.shape === r.shape && t.pass === r.pass
      );
      assert(
        twin && (typeof twin.ms === "number" || typeof twin.error === "string"),
        `no tfjs row for ${r.op}`,
      );
    }
  } finally {
    await Deno.remove(json);
  }
});
