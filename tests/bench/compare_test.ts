// bench/compare.ts: medians and ratios of side-by-side bench-step results, and the temporary
// worktree it times a revision in (made with this tree's bench/, removed afterwards).
import assert from "node:assert";
import { formatSummary, pick, prepareWorktree, summarize } from "../../bench/compare.ts";
import { UsageError } from "../../lib/util/errors.ts";

const run = (trainMs: number, sampleMs: number, gflop: number | null, share: number) => ({
  train: { ms: trainMs, dispatches: 100, gflop, profile: { non_gemm_share: share } },
  sample: { ms: sampleMs },
  peaks: { train_effective_gflops: gflop === null ? null : gflop / (trainMs / 1000) },
});

Deno.test("summarize: medians over rounds, time ratios as speedups, effective rate from this tree's FLOPs", () => {
  const against = [run(2000, 900, null, 0.5), run(2200, 1000, null, 0.52), run(1800, 950, null, 0.48)];
  const current = [run(1000, 600, 8, 0.2), run(1100, 500, 8, 0.22), run(900, 550, 8, 0.21)];
  const rows = summarize(against, current);
  const by = (p: string) => rows.find((r) => r.path === p)!;
  assert.equal(by("train.ms").against, 2000);
  assert.equal(by("train.ms").current, 1000);
  assert.equal(by("train.ms").ratio, 2);
  assert.equal(by("sample.ms").ratio, 950 / 550);
  assert.equal(by("train.profile.non_gemm_share").current, 0.21);
  // the against side counted no FLOPs: its rate is this tree's 8 GFLOP over its own median time
  assert.equal(by("peaks.train_effective_gflops").against, 8 / 2);
  assert.equal(by("peaks.train_effective_gflops").current, 8);
  assert.equal(by("seppo.ms").ratio, null);
  const text = formatSummary(rows, "old", "new");
  assert.match(text, /training step \(ms\) +2000 +1000 +2\.00x faster/);
  assert.equal(pick({ a: { b: 3 } }, "a.b"), 3);
  assert.equal(pick({ a: null }, "a.b"), null);
});

Deno.test("prepareWorktree: a detached worktree of HEAD with this bench/, removed afterwards; bad revisions are usage errors", async () => {
  const wt = await prepareWorktree("HEAD");
  try {
    assert(wt.dir.startsWith("/tmp/seppo-against-"));
    const here = await Deno.readTextFile(new URL("../../bench/train_step.ts", import.meta.url));
    assert.equal(await Deno.readTextFile(`${wt.dir}/bench/train_step.ts`), here);
  } finally {
    await wt.remove();
  }
  assert.equal(await Deno.stat(wt.dir).then(() => true, () => false), false);
  await assert.rejects(prepareWorktree("no-such-revision-xyz"), UsageError);
});
