// deno task score: scores a dataset folder (generated data or model samples; layout in docs/DATA.md)
// and prints a per-attribute table.
//   deno task score --data data/generated/shapes-prefs-16 [--mismatch] [--json out/scores.json]
// A taste-world folder (rows with `taste`) adds taste (its agreement: the reading has the taste exactly
// when the row is preferred), has_taste (the taste rate), guard, headline and loser_taste.

import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkInput, checkOutFile } from "../lib/cli/paths.ts";
import { scoreFolder } from "../lib/eval/score_folder.ts";
import { Progress } from "../lib/util/progress.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "score",
  purpose: "scores every row of an imagefolder (images or clips: generated data or model samples) against " +
    "its own attributes with the programmatic scorer, and prints a per-attribute table with 95% intervals. " +
    "Non-square images are centre-cropped to a square first, the region training keeps.",
  flags: {
    data: flag.str("the folder (metadata.jsonl + images or clips)", { required: true, arg: "DIR" }),
    json: flag.str("also write every score as JSON to this file", { arg: "FILE" }),
    mismatch: flag.bool("also score each row against another row's attributes (the chance baseline)"),
    seed: flag.int("seed of the mismatch pairing and the bootstrap", { default: 0, min: 0 }),
  },
  examples: ["deno task score --data data/generated/shapes-prefs --mismatch --json out/scores.json"],
});

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
  await runTask(host, CLI, async ({ flags: f }) => {
    await checkInput(host, f.data, "--data", "folder");
    if (f.json) await checkOutFile(host, f.json, "--json", ["json"]);
    const t0 = performance.now();
    const r = await scoreFolder(host, f.data, {
      mismatch: f.mismatch,
      seed: f.seed,
      progress: (n) => new Progress(host, "score", n, { unit: "items" }),
    });
    const secs = (performance.now() - t0) / 1000;
    console.log(`${r.dir}: ${r.count} ${r.kind}s at ${r.size}x${r.size}, scored in ${secs.toFixed(1)}s`);
    const fmt = (x: number | undefined, d = 3) => (x === undefined ? "" : x.toFixed(d));
    console.log("| metric | mean | 95% CI | agreement | mismatched prompt |\n|---|---|---|---|---|");
    for (const k of r.kind === "image" ? IMAGE_ROWS : CLIP_ROWS) {
      const s = r.summary[k];
      if (!s) continue;
      const ci = `[${fmt(s.lo)}, ${fmt(s.hi)}]`;
      console.log(
        `| ${k} | ${fmt(s.mean)} | ${ci} | ${fmt(r.summary[`agree.${k}`]?.mean, 4)} | ${
          fmt(r.summary[`mismatch.${k}`]?.mean)
        } |`,
      );
    }
    if (f.json) {
      await Deno.writeTextFile(f.json, JSON.stringify(r, (_, x) => (Number.isNaN(x) ? null : x), 1) + "\n");
      console.log(`wrote ${f.json}`);
    }
  });
}
