// The compare experiment on the taste world at a tiny size: the base scored once, every variant trained
// (the equal-wall-clock sft after the seppo run whose time it takes) and scored for taste/guard/headline,
// reference samples judged (aaf.jsonl), and a report that answers each pre-stated claim with a paired
// interval and a Holm verdict; the claim statistics agree with lib/eval/paired.ts by hand.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { diffBootstrap, holm } from "../../lib/eval/paired.ts";
import { compare, COMPARE_DEFAULTS, type CompareConfig } from "../../lib/train/compare.ts";
import { evaluateClaims, guardByAttribute } from "../../lib/train/compare_taste.ts";
import { Rng } from "../../lib/util/rng.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";

Deno.test("compare on the taste world: claims with paired intervals, AAF diagnostics, equal-wall-clock sft", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-compare-taste-" });
  try {
    const taste = { ...DEFAULTS, world: "taste" as const, size: 16, progress: false };
    await generate(host, { ...taste, split: "prefs", count: 4, pairs: true, out: `${dir}/prefs` });
    await generate(host, { ...taste, split: "eval", count: 2, seed: 5, out: `${dir}/eval` });
    await saveTinyBase(ctx, `${dir}/base`);
    await Deno.writeTextFile(
      `${dir}/train.yaml`,
      [
        `data: { prefs: ${dir}/prefs, size: 16 }`,
        "ref: { strategy: uniform, steps: 1, guidance: 2, eta: 0 }",
        "pool: { size: 3, interval: 1, gpu_budget_mb: 64 }",
        "train: { warmup: 0, lr: 1.0e-3 }",
        "log: { every: 1 }",
      ].join("\n") + "\n",
    );
    const c: CompareConfig = {
      ...structuredClone(COMPARE_DEFAULTS),
      train_config: `${dir}/train.yaml`,
      base: `${dir}/base`,
      variants: ["sft", "seppo", "sft:time=seppo"],
      seeds: [0],
      train: { steps: 2, batch: 2, ref_steps: 1 },
      eval: { prompts: `${dir}/eval/prompts.jsonl`, seeds: 2, steps: 1, guidance: 2, batch: 4 },
      out: `${dir}/compare`,
    };
    const results = await compare(ctx, c, () => {});
    assert.deepEqual(results.map((r) => r.variant), ["sft", "seppo", "sft:time=seppo"]);
    for (const r of results) {
      assert.equal(r.scores.length, 4, `${r.variant}: 2 prompts x 2 seeds`);
      assert.deepEqual(r.scores, r.perAttr.headline, "the score is the headline");
      for (const k of ["taste", "taste_rate", "guard"]) assert.equal(r.perAttr[k].length, 4);
    }
    const sft = results[0], seppo = results[1], timed = results[2];
    assert.equal(timed.steps, Math.max(1, Math.round(seppo.trainSeconds * sft.updatesPerSecond)));
    const aaf = (await Deno.readTextFile(`${c.out}/runs/seppo-s0/aaf.jsonl`)).trim().split("\n");
    assert.equal(aaf.length, 2, "one AAF row per seppo update");
    const md = await Deno.readTextFile(`${c.out}/report/report.md`);
    assert.match(md, /## The paper's claims, answered/);
    assert.match(md, /SFT > base: (holds|is contradicted|is inconclusive at this power) \(sft - base = /);
    assert.match(md, /Not evaluated \(variant missing\): SePPO > SPIN-Diffusion/);
    assert.match(md, /SePPO > SFT given SePPO's wall time/);
    // The report's claim statistics are lib/eval/paired.ts on the stored per-sample columns.
    const base = JSON.parse(await Deno.readTextFile(`${c.out}/base-eval.json`));
    const [claim] = evaluateClaims(
      [{ a: "sft", b: "base", kind: ">", text: "x" }],
      "headline",
      results,
      base,
      2,
      true,
    );
    const want = diffBootstrap(
      [sft.perAttr.headline],
      [base.perAttr.headline],
      [0, 0, 1, 1],
      new Rng(7).fork(0),
      {
        iters: 4000,
      },
    );
    assert.equal(claim.d.diff, want.diff);
    assert.equal(claim.d.lo, want.lo);
    assert.equal(claim.padj, holm([want.p])[0]);
    // A rerun reuses every finished run.
    const again = await compare(ctx, c, () => {});
    assert.deepEqual(again.map((r) => r.scores), results.map((r) => r.scores));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("guard by attribute: a method that only moves samples to the preferred look loses shape overall, not where the base has the look", () => {
  // 8 prompts x 2 seeds; the base has the look on even samples, where it scores shape 0.5 (0.7 elsewhere).
  const n = 16;
  const taste = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : 0));
  const col = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  const attrs = (shape: (i: number) => number, t: (i: number) => number) => ({
    taste_rate: col(t),
    background: col(() => 1),
    color: col(() => 1),
    shape: col(shape),
  });
  const base = { scores: col(() => 0), perAttr: attrs((i) => (taste[i] ? 0.5 : 0.7), (i) => taste[i]) };
  const run = (seed: number) => ({
    variant: "moved",
    seed,
    scores: col(() => 0),
    perAttr: attrs(() => 0.5, () => 1),
    updatesPerSecond: 1,
    trainSeconds: 1,
    evalSeconds: 1,
  });
  const [text, table] = guardByAttribute([{ name: "moved" }, { name: "absent" }], [run(0), run(1)], base, 2);
  assert.equal(text.kind, "text");
  assert.ok(table.kind === "table");
  assert.equal(table.rows.length, 1); // "absent" has no runs
  const [name, bg, color, shape, within] = table.rows[0] as string[];
  assert.equal(name, "moved");
  assert.match(bg, /^\+0\.000 /);
  assert.match(color, /^\+0\.000 /);
  assert.match(shape, /^-0\.100 \[-0\.100, -0\.100\]$/); // every prompt: (0 + -0.2) / 2
  assert.match(within, /^\+0\.000 \[0\.000, 0\.000\]$/);
  assert.ok(table.header[4].includes("(8)"));
});
