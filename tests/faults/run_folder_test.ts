// Run folders: a rerun without --resume refuses (and --overwrite moves the old run aside); --resume
// refuses a config change that alters the run unless allowed (then recorded); a partial metrics line
// is dropped with file and line; a damaged newest checkpoint is skipped for the previous one; resume
// from a path sets the newer ones aside; `latest` lets sample/eval take the run folder; the retention
// limit. Cases start from copies of one uninterrupted run and end with its weights.
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveCheckpoint } from "../../lib/io/checkpoint.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { parseCli } from "../../lib/cli/flags.ts";
import { readMetrics } from "../../lib/train/run.ts";
import { train } from "../../lib/train/seppo.ts";
import { CLI as TRAIN_CLI } from "../../tasks/train.ts";
import { gpu, host } from "../_helpers.ts";
import { copyRun, fixture, quiet, sftConfig, state, straight } from "./_fixture.ts";

const names = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
const checkpoints = async (dir: string) => (await names(dir)).filter((n) => /^checkpoint-\d+$/.test(n));
const steps = async (out: string) => (await readMetrics(host, join(out, "metrics.jsonl"))).map((r) => r.step);

Deno.test("a rerun without --resume refuses a folder that holds a run; --overwrite moves it aside", async () => {
  const f = await fixture(), ctx = await gpu();
  const out = join(f.dir, "rerun");
  await copyRun(await straight(), out);
  const before = await Deno.readTextFile(join(out, "metrics.jsonl"));
  await assert.rejects(
    train(ctx, sftConfig(f, out, 1), quiet),
    /rerun: holds a run already \(checkpoint-1, checkpoint-2, checkpoint-3, metrics.jsonl\); pass --resume to continue it, or --overwrite/,
  );
  assert.equal(await Deno.readTextFile(join(out, "metrics.jsonl")), before, "the old metrics are untouched");
  const said: string[] = [];
  await train(ctx, sftConfig(f, out, 1), { quiet: true, log: (s) => said.push(s), overwrite: true });
  const aside = (await names(f.dir)).filter((n) => n.startsWith("rerun.old-"));
  assert.equal(aside.length, 1);
  assert.ok(
    said.some((s) => s.includes(`moved the previous run to ${join(f.dir, aside[0])}`)),
    said.join("\n"),
  );
  assert.equal(await Deno.readTextFile(join(f.dir, aside[0], "metrics.jsonl")), before, "nothing deleted");
  assert.deepEqual(await checkpoints(join(f.dir, aside[0])), [
    "checkpoint-1",
    "checkpoint-2",
    "checkpoint-3",
  ]);
  assert.deepEqual(await checkpoints(out), ["checkpoint-1"]);
  assert.deepEqual(await steps(out), [1]);
});

Deno.test("--resume refuses a config change that alters the run; --allow-config-change is recorded; longer steps are fine", async () => {
  const f = await fixture(), ctx = await gpu();
  const out = join(f.dir, "changed");
  await copyRun(await straight(), out);
  const changed = sftConfig(f, out, 4, { lr: 2e-3 });
  changed.method = "dpo";
  await assert.rejects(
    train(ctx, changed, { ...quiet, resume: true }),
    /changed: --resume with a config that changes the run: method "sft" -> "dpo", train.lr 0.001 -> 0.002\. Resume with the saved config \(.*checkpoint-3\/train_config.yaml\), pass --allow-config-change/,
  );
  await assert.rejects(
    train(ctx, sftConfig(f, out, 4, { batch: 1 }), { ...quiet, resume: true }),
    /train.batch 2 -> 1/,
  );
  assert.deepEqual(await steps(out), [1, 2, 3], "a refused resume changes nothing");
  // Lengthening (3 -> 4) and logging changes are not refused; a changed lr with the flag is recorded.
  const longer = sftConfig(f, out, 4);
  longer.log.sample_steps = 5;
  await train(ctx, longer, { ...quiet, resume: true });
  await train(ctx, sftConfig(f, out, 5, { lr: 2e-3 }), { ...quiet, resume: true, allowConfigChange: true });
  assert.deepEqual(await steps(out), [1, 2, 3, 4, 5]);
  const run = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
  assert.equal(run.task, "train");
  assert.deepEqual(run.events.map((e: { event: string; step: number }) => [e.event, e.step]), [
    ["start", 0],
    ["resume", 3],
    ["resume", 4],
  ]);
  assert.deepEqual(run.events[1].config_changes["train.steps"], [3, 4]);
  assert.equal(run.events[1].allowed_by, undefined);
  assert.deepEqual(run.events[2].config_changes["train.lr"], [0.001, 0.002]);
  assert.equal(run.events[2].allowed_by, "--allow-config-change");
  assert.match(await Deno.readTextFile(join(out, "config.yaml")), /lr: 0.002/);
});

Deno.test("a partial last metrics line is dropped with file and line; a damaged newest checkpoint is skipped", async () => {
  const f = await fixture(), ctx = await gpu();
  const ref = await straight(), out = join(f.dir, "damaged");
  await copyRun(ref, out);
  // What a full disk or a power loss leaves: the last row cut short, and a truncated trainer state.
  await Deno.writeTextFile(join(out, "metrics.jsonl"), '{"step": 4, "loss": 0.', { append: true });
  const ts = join(out, "checkpoint-3", "trainer_state.safetensors");
  await Deno.truncate(ts, 1000);
  const said: string[] = [];
  const r = await train(ctx, sftConfig(f, out, 3), { quiet: true, log: (s) => said.push(s), resume: true });
  const text = said.join("\n");
  assert.match(text, new RegExp(`resume: skipping ${join(out, "checkpoint-3")}: ${ts}: `), text);
  assert.match(text, /checkpoint-3 aside to .*checkpoint-3\.damaged-.* \(it did not validate\)/, text);
  assert.match(
    text,
    /metrics.jsonl:4: partial last line dropped \("\{\\"step\\": 4, \\"loss\\": 0\."\)/,
    text,
  );
  assert.equal(r.checkpoint, join(out, "checkpoint-3"));
  assert.deepEqual(await state(r.checkpoint!), await state(join(ref, "checkpoint-3")), "same weights");
  assert.deepEqual(await steps(out), [1, 2, 3]);
  assert.ok(
    (await names(out)).some((n) => /^checkpoint-3\.damaged-/.test(n)),
    "the damaged one is kept aside",
  );
});

Deno.test("--resume PATH: resumes from that checkpoint, sets the newer ones aside; latest serves --ckpt RUN_DIR", async () => {
  const f = await fixture(), ctx = await gpu();
  const ref = await straight(), out = join(f.dir, "frompath");
  await copyRun(ref, out);
  // The CLI spelling: --resume_from_checkpoint PATH (diffusers), --resume alone = latest.
  const cli = (...a: string[]) => {
    const p = parseCli(TRAIN_CLI, a);
    if (p === "help") throw new Error("help");
    return p;
  };
  const resume = (...a: string[]) => cli(...a).flags.resume;
  assert.equal(resume("--resume_from_checkpoint", join(out, "checkpoint-1")), join(out, "checkpoint-1"));
  assert.equal(resume("--resume", "--train.steps", "4"), "latest");
  assert.equal(resume("--resume"), "latest");
  assert.equal(resume("--resume=checkpoint-2"), "checkpoint-2");
  assert.equal(resume("--train.steps", "4"), undefined);
  const p = cli("--overwrite", "--allow-config-change", "--nan-policy", "skip");
  assert.ok(p.flags.overwrite && p.flags["allow-config-change"]);
  assert.equal(p.config.train.nan_policy, "skip");
  const said: string[] = [];
  const r = await train(ctx, sftConfig(f, out, 3), {
    quiet: true,
    log: (s) => said.push(s),
    resume: join(out, "checkpoint-1"),
  });
  assert.ok(
    said.some((s) => s.startsWith(`resume: ${join(out, "checkpoint-1")} (update 1`)),
    said.join("\n"),
  );
  assert.equal(said.filter((s) => /newer than the resumed update/.test(s)).length, 2, said.join("\n"));
  assert.deepEqual(await state(r.checkpoint!), await state(join(ref, "checkpoint-3")));
  assert.equal((await Deno.readTextFile(join(out, "latest"))).trim(), "checkpoint-3");
  assert.equal(await resolveCheckpoint(host, out), join(out, "checkpoint-3"));
  const m = await TextToImage.load(ctx, out); // what sample --ckpt RUN_DIR and eval do
  m.dispose();
  // A checkpoint-N name inside the run folder works too; a bad path says what it is.
  await train(ctx, sftConfig(f, out, 3), { ...quiet, resume: "checkpoint-3" });
  await assert.rejects(
    train(ctx, sftConfig(f, out, 3), { ...quiet, resume: join(out, "nope") }),
    /--resume .*nope: .*nope: checkpoint folder not found/,
  );
});

Deno.test("train.checkpoints_total_limit keeps the newest N; save.keep_all still keeps all", async () => {
  const f = await fixture(), ctx = await gpu();
  await train(ctx, sftConfig(f, join(f.dir, "limit1"), 3, { checkpoints_total_limit: 1 }), quiet);
  assert.deepEqual(await checkpoints(join(f.dir, "limit1")), ["checkpoint-3"]);
  const old = sftConfig(f, join(f.dir, "keepall"), 2, { checkpoints_total_limit: 1 });
  old.save.keep_all = true;
  await train(ctx, old, quiet);
  assert.deepEqual(await checkpoints(join(f.dir, "keepall")), ["checkpoint-1", "checkpoint-2"]);
  const both = sftConfig(f, join(f.dir, "both"), 2, { checkpoints_total_limit: 3 });
  both.save.keep_all = true;
  await assert.rejects(
    train(ctx, both, quiet),
    /save.keep_all = true and train.checkpoints_total_limit = 3 disagree/,
  );
});
