import type { Host } from "../host/host.ts";
// AAF diagnostics (no paper reports them): for every reference sample the trainer generated, the AAF
// factor s it was given and its quality as the world's scorer reads it from pixels (e.g. the taste
// score). AAF "calls" a sample: s = +1 is "push it away" (a loser), s < 1 is "learn from it" (sign: -1,
// indicator: 0). The truth: the sample is good when its quality > 0.5. Agreement is the share of calls
// that match the truth; with AAF off every call is "push away", so agreement is then the share of bad
// reference samples (the base rate a flipper has to beat).

/** One optimizer update's reference samples (aaf.jsonl row). */
export interface AafRow {
  step: number;
  /** Pool entry's update number the reference model came from. */
  ref_update: number;
  s: number[];
  quality: number[];
}

export interface AafSummary {
  from: number;
  to: number;
  n: number;
  /** Share of calls that match the truth. */
  agreement: number;
  /** Share of samples AAF said to learn from (s < 1). */
  learnRate: number;
  /** Share of samples that were good (quality > 0.5). */
  goodRate: number;
  /** learn & good, learn & bad, push & good, push & bad. */
  counts: { learnGood: number; learnBad: number; pushGood: number; pushBad: number };
}

/** Agreement over rows (steps from..to inclusive). */
export function summarize(rows: readonly AafRow[]): AafSummary {
  const counts = { learnGood: 0, learnBad: 0, pushGood: 0, pushBad: 0 };
  for (const r of rows) {
    if (r.s.length !== r.quality.length) {
      throw new Error(`aaf row at step ${r.step}: ${r.s.length} factors, ${r.quality.length} qualities`);
    }
    r.s.forEach((s, i) => {
      const learn = s < 1, good = r.quality[i] > 0.5;
      if (learn && good) counts.learnGood++;
      else if (learn) counts.learnBad++;
      else if (good) counts.pushGood++;
      else counts.pushBad++;
    });
  }
  const n = counts.learnGood + counts.learnBad + counts.pushGood + counts.pushBad;
  const share = (k: number) => (n ? k / n : NaN);
  return {
    from: rows.length ? rows[0].step : 0,
    to: rows.length ? rows[rows.length - 1].step : 0,
    n,
    agreement: share(counts.learnGood + counts.pushBad),
    learnRate: share(counts.learnGood + counts.learnBad),
    goodRate: share(counts.learnGood + counts.pushGood),
    counts,
  };
}

/** The summary over all rows and over consecutive windows of `window` updates (by step). */
export function aafAgreement(
  rows: readonly AafRow[],
  window: number,
): { all: AafSummary; windows: AafSummary[] } {
  if (!(window >= 1)) throw new Error(`aafAgreement: window must be >= 1, got ${window}`);
  const sorted = [...rows].sort((a, b) => a.step - b.step);
  const windows: AafSummary[] = [];
  for (let i = 0; i < sorted.length;) {
    const lo = Math.floor((sorted[i].step - 1) / window) * window;
    const part: AafRow[] = [];
    while (i < sorted.length && sorted[i].step <= lo + window) part.push(sorted[i++]);
    windows.push({ ...summarize(part), from: lo + 1, to: lo + window });
  }
  return { all: summarize(sorted), windows };
}

/** Reads aaf.jsonl; blank lines skipped; a malformed line names the file and line. */
export async function readAafLog(host: Host, path: string): Promise<AafRow[]> {
  const text = await host.fs.readTextFile(path);
  const out: AafRow[] = [];
  text.split("\n").forEach((l, k) => {
    if (!l.trim()) return;
    try {
      out.push(JSON.parse(l) as AafRow);
    } catch {
      if (k < text.split("\n").length - 2) throw new Error(`${path}:${k + 1}: malformed JSON line`);
      // a partial last line (crash mid-write) is dropped
    }
  });
  return out;
}
