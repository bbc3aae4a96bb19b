// The latent pipeline on tiny-sd (a diffusers StableDiffusionPipeline folder): loading, the prompt
// embeddings, a 10-step DDIM generation with CFG 7.5 and the empty negative prompt from the golden's
// initial latents (every step), the decoded image before and after clamping, all against diffusers
// 0.30.3 within 10x the recorded float32 noise floor; what an SD folder reader refuses; and a save in
// diffusers' layout that reads back identically.
import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { LatentTextToImage } from "../../lib/nn/pipeline_latent.ts";
import { readSdFolder } from "../../lib/nn/sd_folder.ts";
import { concat } from "../../lib/ops/copy.ts";
import { scale } from "../../lib/ops/scale.ts";
import { clampSym } from "../../lib/diffusion/steps.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, gpu, host } from "../_helpers.ts";
import { FLOOR_FACTOR, golden, goldenJson, noiseFloor, TINY_SD } from "../_fixtures.ts";

const FILE = `${TINY_SD}/golden/pipeline.safetensors`;

Deno.test("latent pipeline (tiny-sd): prompt embeddings, every DDIM step with CFG, decoded image match diffusers", async () => {
  const ctx = await gpu();
  const sd = await LatentTextToImage.load(ctx, TINY_SD);
  equal(sd.pixelSize, 32);
  equal(sd.maskPadTokens, false);
  const g = await goldenJson<{
    prompts: string[];
    prompt_input_ids: number[][];
    negative_input_ids: number[][];
    guidance_scale: number;
    num_inference_steps: number;
  }>(`${TINY_SD}/golden/pipeline.json`);
  deepStrictEqual(sd.tokenizer.encode(g.prompts).ids, g.prompt_input_ids);
  deepStrictEqual(sd.tokenizer.encode(["", ""]).ids, g.negative_input_ids);
  const check = async (name: string, got: Float32Array, want: Float32Array, floorName = name) => {
    const floor = await noiseFloor(TINY_SD, "pipeline", floorName);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    console.log(
      `  ${name}: worst ${worst.toExponential(2)}, floor ${floor.toExponential(2)} (${
        (worst / floor).toFixed(2)
      }x)`,
    );
    assertClose(got, want, name, FLOOR_FACTOR * floor, 0);
  };
  await ctx.scope(async () => {
    const cond = ctx.noGrad(() => sd.encode(ctx, g.prompts)),
      neg = ctx.noGrad(() => sd.encode(ctx, ["", ""]));
    // Only diffusers' float32 prompt embeddings are stored; the floor is that of the text encoder.
    await check("prompt_embeds", await cond.hidden.read(), (await golden(FILE, "prompt_embeds")).data);
    await check(
      "negative_prompt_embeds",
      await neg.hidden.read(),
      (await golden(FILE, "negative_prompt_embeds")).data,
    );
    const init = await golden(FILE, "init_latents");
    const steps = (await golden(FILE, "step_latents_f64")).data, per = init.data.length;
    const seen: number[] = [];
    const z = await sd.generate(ctx, g.prompts, [0, 1], {
      kind: "ddim",
      steps: g.num_inference_steps,
      guidance: g.guidance_scale,
      init: tensor(ctx, init.data, init.shape),
      onLatents: async (i, x) => {
        seen.push(i);
        await check(`step${i}_latents`, await x.read(), steps.subarray(i * per, (i + 1) * per));
      },
    });
    deepStrictEqual(seen, [...Array(10).keys()]);
    await check("final_latents", await z.read(), (await golden(FILE, "final_latents_f64")).data);
    const raw = sd.decode(ctx, z);
    await check("image_raw", await raw.read(), (await golden(FILE, "image_raw_f64")).data);
    // (x / 2 + 0.5).clamp(0, 1) = clampSym(x / 2, 0.5) + 0.5
    const img = scale(ctx, clampSym(ctx, scale(ctx, raw, 0.5), 0.5), 1, 0.5);
    await check("image", await img.read(), (await golden(FILE, "image_f64")).data);
    // The UNet's outputs inside the loop (stored in float32 only), teacher-forced from the golden's own
    // latents at the first, a middle and the last step. No floor is recorded for them: the UNet
    // golden's relative floor (max diff / max value) times 10, times these tensors' max.
    const rel = Math.max(
      ...await Promise.all(["case1", "case2"].map(async (c) => {
        const all = await goldenJson<Record<string, Record<string, { rel_max: number }>>>(
          `${TINY_SD}/golden/noise_floor.json`,
        );
        return all.unet[`${c}_noise_pred`].rel_max;
      })),
    );
    const ts = [901, 801, 701, 601, 501, 401, 301, 201, 101, 1];
    const hidden = concat(ctx, [neg.hidden, cond.hidden], 0);
    const steps32 = (await golden(FILE, "step_latents")).data;
    for (const i of [0, 4, 9]) {
      const xin = i === 0 ? init.data : steps32.subarray((i - 1) * per, i * per);
      const x = tensor(ctx, xin, init.shape);
      const both = ctx.noGrad(() =>
        sd.unet.forward(ctx, concat(ctx, [x, x], 0), [ts[i], ts[i], ts[i], ts[i]], hidden)
      );
      const got = await both.read();
      const u = got.subarray(0, per),
        c = got.subarray(per),
        eps = u.map((v, j) => v + g.guidance_scale * (c[j] - v));
      for (
        const [name, mine] of [["step_noise_pred_uncond", u], ["step_noise_pred_text", c], [
          "step_noise_pred",
          eps,
        ]] as const
      ) {
        const want = (await golden(FILE, name)).data.subarray(i * per, (i + 1) * per);
        const max = want.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        let worst = 0;
        for (let j = 0; j < per; j++) worst = Math.max(worst, Math.abs(mine[j] - want[j]));
        console.log(
          `  ${name}[${i}]: worst ${worst.toExponential(2)}, limit ${
            (FLOOR_FACTOR * rel * max).toExponential(2)
          }`,
        );
        assertClose(mine, want, `${name}[${i}]`, FLOOR_FACTOR * rel * max, 0);
      }
    }
  });
  sd.dispose();
});

Deno.test("SD folders: what is refused names the file and the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "seppo-sdfolder-" });
  try {
    const copy = async (rel: string) => {
      await Deno.mkdir(`${dir}/${rel.split("/").slice(0, -1).join("/")}`, { recursive: true }).catch(
        () => {},
      );
      await Deno.copyFile(`${TINY_SD}/${rel}`, `${dir}/${rel}`);
    };
    for (
      const f of [
        "model_index.json",
        "unet/config.json",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
      ]
    ) await copy(f);
    await Deno.writeTextFile(`${dir}/unet/diffusion_pytorch_model.bin`, "not read");
    await rejects(
      () => readSdFolder(host, dir),
      /unet: missing diffusion_pytorch_model.safetensors \(only pickled .bin/,
    );
    await copy("unet/diffusion_pytorch_model.safetensors");
    const f = await readSdFolder(host, dir);
    deepStrictEqual([f.unet.tensors.size, f.scheduler.beta_schedule], [494, "scaled_linear"]);
    const index = JSON.parse(await Deno.readTextFile(`${TINY_SD}/model_index.json`));
    const write = (v: unknown) => Deno.writeTextFile(`${dir}/model_index.json`, JSON.stringify(v));
    await write({ ...index, _class_name: "StableDiffusionXLPipeline" });
    await rejects(
      () => readSdFolder(host, dir),
      /_class_name "StableDiffusionXLPipeline" is not StableDiffusionPipeline/,
    );
    await write({ ...index, text_encoder_2: ["transformers", "CLIPTextModelWithProjection"] });
    await rejects(() => readSdFolder(host, dir), /unexpected component text_encoder_2/);
    await write({ ...index, safety_checker: ["stable_diffusion", "StableDiffusionSafetyChecker"] });
    deepStrictEqual((await readSdFolder(host, dir)).ignored, [
      "safety_checker (StableDiffusionSafetyChecker)",
    ]);
    const sched = JSON.parse(await Deno.readTextFile(`${TINY_SD}/scheduler/scheduler_config.json`));
    await Deno.writeTextFile(
      `${dir}/scheduler/scheduler_config.json`,
      JSON.stringify({ ...sched, trained_betas: [0.1] }),
    );
    await rejects(
      () => readSdFolder(host, dir),
      /scheduler_config.json: trained_betas = \[0.1\] is not supported/,
    );
    await Deno.remove(`${dir}/tokenizer/merges.txt`);
    await rejects(() => readSdFolder(host, dir), /tokenizer: missing merges.txt/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("latent save: diffusers' model_index.json and files, weights identical after a reload", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir({ prefix: "seppo-sdsave-" });
  try {
    const sd = await LatentTextToImage.load(ctx, TINY_SD);
    await sd.save(`${dir}/sd`);
    const json = async (p: string) => JSON.parse(await Deno.readTextFile(p));
    deepStrictEqual(await json(`${dir}/sd/model_index.json`), await json(`${TINY_SD}/model_index.json`));
    for (const f of ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]) {
      deepStrictEqual(
        await Deno.readFile(`${dir}/sd/tokenizer/${f}`),
        await Deno.readFile(`${TINY_SD}/tokenizer/${f}`),
      );
    }
    for (const c of ["unet", "vae", "scheduler"]) {
      const name = c === "scheduler" ? "scheduler_config.json" : "config.json";
      deepStrictEqual(
        Object.keys(await json(`${dir}/sd/${c}/${name}`)).sort(),
        Object.keys(await json(`${TINY_SD}/${c}/${name}`)).sort(),
        c,
      );
    }
    const back = await LatentTextToImage.load(ctx, `${dir}/sd`);
    for (const k of ["unet", "vae", "textEncoder"] as const) {
      deepStrictEqual(await back[k].stateDict(), await sd[k].stateDict(), k);
    }
    back.dispose();
    sd.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
