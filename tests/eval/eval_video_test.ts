// Text-to-video evaluation end to end at a tiny size: an image checkpoint is lifted to video and
// pretrained for two updates on clips (the pretrain loop's video path), then evaluated against the
// image model (lifted frame by frame) on a moving-shapes eval split: clips, GIFs, metadata that
// `deno task score` reads back to the same numbers, report and summary. Plus the pure parts.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { join } from "node:path";
import { generate, type GenerateOptions } from "../../data/generate.ts";
import {
  type ClipResult,
  evalVideo,
  pairedWinRates,
  summarise,
  VIDEO_METRICS,
} from "../../lib/eval/eval_video.ts";
import { scoreFolder } from "../../lib/eval/score_folder.ts";
import { readFrames } from "../../lib/io/images.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { pretrain, PRETRAIN_DEFAULTS, PRETRAIN_SCHEMA } from "../../lib/train/pretrain.ts";
import { Rng } from "../../lib/util/rng.ts";
import { parse } from "../../tasks/eval_t2v.ts";
import { assertClose, gpu, host } from "../_helpers.ts";

const data = (o: Partial<GenerateOptions>): GenerateOptions => ({
  world: "moving-shapes",
  split: "pretrain",
  count: 4,
  size: 16,
  seed: 0,
  captionNoise: 0,
  pairs: false,
  frames: 2,
  growth: 0,
  concurrency: 4,
  progress: false,
  out: "",
  ...o,
});

Deno.test("eval-t2v end to end: image checkpoint -> video pretraining (2 updates) -> scored clips, GIFs, report", async () => {
  const ctx = await gpu();
  const tmp = await Deno.makeTempDir({ prefix: "seppo-evalv-" });
  const t2i = TextToImage.create(ctx, {
    unet: {
      sample_size: 8,
      block_out_channels: [8, 16],
      norm_num_groups: 4,
      cross_attention_dim: 8,
      attention_head_dim: 2,
    },
    text: { num_hidden_layers: 1, num_attention_heads: 2 },
    seed: 1,
  });
  await t2i.save(join(tmp, "image"));
  t2i.dispose();
  await generate(host, data({ out: join(tmp, "corpus") }));
  await generate(host, data({ split: "eval", count: 2, seed: 5, out: join(tmp, "eval") }));

  const c = structuredClone(PRETRAIN_DEFAULTS);
  c.data = { dir: join(tmp, "corpus"), size: 8, frames: 2 };
  c.model.init_from_image = join(tmp, "image");
  c.model.motion_heads = 2;
  Object.assign(c.train, { steps: 2, batch: 2, warmup: 0, ema: 0 });
  Object.assign(c.log, { every: 1, sample_every: 0, ckpt_every: 2 });
  c.out = join(tmp, "run");
  const r = await pretrain(ctx, PRETRAIN_SCHEMA.validate(c, "test"), { log: () => {} });
  equal(r.steps, 2);
  equal(Number.isFinite(r.finalLoss), true);
  const cfg = JSON.parse(await Deno.readTextFile(join(tmp, "run/checkpoint-2/unet/config.json")));
  equal(cfg._class_name, "UNetMotionModel");
  equal(JSON.parse(await Deno.readTextFile(join(tmp, "run/checkpoint-2/model_index.json"))).num_frames, 2);

  const out = join(tmp, "report");
  const res = await evalVideo(ctx, {
    ckpt: join(tmp, "run/checkpoint-2"),
    base: join(tmp, "image"),
    prompts: join(tmp, "eval"),
    seeds: 2,
    out,
    steps: 2,
    guidance: 2,
    log: () => {},
  });
  const prompts = (await Deno.readTextFile(join(tmp, "eval/prompts.jsonl"))).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  deepStrictEqual(res.model.clips.map((x) => x.seed), prompts.flatMap((p) => [p.seed, p.seed + 1]));
  equal(res.base!.frames, 2);
  const md = await Deno.readTextFile(join(out, "report.md"));
  for (const x of [...res.model.clips, ...res.base!.clips]) {
    const frames = await readFrames(host, join(out, x.gif));
    deepStrictEqual([frames.length, frames[0].width, frames[0].height], [2, 8, 8]);
    equal(md.includes(x.gif), true, `report names ${x.gif}`);
  }
  for (const f of ["report.html", "model/sheet.png", "base/sheet.png"]) await Deno.stat(join(out, f));
  const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
  equal(summary.prompts, 2);
  const win = res.winRates!.mean!;
  equal(win.lo <= win.mean && win.mean <= win.hi && win.mean >= 0 && win.mean <= 1, true);
  // The sample folder is a valid moving-shapes folder whose scoring gives the same numbers.
  const again = await scoreFolder(host, join(out, "model"));
  equal(again.count, 4);
  for (const m of ["mean", "motion", "flicker", "psnr", "ssim"] as const) {
    assertClose([again.summary[m].mean], [res.model.summary[m]!.mean], `rescored ${m}`, 1e-9, 1e-9);
  }
  await Deno.remove(tmp, { recursive: true });
});

const clip = (id: number, seed: number, mean: number, growth = NaN): ClipResult => ({
  prompt_id: id,
  k: 0,
  seed,
  text: "t",
  gif: "g",
  readMotion: "left",
  scores: Object.fromEntries(
    VIDEO_METRICS.map((m) => [m, m === "growth" ? growth : mean]),
  ) as ClipResult["scores"],
});

Deno.test("summaries skip NaN metrics; paired win rates count ties half and refuse unpaired runs", () => {
  const a = [clip(0, 1, 0.9, 1), clip(1, 2, 0.5), clip(2, 3, 0.2)];
  const b = [clip(0, 1, 0.4), clip(1, 2, 0.5), clip(2, 3, 0.3)];
  const s = summarise(a, new Rng(0));
  equal(s.growth!.n, 1);
  assertClose([s.mean!.mean], [(0.9 + 0.5 + 0.2) / 3], "mean");
  const w = pairedWinRates(a, b, new Rng(0));
  assertClose([w.mean!.mean], [(1 + 0.5 + 0) / 3], "win rate");
  equal(w.mean!.lo <= w.mean!.mean && w.mean!.mean <= w.mean!.hi, true);
  equal(pairedWinRates(a, a, new Rng(0)).motion!.mean, 0.5);
  throws(() => pairedWinRates(a, [b[1], b[0], b[2]], new Rng(0)), /same prompts and seeds/);
});

Deno.test("eval-t2v flags: required ones named, bad values quoted; still prompts are refused", async () => {
  const o = parse(["--ckpt", "c", "--prompts", "p.jsonl", "--seeds", "3", "--out", "o", "--steps", "5"]);
  deepStrictEqual([o.seeds, o.steps, o.guidance, o.frames], [3, 5, 3, undefined]);
  throws(() => parse(["--prompts", "p", "--seeds", "1", "--out", "o"]), /flag --ckpt: required/);
  throws(
    () => parse(["--ckpt", "c", "--prompts", "p", "--seeds", "0", "--out", "o"]),
    /flag --seeds: expected an integer >= 1, got 0/,
  );
  throws(
    () => parse(["--ckpt", "c", "--prompts", "p", "--seeds", "1", "--out", "o", "--guidance", "x"]),
    /--guidance/,
  );
  const ctx = await gpu();
  const tmp = await Deno.makeTempDir({ prefix: "seppo-evalv-" });
  await generate(host, { ...data({ split: "eval", count: 1, out: tmp }), world: "shapes" });
  let err = "";
  await evalVideo(ctx, { ckpt: "none", prompts: tmp, seeds: 1, out: join(tmp, "o"), log: () => {} }).catch((
    e,
  ) => err = e.message);
  equal(/prompts.jsonl: prompt 0 .* has no motion/.test(err), true, err);
  await Deno.remove(tmp, { recursive: true });
});
