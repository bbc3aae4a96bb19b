// The preference trainer on clips (data.frames > 0) at a tiny size: an image base is lifted to video,
// sft and seppo each run one update on 3-frame moving-shapes clips and log finite quantities, the
// checkpoint is a TextToVideo whose motion modules were trained, and with train.motion_only a
// resumed run equals an uninterrupted one while the spatial weights stay the base's.
import assert from "node:assert/strict";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { loadBundle } from "../../lib/nn/bundle.ts";
import { TextToVideo } from "../../lib/nn/pipeline_video.ts";
import { train, TRAIN_DEFAULTS, type TrainConfig } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import { saveTinyBase } from "../_tiny.ts";

// tests/train/seppo_test.ts's tiny UNet; the lift adds motion modules with the default 8 heads.
const FRAMES = 3;
const UNET_FILE = "unet/diffusion_pytorch_model.safetensors";

async function fixture() {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-train-video-" });
  await generate(host, {
    ...DEFAULTS,
    world: "moving-shapes",
    split: "prefs",
    count: 4,
    size: 16,
    frames: FRAMES,
    pairs: true,
    out: `${dir}/prefs`,
    progress: false,
  });
  await saveTinyBase(ctx, `${dir}/base`);
  const config = (method: string, out: string, steps: number, motionOnly = false): TrainConfig => ({
    ...structuredClone(TRAIN_DEFAULTS),
    base: `${dir}/base`,
    data: { prefs: `${dir}/prefs`, size: 16, frames: FRAMES },
    method,
    ref: { strategy: "uniform", steps: 1, guidance: 2, eta: 0 },
    pool: { size: 3, interval: 1, gpu_budget_mb: 64 },
    train: { ...TRAIN_DEFAULTS.train, steps, batch: 2, warmup: 0, lr: 1e-3, motion_only: motionOnly },
    log: { ...TRAIN_DEFAULTS.log, every: 1, ckpt_every: 1 },
    out: `${dir}/${out}`,
  });
  return { ctx, dir, config };
}

const quiet = { quiet: true, log: () => {} };

/** The lift zeroes every motion module's proj_out; any update must have moved some of them. */
function assertMotionTrained(tensors: Map<string, { data: Float32Array }>, what: string) {
  const projOut = [...tensors].filter(([k]) => k.includes("motion_modules") && k.includes("proj_out"));
  assert.ok(projOut.length > 0, `${what}: no motion proj_out tensors in the checkpoint`);
  assert.ok(projOut.some(([, t]) => t.data.some((x) => x !== 0)), `${what}: motion modules were not trained`);
}

Deno.test("train on clips: sft and seppo run on a lifted image base; checkpoints are TextToVideo; motion_only resume is exact", async () => {
  const { ctx, dir, config } = await fixture();
  try {
    for (const method of ["sft", "seppo"]) {
      const s = (await train(ctx, config(method, method, 1), quiet)).last!;
      for (const k of ["loss", "implicit_acc", "flip_rate", "e_theta_w", "e_ref_w", "e_theta_l", "e_ref_l"]) {
        const v = (s as unknown as Record<string, number>)[k];
        assert.ok(Number.isFinite(v), `${method}: ${k} = ${v}`);
      }
      // Per-example errors of a barely trained model are means of squared unit-variance noise
      // errors over frames and pixels: about 1, nowhere near a sum over 3 frames.
      assert.ok(s.e_theta_w > 0.2 && s.e_theta_w < 2.5, `${method}: e_theta_w = ${s.e_theta_w}`);
      assert.equal(s.ref_entry, method === "sft" ? -1 : 0);
      const ck = `${dir}/${method}/checkpoint-1`;
      const cfg = JSON.parse(await Deno.readTextFile(`${ck}/unet/config.json`));
      assert.equal(cfg._class_name, "UNetMotionModel", `${ck} is not a video checkpoint`);
      assert.equal(JSON.parse(await Deno.readTextFile(`${ck}/model_index.json`)).num_frames, FRAMES);
      await assert.rejects(() => loadBundle(ctx, ck, 0), /UNetMotionModel, num_frames 3\) .*set data.frames/);
      const v = await TextToVideo.load(ctx, ck);
      assert.equal(v.frames, FRAMES);
      const clip = await v.generate(ctx, ["a red circle moving right on a blue background"], [7], {
        steps: 1,
      });
      assert.deepEqual(clip.shape, [1, FRAMES, 3, 16, 16]);
      clip.dispose();
      v.dispose();
      assertMotionTrained((await readSafetensors(host, `${ck}/${UNET_FILE}`)).tensors, method);
    }
    const pool = JSON.parse(await Deno.readTextFile(`${dir}/seppo/checkpoint-1/pool/pool.json`));
    assert.deepEqual(pool.entries.map((e: { update: number }) => e.update), [0, 1]);

    // motion_only: 2 updates straight vs 1 (checkpoint) + resume to 2: identical weights and logs.
    await train(ctx, config("seppo", "straight", 2, true), quiet);
    await train(ctx, config("seppo", "resumed", 1, true), quiet);
    await train(ctx, config("seppo", "resumed", 2, true), { ...quiet, resume: true });
    const w = async (run: string) =>
      (await readSafetensors(host, `${dir}/${run}/checkpoint-2/${UNET_FILE}`)).tensors;
    const a = await w("straight"),
      b = await w("resumed"),
      base = (await readSafetensors(host, `${dir}/base/${UNET_FILE}`))
        .tensors;
    for (const [name, t] of a) {
      assert.deepEqual(b.get(name)!.data, t.data, `resumed ${name} differs`);
      const spatial = base.get(name);
      if (spatial) assert.deepEqual(t.data, spatial.data, `motion_only changed the spatial ${name}`);
    }
    assertMotionTrained(a, "motion_only");
    const strip = (t: string) =>
      t.trim().split("\n").map((l) => {
        const o = JSON.parse(l);
        return [o.step, o.loss, o.ref_entry, o.e_theta_w];
      });
    assert.deepEqual(
      strip(await Deno.readTextFile(`${dir}/resumed/metrics.jsonl`)),
      strip(await Deno.readTextFile(`${dir}/straight/metrics.jsonl`)),
      "the resumed run logs the same steps and losses",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: motion_only on images is refused before anything loads", async () => {
  const ctx = await gpu();
  const c = structuredClone(TRAIN_DEFAULTS);
  c.train.motion_only = true;
  c.data.frames = 0;
  await assert.rejects(() => train(ctx, c, quiet), /train.motion_only = true needs clips \(data.frames > 0/);
});
