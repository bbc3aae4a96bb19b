// Ctrl-C on a training task (a child process on a tiny base): the first SIGINT finishes the update,
// writes a checkpoint, prints "stopped at update N; resume with --resume" and exits 130 (never
// "done:"), and the run resumes from that checkpoint; a second SIGINT in the middle of a long update
// (a seppo step sampling 1000 DDIM steps) ends the process at once: killed by the signal, no
// checkpoint renamed into place. The same holds for pretraining. No timing is asserted.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { latestCheckpoint } from "../../lib/io/checkpoint.ts";
import { train, TRAIN_DEFAULTS } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";
import { LiveTask } from "./_task.ts";

async function fixture() {
  const dir = await Deno.makeTempDir({ prefix: "seppo-stop-" });
  await generate(host, {
    ...DEFAULTS,
    world: "shapes",
    split: "prefs",
    count: 8,
    size: 16,
    out: `${dir}/prefs`,
    progress: false,
  });
  await saveTinyBase(await gpu(), `${dir}/base`);
  return dir;
}

/** A tiny run that would take days: `--train.steps 100000`, no checkpoint before the stop. */
const trainArgs = (dir: string, out: string, ...more: string[]) => [
  ...["--base", `${dir}/base`, "--data.prefs", `${dir}/prefs`, "--data.size", "16", "--out", `${dir}/${out}`],
  ...["--train.batch", "2", "--train.steps", "100000", "--train.warmup", "0", "--log.every", "1"],
  ...["--log.ckpt_every", "100000", ...more],
];

Deno.test("Ctrl-C: the run saves, says how to resume, exits 130; it resumes; a second Ctrl-C aborts", async () => {
  const dir = await fixture();
  try {
    const run = new LiveTask("train", trainArgs(dir, "sft", "--method", "sft"));
    await run.waitFor(/train sft: 0\/100000/); // the loop has started (and the stop listener with it)
    run.child.kill("SIGINT");
    const status = await run.end();
    assert.equal(status.code, 130, run.stderr);
    const m = /\nstopped at update (\d+); resume with --resume\n$/.exec(run.stderr);
    assert.ok(m, `no stop line at the end:\n${run.stderr}`);
    assert.doesNotMatch(run.stderr, /done:|Uncaught|error:/);
    const step = Number(m[1]);
    assert.deepEqual(await latestCheckpoint(host, `${dir}/sft`), {
      dir: `${dir}/sft/checkpoint-${step}`,
      step,
    });

    // The checkpoint resumes: one more update from it.
    const cfg = structuredClone(TRAIN_DEFAULTS);
    Object.assign(cfg, { base: `${dir}/base`, method: "sft", out: `${dir}/sft` });
    cfg.data = { prefs: `${dir}/prefs`, size: 16, frames: 0 };
    Object.assign(cfg.train, { batch: 2, steps: step + 1, warmup: 0 });
    Object.assign(cfg.log, { every: 1, ckpt_every: 100000 });
    const lines: string[] = [];
    const r = await train(await gpu(), cfg, { resume: true, quiet: true, log: (s) => lines.push(s) });
    assert.equal(r.steps, step + 1);
    assert.ok(lines.some((l) => l.includes(`checkpoint-${step} (update ${step}`)), lines.join("\n"));

    // Second Ctrl-C in the middle of an update: the process ends by the signal, nothing is saved.
    const slow = new LiveTask("train", trainArgs(dir, "slow", "--method", "seppo", "--ref.steps", "1000"));
    await slow.waitFor(/train seppo: 0\/100000/);
    slow.child.kill("SIGINT");
    await slow.waitFor(/stop requested/);
    slow.child.kill("SIGINT");
    const aborted = await slow.end();
    assert.equal(
      aborted.signal,
      "SIGINT",
      `expected an abort by SIGINT, got ${JSON.stringify(aborted)}\n${slow.stderr}`,
    );
    assert.doesNotMatch(slow.stderr, /stopped at update/);
    assert.equal(await latestCheckpoint(host, `${dir}/slow`), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Ctrl-C in pretraining: checkpoint, stop line, exit 130", async () => {
  const dir = await Deno.makeTempDir({ prefix: "seppo-stop-pre-" });
  try {
    await generate(host, {
      ...DEFAULTS,
      world: "shapes",
      split: "pretrain",
      count: 8,
      size: 16,
      out: `${dir}/data`,
      progress: false,
    });
    const run = new LiveTask("pretrain", [
      ...["--data.dir", `${dir}/data`, "--data.size", "16", "--out", `${dir}/run`],
      ...[
        "--model.block_out_channels",
        "[8, 16]",
        "--model.norm_num_groups",
        "4",
        "--model.cross_attention_dim",
        "16",
      ],
      ...["--model.attention_head_dim", "2", "--model.text_layers", "1", "--model.text_heads", "2"],
      ...["--train.batch", "2", "--train.steps", "100000", "--train.warmup", "0", "--log.sample_every", "0"],
      ...["--log.ckpt_every", "100000"],
    ]);
    await run.waitFor(/pretrain: 0\/100000/);
    run.child.kill("SIGINT");
    const status = await run.end();
    assert.equal(status.code, 130, run.stderr);
    const m = /\nstopped at update (\d+); resume with --resume\n$/.exec(run.stderr);
    assert.ok(m, run.stderr);
    assert.equal((await latestCheckpoint(host, `${dir}/run`))?.step, Number(m[1]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
