// The preference trainer end to end at a tiny size: every method runs and logs what SEPPO.md asks,
// checkpoints carry the pool, a resumed run equals an uninterrupted one exactly, the method presets
// refuse contradictory ablations, and compare's variants parse.
import assert from "node:assert/strict";
import sharp from "sharp";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { parseVariant } from "../../lib/train/compare.ts";
import { resolveMethod, train, TRAIN_DEFAULTS, type TrainConfig } from "../../lib/train/seppo.ts";
import { parseCli } from "../../lib/cli/flags.ts";
import { CLI as TRAIN_CLI } from "../../tasks/train.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";

async function fixture() {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-train-" });
  await generate(host, {
    ...DEFAULTS,
    world: "shapes",
    split: "prefs",
    count: 8,
    size: 16,
    pairs: true,
    out: `${dir}/prefs`,
    progress: false,
  });
  await saveTinyBase(ctx, `${dir}/base`);
  const config = (method: string, out: string, steps: number): TrainConfig => ({
    ...structuredClone(TRAIN_DEFAULTS),
    base: `${dir}/base`,
    data: { prefs: `${dir}/prefs`, size: 16 },
    method,
    ref: { strategy: "uniform", steps: 1, guidance: 2, eta: 0 },
    pool: { size: 3, interval: 1, gpu_budget_mb: 64 },
    train: { ...TRAIN_DEFAULTS.train, steps, batch: 2, warmup: 0, lr: 1e-3 },
    log: { ...TRAIN_DEFAULTS.log, every: 1, ckpt_every: 1 },
    out: `${dir}/${out}`,
  });
  return { ctx, dir, config };
}

Deno.test("train: every method runs, logs SEPPO.md's quantities, checkpoints the pool; resume is exact", async () => {
  const { ctx, dir, config } = await fixture();
  try {
    for (const method of ["sft", "dpo", "spin", "seppo"]) {
      const r = await train(ctx, config(method, method, 1), { quiet: true, log: () => {} });
      const s = r.last!;
      for (
        const k of [
          "loss",
          "implicit_acc",
          "flip_rate",
          "e_theta_w",
          "e_ref_w",
          "e_theta_l",
          "e_ref_l",
          "ref_entry",
        ]
      ) {
        assert.ok(
          Number.isFinite((s as unknown as Record<string, number>)[k]),
          `${method}: ${k} = ${(s as unknown as Record<string, number>)[k]}`,
        );
      }
      if (method === "sft") assert.equal(s.ref_entry, -1);
      if (method === "dpo") assert.equal(s.ref_entry, 0, "dpo always uses theta_0");
      if (method === "spin") {
        assert.equal(s.ref_update, 0, "spin at update 0 uses the only snapshot, theta_0");
      }
      const rows = (await Deno.readTextFile(`${dir}/${method}/metrics.jsonl`)).trim().split("\n");
      assert.equal(rows.length, 1);
    }
    const pool = JSON.parse(await Deno.readTextFile(`${dir}/seppo/checkpoint-1/pool/pool.json`));
    assert.deepEqual(pool.entries.map((e: { update: number }) => e.update), [0, 1]);

    // Resume: 3 updates straight vs 1 (checkpoint) + resume to 3: identical weights and logs. The
    // pool (interval 1) then holds snapshots 0..3 and reference choices depend on it.
    await train(ctx, config("seppo", "straight", 3), { quiet: true, log: () => {} });
    await train(ctx, config("seppo", "resumed", 1), { quiet: true, log: () => {} });
    await train(ctx, config("seppo", "resumed", 3), { resume: true, quiet: true, log: () => {} });
    const w = async (run: string) =>
      (await readSafetensors(host, `${dir}/${run}/checkpoint-3/unet/diffusion_pytorch_model.safetensors`))
        .tensors;
    const a = await w("straight"), b = await w("resumed");
    for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, `resumed ${name} differs`);
    const ma = await Deno.readTextFile(`${dir}/straight/metrics.jsonl`);
    const mb = await Deno.readTextFile(`${dir}/resumed/metrics.jsonl`);
    const strip = (t: string) =>
      t.trim().split("\n").map((l) => {
        const o = JSON.parse(l);
        return [o.step, o.loss, o.ref_entry];
      });
    assert.deepEqual(strip(mb), strip(ma), "the resumed run logs the same steps and losses");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("method presets: fixed settings win, contradictions are refused; compare variants parse", () => {
  const c = structuredClone(TRAIN_DEFAULTS);
  c.method = "sft";
  assert.equal(resolveMethod(c).aaf, "off", "sft has no loser slot, so no AAF (its start line said sign)");
  c.method = "spin";
  assert.deepEqual(resolveMethod(c), { method: "spin", strategy: "latest", aaf: "off", loser: "ref" });
  c.ref.strategy = "uniform";
  assert.throws(() => resolveMethod(c, new Set(["ref.strategy"])), /method spin fixes ref.strategy = latest/);
  c.method = "seppo";
  c.aaf = "indicator";
  assert.deepEqual(resolveMethod(c), {
    method: "seppo",
    strategy: "uniform",
    aaf: "indicator",
    loser: "ref",
  });
  const v = parseVariant("seppo:ref=latest,aaf=off", TRAIN_DEFAULTS);
  assert.equal(v.config.ref.strategy, "latest");
  assert.equal(v.config.aaf, "off");
  assert.equal(v.slug, "seppo-ref-latest-aaf-off");
  assert.throws(() => parseVariant("dpo:aaf=sign", TRAIN_DEFAULTS), /method dpo fixes aaf = off/);
  const b = parseVariant("seppo:beta=500,lr=2e-5", TRAIN_DEFAULTS);
  assert.equal(b.config.beta, 500);
  assert.equal(b.config.train.lr, 2e-5);
  assert.equal(b.slug, "seppo-beta-500-lr-2e-5");
  assert.throws(() => parseVariant("seppo:beta=-3", TRAIN_DEFAULTS), /expected ref=.*got "beta=-3"/);
  assert.throws(() => parseVariant("seppo:gamma=3", TRAIN_DEFAULTS), /expected ref=/);
});

Deno.test("train CLI: --method on the seppo preset applies the method's preset; a contradicting flag is refused", () => {
  const parse = (...a: string[]) => {
    const p = parseCli(TRAIN_CLI, ["--config", "configs/seppo-shapes.yaml", ...a]);
    if (p === "help") throw new Error("unexpected --help");
    return p;
  };
  const dpo = parse("--method", "dpo");
  assert.deepEqual(resolveMethod(dpo.config, dpo.explicit), {
    method: "dpo",
    strategy: "initial",
    aaf: "off",
    loser: "data",
  });
  const bad = parse("--method", "spin", "--ref-strategy", "uniform");
  assert.throws(() => resolveMethod(bad.config, bad.explicit), /method spin fixes ref.strategy = latest/);
  const abl = parse("--aaf", "off", "--seed", "3");
  assert.deepEqual(resolveMethod(abl.config, abl.explicit), {
    method: "seppo",
    strategy: "uniform",
    aaf: "off",
    loser: "ref",
  });
  assert.equal(abl.config.train.seed, 3);
});

Deno.test("sft trains on a plain imagefolder (file_name + text rows and .txt sidecars, no world attributes)", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-plain-" });
  try {
    await Deno.mkdir(`${dir}/data/pics`, { recursive: true });
    const colours = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 30]];
    const rows: string[] = [];
    for (const [i, [r, g, b]] of colours.entries()) {
      await sharp({ create: { width: 24, height: 20, channels: 3, background: { r, g, b } } }).png()
        .toFile(`${dir}/data/pics/${i}.png`);
      // Two rows carry their caption, two leave it to a sidecar file beside the picture.
      if (i % 2) await Deno.writeTextFile(`${dir}/data/pics/${i}.txt`, "a small square on the left");
      rows.push(JSON.stringify({ file_name: `pics/${i}.png`, ...(i % 2 ? {} : { text: "a red circle" }) }));
    }
    await Deno.writeTextFile(`${dir}/data/metadata.jsonl`, rows.join("\n") + "\n");
    await saveTinyBase(ctx, `${dir}/base`);
    const c: TrainConfig = {
      ...structuredClone(TRAIN_DEFAULTS),
      base: `${dir}/base`,
      data: { prefs: `${dir}/data`, size: 16 },
      method: "sft",
      train: { ...TRAIN_DEFAULTS.train, steps: 3, batch: 2, warmup: 0, lr: 1e-3 },
      log: {
        ...TRAIN_DEFAULTS.log,
        every: 1,
        ckpt_every: 3,
        sample_every: 3,
        sample_steps: 2,
        sample_prompts: ["a red circle", "a blue square"],
      },
      out: `${dir}/run`,
    };
    const r = await train(ctx, c, { quiet: true, log: () => {} });
    assert.equal(r.checkpoint, `${dir}/run/checkpoint-3`);
    const losses = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l).loss
    );
    assert.equal(losses.length, 3);
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    // The validation prompts, in the grid and named beside it.
    assert.ok((await Deno.stat(`${dir}/run/samples/step-3.png`)).size > 0);
    assert.equal(
      await Deno.readTextFile(`${dir}/run/samples/step-3.txt`),
      "row 1, column 1: a red circle\nrow 1, column 2: a blue square\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
