// Non-finite values: a diverging run (lr 1e6, NaN from update 2 as the issue saw) stops naming the
// update and the last good checkpoint and saves nothing after it; `nan_policy: skip` steps over bad
// updates, counts them and stops after nan_max_skips in a row; checkpoints holding NaN or inf are
// refused on load, naming file and tensor; an F16 run checks its starting weights' range up front.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { pretrain, PRETRAIN_DEFAULTS } from "../../lib/train/pretrain.ts";
import { readMetrics } from "../../lib/train/run.ts";
import { validateCheckpoint } from "../../lib/train/run_folder.ts";
import { train } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import { fixture, quiet, sftConfig, state } from "./_fixture.ts";

const names = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

Deno.test("lr 1e6: the run stops at the first non-finite update, names the last good checkpoint, keeps it", async () => {
  const f = await fixture(), ctx = await gpu();
  const out = join(f.dir, "diverge");
  // A good run, then a resume with a diverging lr, keeping one checkpoint (the issue's case: it used to
  // prune the good checkpoint and save an all-NaN one). Update 3 is finite (weights ~1e6, saved as
  // checkpoint-3), update 4 is NaN: nothing is saved for it, and checkpoint-2 (the last one known to
  // train on) is kept beside checkpoint-3 although the limit is 1.
  await train(ctx, sftConfig(f, out, 2, { checkpoints_total_limit: 1 }), quiet);
  const good = await state(join(out, "checkpoint-2"));
  await assert.rejects(
    train(ctx, sftConfig(f, out, 6, { lr: 1e6, checkpoints_total_limit: 1 }), {
      ...quiet,
      resume: true,
      allowConfigChange: true,
    }),
    (e: Error) => {
      assert.match(
        e.message,
        /^update 4: non-finite (loss|gradient norm|loss and gradient norm); stopped without saving/,
      );
      assert.ok(
        e.message.includes(
          `The last good checkpoint is ${join(out, "checkpoint-3")} (continue from it with --resume); ` +
            `the one before it, ${join(out, "checkpoint-2")}, is kept too`,
        ),
        e.message,
      );
      return true;
    },
  );
  assert.deepEqual((await names(out)).filter((n) => n.startsWith("checkpoint")), [
    "checkpoint-2",
    "checkpoint-3",
  ]);
  assert.deepEqual(await state(join(out, "checkpoint-2")), good, "the good checkpoint is untouched");
  await validateCheckpoint(host, join(out, "checkpoint-3"), "train_config.yaml");
  assert.equal((await Deno.readTextFile(join(out, "latest"))).trim(), "checkpoint-3");
  // Update 3 was finite (and logged); 4 was not: no row for it.
  assert.deepEqual((await readMetrics(host, join(out, "metrics.jsonl"))).map((r) => r.step), [1, 2, 3]);
});

Deno.test("nan_policy skip: non-finite updates leave the weights alone, are counted, and N in a row stop", async () => {
  const f = await fixture(), ctx = await gpu();
  const out = join(f.dir, "skip");
  const said: string[] = [];
  await assert.rejects(
    train(ctx, sftConfig(f, out, 8, { lr: 1e6, nan_policy: "skip", nan_max_skips: 3 }), {
      quiet: true,
      log: (s) => said.push(s),
    }),
    /updates 2-4: 3 non-finite updates in a row \(train.nan_max_skips 3\); stopped without saving\. The last good checkpoint is .*checkpoint-3/,
  );
  assert.ok(
    said.some((s) => /^update 2: non-finite .*update skipped .*1 skipped so far/.test(s)),
    said.join("\n"),
  );
  const rows = await readMetrics(host, join(out, "metrics.jsonl"));
  assert.deepEqual(rows.map((r) => [r.step, r.nan_skips]), [[1, 0], [2, 1], [3, 1]]);
  // Checkpoints 2 and 3 come after skipped updates: they hold update 1's (finite) weights exactly.
  const s1 = await state(join(out, "checkpoint-1"));
  for (const k of [2, 3]) {
    const s = await state(join(out, `checkpoint-${k}`));
    for (const [name, d] of s1) if (name.startsWith("param.")) assert.deepEqual(s.get(name), d, name);
    await validateCheckpoint(host, join(out, `checkpoint-${k}`), "train_config.yaml");
  }
  assert.ok(!(await names(out)).includes("checkpoint-4"));
});

Deno.test("a checkpoint holding NaN or inf is refused on load, naming file and tensor; allowNonFinite loads it", async () => {
  const f = await fixture(), ctx = await gpu();
  const bad = join(f.dir, "nan-base");
  await Deno.mkdir(bad);
  for await (const e of Deno.readDir(f.base)) {
    await new Deno.Command("cp", { args: ["-r", join(f.base, e.name), bad] }).output();
  }
  const file = join(bad, "unet", "diffusion_pytorch_model.safetensors");
  const { tensors, metadata } = await readSafetensors(host, file);
  const name = "conv_in.weight";
  tensors.get(name)!.data[5] = NaN;
  await writeSafetensors(host, file, [...tensors.values()], { metadata });
  const refused = new RegExp(
    `${file}: tensor "${name}": 1 non-finite value\\(s\\) of \\d+, the first NaN at index 5`,
  );
  await assert.rejects(TextToImage.load(ctx, bad), refused);
  // Training from it is refused the same way, before anything is written.
  const out = join(f.dir, "from-nan");
  const c = sftConfig(f, out, 1);
  c.base = bad;
  await assert.rejects(train(ctx, c, quiet), refused);
  assert.ok(!(await Deno.stat(out).then(() => true, () => false)), "no run folder was made");
  const m = await TextToImage.load(ctx, bad, { allowNonFinite: true });
  assert.ok(Number.isNaN((await m.unet.parameters().get(name)!.read())[5]));
  m.dispose();
});

Deno.test("save.dtype F16: weights outside F16's range are found when the run starts, not at the first save", async () => {
  const f = await fixture(), ctx = await gpu();
  const big = join(f.dir, "big-base");
  const m = await TextToImage.load(ctx, f.base);
  const w = m.unet.parameters().get("conv_in.bias")!;
  const d = await w.read();
  d[0] = 1e5;
  ctx.write(w.buffer, d);
  await m.save(big);
  m.dispose();
  const out = join(f.dir, "f16");
  const c = sftConfig(f, out, 2);
  c.base = big;
  c.save.dtype = "F16";
  await assert.rejects(
    train(ctx, c, quiet),
    /save.dtype F16: .*big-base tensor "conv_in.bias" holds 100000 at index 0, outside F16's range \(max 65504\); every save would fail\. Use save.dtype F32/,
  );
  assert.deepEqual(await readMetrics(host, join(out, "metrics.jsonl")), [], "no update ran");
});

Deno.test("pretrain has the same guard: lr 1e6 stops at the first non-finite update without saving it", async () => {
  const f = await fixture(), ctx = await gpu();
  const data = join(f.dir, "pretrain-data");
  await generate(host, {
    ...DEFAULTS,
    world: "shapes",
    split: "pretrain",
    count: 4,
    size: 16,
    out: data,
    progress: false,
  });
  const c = structuredClone(PRETRAIN_DEFAULTS);
  c.data.dir = data;
  Object.assign(c.model, {
    block_out_channels: [8, 16],
    norm_num_groups: 4,
    cross_attention_dim: 16,
    attention_head_dim: 2,
    text_layers: 1,
    text_heads: 2,
  });
  Object.assign(c.train, { steps: 6, batch: 2, warmup: 0, lr: 1e6, checkpoints_total_limit: 0 });
  Object.assign(c.log, { every: 1, sample_every: 0, ckpt_every: 1 });
  c.out = join(f.dir, "pretrain-diverge");
  await assert.rejects(
    pretrain(ctx, c, { log: () => {} }),
    /update 2: non-finite .*stopped without saving .*The last good checkpoint is .*pretrain-diverge\/checkpoint-1 /,
  );
  assert.deepEqual((await names(c.out)).filter((n) => n.startsWith("checkpoint")), ["checkpoint-1"]);
  await validateCheckpoint(host, join(c.out, "checkpoint-1"), "pretrain_config.yaml");
});
