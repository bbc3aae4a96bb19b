// The compare experiment on clips at a tiny size: a train config with data.frames > 0 makes compare
// train sft and seppo on clips from an image base (lifted), score the base once and every run with
// eval-t2v on the same prompts and seeds, and write a report with the video columns; a rerun reuses
// every finished run.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { compare, COMPARE_DEFAULTS, type CompareConfig } from "../../lib/train/compare.ts";
import { gpu, host } from "../_helpers.ts";

const FRAMES = 2;

Deno.test("compare on clips: base once, sft and seppo trained and scored by eval-t2v, video report; rerun reuses", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-compare-video-" });
  try {
    const clips = { ...DEFAULTS, world: "moving-shapes" as const, size: 16, frames: FRAMES, progress: false };
    await generate(host, { ...clips, split: "prefs", count: 4, pairs: true, out: `${dir}/prefs` });
    await generate(host, { ...clips, split: "eval", count: 2, seed: 5, out: `${dir}/eval` });
    const m = TextToImage.create(ctx, {
      unet: {
        block_out_channels: [8, 16],
        norm_num_groups: 4,
        cross_attention_dim: 16,
        attention_head_dim: 2,
        down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
        up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"],
      },
      text: { num_hidden_layers: 1, num_attention_heads: 2 },
    });
    await m.save(`${dir}/base`);
    m.dispose();
    await Deno.writeTextFile(
      `${dir}/train.yaml`,
      [
        `data: { prefs: ${dir}/prefs, size: 16, frames: ${FRAMES} }`,
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
      variants: ["sft", "seppo"],
      seeds: [0],
      train: { steps: 1, batch: 2, ref_steps: 2 },
      eval: { prompts: `${dir}/eval/prompts.jsonl`, seeds: 1, steps: 1, guidance: 2, batch: 4 },
      out: `${dir}/compare`,
    };
    const lines: string[] = [];
    const results = await compare(ctx, c, (s) => lines.push(s));
    assert.deepEqual(results.map((r) => r.variant), ["sft", "seppo"]);
    for (const r of results) {
      assert.equal(r.scores.length, 2, `${r.variant}: one clip per prompt and seed`);
      assert.ok(r.scores.every((x) => x >= 0 && x <= 1), `${r.variant}: scores ${r.scores}`);
      assert.deepEqual(Object.keys(r.perAttr), [
        "frame",
        "motion",
        "consistency",
        "flicker",
        "smoothness",
        "dynamic",
        "psnr",
        "ssim",
      ]);
      const summary = JSON.parse(
        await Deno.readTextFile(`${dir}/compare/runs/${r.variant}-s0/eval-t2v/summary.json`),
      );
      assert.equal(summary.model.frames, FRAMES, `${r.variant}: eval-t2v sampled clips of ${FRAMES} frames`);
      await Deno.stat(`${dir}/compare/report/${r.variant}.png`);
    }
    const base = JSON.parse(await Deno.readTextFile(`${dir}/compare/base-eval.json`));
    assert.equal(base.scores.length, 2);
    await Deno.stat(`${dir}/compare/report/base.png`);
    const report = await Deno.readTextFile(`${dir}/compare/report/report.md`);
    assert.match(report, /moving-shapes world \(clips of 2 frames\)/);
    assert.match(report, /\| consistency \|.*\| psnr \|.*\| train time \/ run \| eval time \/ run \|/);
    // Sample GIFs: the first clip of the base and of each variant, copied beside the report and named.
    for (const name of ["base", "sft", "seppo"]) {
      assert.ok((await Deno.stat(`${dir}/compare/report/clips/${name}-0.gif`)).size > 0);
      assert.match(report, new RegExp(`\\(clips/${name}-0\\.gif\\)`));
    }
    // train.ref_steps overrides the train config's ref.steps (1), and the report says what ran.
    assert.match(report, /beta \d+, lr 0\.001, reference sampler 2 DDIM steps at guidance 2/);
    assert.equal(lines.filter((l) => l.includes("evaluating the base")).length, 1);

    // Result files from before a column (psnr) or the eval time was recorded: the rerun fills them from
    // the runs' eval-t2v summaries instead of failing.
    const sftResult = `${dir}/compare/runs/sft-s0/result.json`;
    const old = JSON.parse(await Deno.readTextFile(sftResult));
    delete old.perAttr.psnr;
    await Deno.writeTextFile(sftResult, JSON.stringify(old));
    delete base.seconds;
    await Deno.writeTextFile(`${dir}/compare/base-eval.json`, JSON.stringify(base));
    const again: string[] = [];
    const rerun = await compare(ctx, c, (s) => again.push(s));
    assert.deepEqual(rerun[0].perAttr.psnr, results[0].perAttr.psnr);
    assert.equal(again.filter((l) => l.includes("done earlier")).length, 2, again.join("\n"));
    assert.ok(!again.some((l) => l.includes("evaluating the base")), "the base is evaluated once");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
