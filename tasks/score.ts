// deno task score: scores a dataset folder (generated data or model samples; layout in docs/DATA.md)
// and prints a per-attribute table.
//   deno task score --data data/generated/shapes-prefs-16 [--mismatch] [--json out/scores.json]
// A taste-world folder (rows with `taste`) adds taste (its agreement: the reading has the taste exactly
// when the row is preferred), has_taste (the taste rate), guard, headline and loser_taste.

import { parseArgs } from "node:util";
import { scoreFolder } from "../lib/eval/score_folder.ts";

const USAGE = "usage: deno task score --data DIR [--json FILE] [--mismatch] [--seed S]";

/** Table rows: metric, then its agreement and mismatch columns where they exist; the taste rows only
 * for a taste-world folder. */
const IMAGE_ROWS = [
  "background",
  "color",
  "shape",
  "size",
  "position",
  "mean",
  "psnr",
  "ssim",
  "loser_mean",
  "taste",
  "has_taste",
  "guard",
  "headline",
  "loser_taste",
];
const CLIP_ROWS = [
  "background",
  "color",
  "shape",
  "size",
  "frame",
  "motion",
  "growth",
  "consistency",
  "flicker",
  "smoothness",
  "dynamic",
  "psnr",
  "ssim",
  "mean",
  "loser_mean",
];

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      data: { type: "string" },
      json: { type: "string" },
      mismatch: { type: "boolean", default: false },
      seed: { type: "string", default: "0" },
    },
  });
  if (!v.data) {
    console.error(USAGE);
    Deno.exit(2);
  }
  try {
    const t0 = performance.now();
    const r = await scoreFolder(v.data, { mismatch: v.mismatch, seed: Number(v.seed) });
    const secs = (performance.now() - t0) / 1000;
    console.log(`${r.dir}: ${r.count} ${r.kind}s at ${r.size}x${r.size}, scored in ${secs.toFixed(1)}s`);
    const f = (x: number | undefined, d = 3) => (x === undefined ? "" : x.toFixed(d));
    console.log(
      "| metric | mean | 95% CI | agreement | mismatched prompt |\n|---|---|---|---|---|",
    );
    for (const k of r.kind === "image" ? IMAGE_ROWS : CLIP_ROWS) {
      const s = r.summary[k];
      if (!s) continue;
      const ci = `[${f(s.lo)}, ${f(s.hi)}]`;
      console.log(
        `| ${k} | ${f(s.mean)} | ${ci} | ${f(r.summary[`agree.${k}`]?.mean, 4)} | ${
          f(r.summary[`mismatch.${k}`]?.mean)
        } |`,
      );
    }
    if (v.json) {
      await Deno.writeTextFile(v.json, JSON.stringify(r, (_, x) => (Number.isNaN(x) ? null : x), 1) + "\n");
      console.log(`wrote ${v.json}`);
    }
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
