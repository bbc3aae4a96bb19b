// The demo end to end at a tiny size: a SePPO fine-tune of a tiny base on taste winners, the paired
// taste evaluation against the base, summary.json with the fields the README promises, the report
// with its verdict, labelled pairs, curves and AAF diagnostics, and the effective config.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { runDemo } from "../../lib/train/demo.ts";
import { TRAIN_DEFAULTS, type TrainConfig } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";

Deno.test("demo: fine-tune, paired taste eval, summary.json and a report that leads with the verdict", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-demo-" });
  try {
    const gen = { ...DEFAULTS, world: "taste" as const, size: 16, progress: false };
    await generate(host, { ...gen, split: "prefs", count: 8, seed: 2, pairs: true, out: `${dir}/prefs` });
    await generate(host, { ...gen, split: "eval", count: 4, seed: 3, out: `${dir}/eval` });
    await saveTinyBase(ctx, `${dir}/base`);
    const config: TrainConfig = {
      ...structuredClone(TRAIN_DEFAULTS),
      base: `${dir}/base`,
      data: { prefs: `${dir}/prefs`, size: 16 },
      ref: { strategy: "uniform", steps: 1, guidance: 2, eta: 0 },
      pool: { size: 3, interval: 1, gpu_budget_mb: 64 },
      train: { ...TRAIN_DEFAULTS.train, batch: 2, warmup: 0 },
      log: { ...TRAIN_DEFAULTS.log, every: 1 },
    };
    const s = await runDemo(ctx, {
      config,
      configPath: "(test)",
      steps: 2,
      out: `${dir}/demo`,
      evalPrompts: 3,
      evalSeeds: 2,
      evalSteps: 2,
      evalBatch: 8,
      adapter: ctx.label,
      evalDir: `${dir}/eval`,
      progress: false,
      log: () => {},
    });
    const disk = JSON.parse(await Deno.readTextFile(`${dir}/demo/summary.json`));
    assert.deepEqual(disk, s);
    for (const k of ["taste", "guard"] as const) {
      const x = s[k];
      for (const v of [x.base, x.seppo, x.diff, ...x.ci]) {
        assert.ok(Number.isFinite(v), `${k}: ${JSON.stringify(x)}`);
      }
      assert.ok(Math.abs(x.diff - (x.seppo - x.base)) < 1e-9, `${k}: diff is seppo - base`);
      assert.ok(x.ci[0] <= x.diff + 1e-12 && x.diff <= x.ci[1] + 1e-12, `${k}: ci ${x.ci} around ${x.diff}`);
    }
    assert.ok(s.seconds > 0 && s.samples === 6 && s.prompts === 3 && s.seeds === 2 && s.updates === 2);
    const md = await Deno.readTextFile(`${dir}/demo/report.md`);
    const html = await Deno.readTextFile(`${dir}/demo/report.html`);
    assert.match(md.split("\n").slice(0, 6).join("\n"), /> \*\*Against the base on 6 samples/);
    assert.match(html, /class="verdict"/);
    assert.equal((html.match(/<figure class="pair">/g) ?? []).length, 3, "one labelled pair per prompt");
    const aaf = (await Deno.readTextFile(`${dir}/demo/seppo/aaf.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(aaf.length, 2);
    assert.equal(aaf[0].s.length, 2);
    assert.equal(aaf[0].quality.length, 2);
    assert.match(md, /AAF diagnostics/);
    assert.match(await Deno.readTextFile(`${dir}/demo/config.yaml`), /method: seppo/);
    for (const f of ["000-base.png", "000-model.png", "002-model.png"]) {
      await Deno.stat(`${dir}/demo/eval/pairs/${f}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
