// deno task data: generates a split of a synthetic world (BENCHMARK.md; layout in docs/DATA.md).
//   deno task data --world shapes --split pretrain --count 10000 --size 16 --seed 0 --caption-noise 0.2
//   deno task data --world moving-shapes --split prefs --frames 8 --pairs --out data/generated/clips
//   deno task data --world taste --split pretrain --count 20000 --size 16 --taste-share 0.2

import { parseArgs } from "node:util";
import {
  checkOptions,
  DEFAULTS,
  generate,
  type GenerateOptions,
  type Split,
  type World,
} from "../data/generate.ts";
import { exitCodeOf, UsageError } from "../lib/util/errors.ts";

const USAGE = `usage: deno task data --world shapes|moving-shapes|taste --split pretrain|prefs|val|eval
  [--count N] [--size 16|32|64] [--seed S] [--caption-noise P] [--pairs] [--frames F]
  [--growth P] [--taste-share P] [--concurrency K] [--out DIR]`;

function num(flag: string, v: string | undefined, fallback: number, ok: (x: number) => boolean): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x) || !ok(x)) throw new UsageError(`--${flag}: bad value '${v}'\n${USAGE}`);
  return x;
}

const FLAGS = {
  world: { type: "string" },
  split: { type: "string" },
  count: { type: "string" },
  size: { type: "string" },
  seed: { type: "string" },
  "caption-noise": { type: "string" },
  pairs: { type: "boolean", default: false },
  frames: { type: "string" },
  growth: { type: "string" },
  "taste-share": { type: "string" },
  concurrency: { type: "string" },
  out: { type: "string" },
  help: { type: "boolean", default: false },
} as const;

/** parseArgs, with an unknown or malformed flag reported as a usage error. */
function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: FLAGS });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
}

function parse(argv: string[]): GenerateOptions {
  const { values: v } = parseFlags(argv);
  if (v.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (!["shapes", "moving-shapes", "taste"].includes(v.world ?? "")) {
    throw new UsageError(`--world: bad value '${v.world}'\n${USAGE}`);
  }
  if (!["pretrain", "prefs", "val", "eval"].includes(v.split ?? "")) {
    throw new UsageError(`--split: bad value '${v.split}'\n${USAGE}`);
  }
  if (v["taste-share"] !== undefined && (v.world !== "taste" || v.split !== "pretrain")) {
    throw new UsageError(`--taste-share: only for --world taste --split pretrain (${v["taste-share"]})`);
  }
  const world = v.world as World, split = v.split as Split;
  const int = (x: number) => Number.isInteger(x);
  const o: GenerateOptions = {
    world,
    split,
    count: num("count", v.count, DEFAULTS.count, (x) => int(x) && x > 0),
    size: num("size", v.size, DEFAULTS.size, (x) => [16, 32, 64].includes(x)),
    seed: num("seed", v.seed, DEFAULTS.seed, (x) => int(x) && x >= 0),
    captionNoise: num("caption-noise", v["caption-noise"], DEFAULTS.captionNoise, (x) => x >= 0 && x <= 1),
    pairs: v.pairs,
    frames: num("frames", v.frames, DEFAULTS.frames, (x) => int(x) && x >= 2),
    growth: num("growth", v.growth, DEFAULTS.growth, (x) => x >= 0 && x <= 1),
    tasteShare: num("taste-share", v["taste-share"], DEFAULTS.tasteShare, (x) => x >= 0 && x <= 1),
    concurrency: num("concurrency", v.concurrency, DEFAULTS.concurrency, (x) => int(x) && x > 0),
    out: "",
  };
  o.out = v.out ?? `data/generated/${world}-${split}-${o.size}`;
  checkOptions(o);
  return o;
}

if (import.meta.main) {
  try {
    const o = parse(Deno.args);
    console.error(`generating ${JSON.stringify(o)}`);
    const t0 = performance.now();
    const { rows } = await generate(o);
    const secs = (performance.now() - t0) / 1000;
    const noisy = rows.filter((r) => r.noise).length;
    console.log(
      `${rows.length} items in ${secs.toFixed(1)}s (${(rows.length / secs).toFixed(0)} items/s), ` +
        `${noisy} noisy captions -> ${o.out}`,
    );
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(exitCodeOf(e));
  }
}
