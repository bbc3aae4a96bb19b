// The AAF agreement metric on a constructed case, counted by hand.
import assert from "node:assert/strict";
import { aafAgreement, type AafRow, summarize } from "../../lib/train/aaf_log.ts";

Deno.test("AAF agreement: learn-from-good and push-away-bad agree; windows split by step", () => {
  const rows: AafRow[] = [
    // step 1: learn good (agree), learn bad (disagree), push good (disagree), push bad (agree)
    { step: 1, ref_update: 0, s: [-1, -1, 1, 1], quality: [0.9, 0.2, 0.8, 0.1] },
    // step 2: indicator's 0 counts as "learn"; 0.5 is not good (good means > 0.5)
    { step: 2, ref_update: 0, s: [0, 1], quality: [0.7, 0.5] },
    // step 5 (second window of 3): all agree
    { step: 5, ref_update: 3, s: [1, -1], quality: [0.0, 1.0] },
  ];
  const all = summarize(rows);
  assert.deepEqual(all.counts, { learnGood: 3, learnBad: 1, pushGood: 1, pushBad: 3 });
  assert.equal(all.n, 8);
  assert.equal(all.agreement, 6 / 8);
  assert.equal(all.learnRate, 4 / 8);
  assert.equal(all.goodRate, 4 / 8);
  const w = aafAgreement(rows, 3);
  assert.deepEqual(w.windows.map((x) => [x.from, x.to, x.n, x.agreement]), [[1, 3, 6, 4 / 6], [4, 6, 2, 1]]);
  // AAF off: every call is "push away", so agreement is the share of bad samples.
  const off = summarize([{ step: 1, ref_update: 0, s: [1, 1, 1, 1], quality: [0.9, 0.1, 0.2, 0.3] }]);
  assert.equal(off.agreement, 3 / 4);
  assert.throws(
    () => summarize([{ step: 7, ref_update: 0, s: [1], quality: [] }]),
    /step 7: 1 factors, 0 qualities/,
  );
});
