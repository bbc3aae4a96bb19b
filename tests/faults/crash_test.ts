// Crashes and failing disks: kill -9 halfway through writing a checkpoint, and right after its final
// rename (before `latest` moves); a disk that fills up mid-checkpoint (a real tmpfs where it can be
// mounted here, else a simulated ENOSPC writer); a read-only output folder. Each time the error (if
// any) names the file, nothing saved before is lost, and a resume ends with exactly the weights and
// metrics of an uninterrupted run.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readMetrics } from "../../lib/train/run.ts";
import { validateCheckpoint } from "../../lib/train/run_folder.ts";
import { train, type TrainConfig } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import {
  copyRun,
  failingDisk,
  fixture,
  quiet,
  runChild,
  sftConfig,
  state,
  straight,
  tmpfs,
} from "./_fixture.ts";

const names = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
const losses = async (out: string) =>
  (await readMetrics(host, join(out, "metrics.jsonl"))).map((r) => [r.step, r.loss]);

/** Resumes `c` in this process; asserts it ends as the uninterrupted run `ref` did. */
async function resumeAndCompare(c: TrainConfig, ref: string) {
  const said: string[] = [];
  const r = await train(await gpu(), c, { quiet: true, log: (s) => said.push(s), resume: true });
  assert.equal(r.checkpoint, join(c.out, `checkpoint-${c.train.steps}`));
  assert.deepEqual(await state(r.checkpoint!), await state(join(ref, `checkpoint-${c.train.steps}`)));
  assert.deepEqual(await losses(c.out), await losses(ref), "the metrics log is whole, without repeats");
  assert.ok(!(await names(c.out)).some((n) => /\.(tmp-\d+|old)$/.test(n)), "no leftovers");
  assert.equal((await Deno.readTextFile(join(c.out, "latest"))).trim(), `checkpoint-${c.train.steps}`);
  return said;
}

Deno.test("kill -9 while writing a checkpoint, or right after its rename: resume ends like an uninterrupted run", async () => {
  const f = await fixture();
  const ref = await straight();
  const faults = {
    write: { kind: "kill-mid-write", match: "checkpoint-2\\.tmp-\\d+/trainer_state" },
    rename: { kind: "kill-at-rename", match: "checkpoint-2$", after: true },
  };
  const kids = await Promise.all(
    Object.entries(faults).map(([k, fault]) => runChild({ config: sftConfig(f, join(f.dir, k), 3), fault })),
  );
  for (const k of kids) assert.equal(k.signal, "SIGKILL", k.out);
  // Killed mid-write: a half temp folder, checkpoint-1 intact and `latest` on it.
  const w = join(f.dir, "write");
  assert.ok((await names(w)).some((n) => /^checkpoint-2\.tmp-\d+$/.test(n)));
  assert.ok(!(await names(w)).includes("checkpoint-2"));
  await validateCheckpoint(host, join(w, "checkpoint-1"), "train_config.yaml");
  assert.equal((await Deno.readTextFile(join(w, "latest"))).trim(), "checkpoint-1");
  const said = await resumeAndCompare(sftConfig(f, w, 3), ref);
  assert.ok(
    said.some((s) => /removed .*checkpoint-2\.tmp-\d+ \(left by a crashed save\)/.test(s)),
    said.join("\n"),
  );
  // Killed after the rename: checkpoint-2 complete, `latest` still on checkpoint-1 (both valid).
  const rn = join(f.dir, "rename");
  await validateCheckpoint(host, join(rn, "checkpoint-2"), "train_config.yaml");
  assert.equal((await Deno.readTextFile(join(rn, "latest"))).trim(), "checkpoint-1");
  const said2 = await resumeAndCompare(sftConfig(f, rn, 3), ref);
  assert.ok(
    said2.some((s) => s.startsWith(`resume: ${join(rn, "checkpoint-2")} (update 2`)),
    said2.join("\n"),
  );
});

Deno.test("disk full mid-checkpoint: the error names the file, earlier checkpoints stay, resume after freeing space", async () => {
  const f = await fixture(), ctx = await gpu();
  const ref = await straight();
  const ckBytes = (await Array.fromAsync(walkFiles(join(ref, "checkpoint-1")))).reduce((a, b) => a + b, 0);
  // Room for two checkpoints and the small files, not for a third.
  const room = 2 * ckBytes + 64 * 1024 + ckBytes / 2;
  const fs = await tmpfs(Math.ceil(room / 4096) * 4096 + 64 * 1024);
  const out = join(fs?.dir ?? f.dir, "full");
  const undo = fs
    ? () => {}
    : failingDisk(out, room, () => new Error("No space left on device (os error 28)"));
  try {
    try {
      await assert.rejects(
        train(ctx, sftConfig(f, out, 3), quiet),
        /full\/checkpoint-3: cannot write [\w/.]+ \(No space left on device\); nothing was replaced/,
      );
    } finally {
      undo();
    }
    assert.deepEqual((await names(out)).filter((n) => n.startsWith("checkpoint")), [
      "checkpoint-1",
      "checkpoint-2",
    ]);
    for (const k of [1, 2]) await validateCheckpoint(host, join(out, `checkpoint-${k}`), "train_config.yaml");
    await fs?.remount(`size=${16 << 20}`); // free space (simulated: the writer is back to normal)
    await resumeAndCompare(sftConfig(f, out, 3), ref);
  } finally {
    await fs?.close();
  }
});

Deno.test("a read-only output folder: the run fails before training, naming the file; nothing there changes", async () => {
  const f = await fixture(), ctx = await gpu();
  const fs = await tmpfs(8 << 20);
  const out = join(fs?.dir ?? f.dir, "ro");
  const erofs = () => new Deno.errors.PermissionDenied("Read-only file system (os error 30)");
  let undo = () => {};
  try {
    await copyRun(await straight(), out);
    const before = await snapshot(out);
    if (fs) await fs.remount("ro");
    else if (Deno.uid() !== 0) await Deno.chmod(out, 0o555);
    else undo = failingDisk(out, 0, erofs);
    await assert.rejects(
      train(ctx, sftConfig(f, out, 4), { ...quiet, resume: true }),
      /ro\/[\w.]+: write failed \((Read-only file system|Permission denied)\); the previous file, if any, is unchanged/,
    );
    assert.deepEqual(await snapshot(out), before);
  } finally {
    undo();
    if (!fs && Deno.uid() !== 0) await Deno.chmod(out, 0o755).catch(() => {});
    await fs?.close();
  }
});

async function* walkFiles(dir: string): AsyncGenerator<number> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walkFiles(p);
    else yield (await Deno.stat(p)).size;
  }
}

/** name -> size of every file under `dir`. */
async function snapshot(dir: string, prefix = ""): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = join(prefix, e.name);
    if (e.isDirectory) Object.assign(out, await snapshot(dir, rel));
    else out[rel] = (await Deno.stat(join(dir, rel))).size;
  }
  return out;
}
