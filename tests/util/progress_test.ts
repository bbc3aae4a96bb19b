// The progress line: count, percent, rate with its unit, elapsed and time left; fractional ticks
// shown rounded down; one line when created (so a task shows at once that it runs) and at finish.
import assert from "node:assert/strict";
import { fmtDuration, Progress } from "../../lib/util/progress.ts";
import { host } from "../_helpers.ts";

Deno.test("progress: a line at start, rate and ETA, fractional ticks, finish once", () => {
  const lines: string[] = [];
  const p = new Progress(host, "sample", 16, {
    tty: false,
    intervalS: 0,
    unit: "images",
    write: (t) => lines.push(t),
  });
  assert.match(lines[0], /^sample: 0\/16 0% 0\.000 images\/s 0\.0s\n$/);
  for (let i = 0; i < 20; i++) p.tick(0.25); // 5 images in 20 steps
  const last = lines[lines.length - 1];
  assert.match(last, /^sample: 5\/16 31% [\d.]+ images\/s [\d.]+s eta [\dms.h]+\n$/);
  p.note("loss 0.1");
  p.finish();
  p.finish();
  assert.match(lines[lines.length - 1], /^sample: 5\/16 31% .* {2}loss 0\.1\n$/);
  assert.equal(lines.filter((l) => l.includes("loss")).length, 1, "finish prints once");
  const tty: string[] = [];
  const q = new Progress(host, "train", 4, { tty: true, write: (t) => tty.push(t) });
  q.tick(4);
  q.finish();
  // deno-lint-ignore no-control-regex
  assert.match(tty[tty.length - 1], /^\rtrain \[#{30}\] 4\/4 100% .*\x1b\[K\n$/);
  assert.deepEqual([fmtDuration(4.2), fmtDuration(185), fmtDuration(3725)], ["4.2s", "3m05s", "1h02m"]);
});
