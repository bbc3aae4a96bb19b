// deno task data: generates a split of a synthetic world (BENCHMARK.md; layout in docs/DATA.md).
//   deno task data --world shapes --split pretrain --count 10000 --size 16 --seed 0 --caption-noise 0.2
//   deno task data --world moving-shapes --split prefs --frames 8 --pairs --out data/generated/clips
//   deno task data --world taste --split pretrain --count 20000 --size 16 --taste-share 0.2
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkOutDir } from "../lib/cli/paths.ts";
import { UsageError } from "../lib/util/errors.ts";
import {
  checkOptions,
  DEFAULTS,
  generate,
  type GenerateOptions,
  type Split,
  type World,
} from "../data/generate.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "data",
  purpose: "generates a split of a synthetic world (docs/DATA.md): captioned images or clips for " +
    "pretraining, winners with optional paired losers for preference training, or prompt sets (val: the " +
    "taste world's, eval).",
  flags: {
    world: flag.choice(
      ["shapes", "moving-shapes", "taste"],
      "the world: still scenes, moving clips, or scenes with a hidden preferred look",
      { required: true },
    ),
    split: flag.choice(["pretrain", "prefs", "val", "eval"], "what to generate (val: taste world only)", {
      required: true,
    }),
    count: flag.int("items (eval: prompts)", { default: DEFAULTS.count, min: 1 }),
    size: flag.choice(["16", "32", "64"], "image side in pixels", { default: String(DEFAULTS.size) }),
    seed: flag.int("seed (the same options give byte-identical files)", { default: DEFAULTS.seed, min: 0 }),
    "caption-noise": flag.num("share of captions with one wrong or missing field", {
      default: DEFAULTS.captionNoise,
      min: 0,
      max: 1,
    }),
    pairs: flag.bool("also render a loser per item with one field changed (pretrain / prefs)"),
    frames: flag.int("frames per clip (moving-shapes)", { default: DEFAULTS.frames, min: 2 }),
    growth: flag.num("share of clips that also grow or shrink (moving-shapes)", {
      default: DEFAULTS.growth,
      min: 0,
      max: 1,
    }),
    "taste-share": flag.num("share of pretraining scenes with the preferred look (taste pretrain)", {
      min: 0,
      max: 1,
    }),
    concurrency: flag.int("renders in flight at once", { default: DEFAULTS.concurrency, min: 1 }),
    out: flag.str("output folder (default data/generated/<world>-<split>-<size>)", { arg: "DIR" }),
  },
  examples: [
    "deno task data --world shapes --split prefs --count 2000 --size 16 --pairs --out data/generated/shapes-prefs",
  ],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => {
    const world = f.world as World, split = f.split as Split, size = Number(f.size);
    if (f["taste-share"] !== undefined && (world !== "taste" || split !== "pretrain")) {
      throw new UsageError(
        `flag --taste-share: only for --world taste --split pretrain (${f["taste-share"]})`,
      );
    }
    const out = await checkOutDir(host, f.out ?? `data/generated/${world}-${split}-${size}`, "--out");
    const o: GenerateOptions = {
      world,
      split,
      count: f.count,
      size,
      seed: f.seed,
      captionNoise: f["caption-noise"],
      pairs: f.pairs,
      frames: f.frames,
      growth: f.growth,
      tasteShare: f["taste-share"] ?? DEFAULTS.tasteShare,
      concurrency: f.concurrency,
      out,
    };
    checkOptions(o); // the rules between flags (pairs, caption noise, val) live with the generators
    console.error(`generating ${JSON.stringify(o)}`);
    const t0 = performance.now();
    const { rows } = await generate(host, o);
    const secs = (performance.now() - t0) / 1000;
    const noisy = rows.filter((r) => r.noise).length;
    console.log(
      `${rows.length} items in ${secs.toFixed(1)}s (${(rows.length / secs).toFixed(0)} items/s), ` +
        `${noisy} noisy captions -> ${o.out}`,
    );
  });
}
