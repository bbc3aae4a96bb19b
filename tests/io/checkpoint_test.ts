// Checkpoint folders: layout and round trip (F32 exact, F16 rounded), overwrite without debris,
// crash leftovers (tmp folders ignored by latestCheckpoint and cleaned; `.old` restored), failed saves
// that keep the previous checkpoint, and load errors naming the folder and the missing/bad file.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkpointDir,
  cleanCheckpointLeftovers,
  latestCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "../../lib/io/checkpoint.ts";
import { f16ToF32, f32ToF16 } from "../../lib/io/f16.ts";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import { host } from "../_helpers.ts";

const unetConfig = { _class_name: "UNet2DConditionModel", block_out_channels: [8, 16], sample_size: 16 };

function sample(scale = 1): SaveCheckpointOptions {
  return {
    components: {
      unet: {
        config: unetConfig,
        tensors: [
          {
            name: "down_blocks.0.resnets.0.conv1.weight",
            shape: [2, 1, 1, 3],
            data: Float32Array.of(0.1, -0.2, 0.3, 1e-5, 5, -6).map((v) => v * scale),
          },
          { name: "conv_in.bias", shape: [2], data: Float32Array.of(1, 2) },
        ],
      },
      text_encoder: {
        config: { hidden_size: 4 },
        tensors: [{ name: "embeddings.weight", shape: [1, 4], data: Float32Array.of(1, 2, 3, 4) }],
      },
      vae: {
        config: { latent_channels: 1 },
        tensors: [{ name: "w", shape: [1], data: Float32Array.of(7) }],
        weightsName: "weights.safetensors",
      },
    },
    modelIndex: {
      _class_name: "StableDiffusionPipeline",
      unet: ["diffusers", "UNet2DConditionModel"],
      text_encoder: ["transformers", "CLIPTextModel"],
      vae: ["diffusers", "AutoencoderKL"],
      scheduler: ["diffusers", "DDIMScheduler"],
      safety_checker: [null, null],
    },
    extraFiles: {
      "scheduler/scheduler_config.json": '{"num_train_timesteps": 1000}\n',
      "run.yaml": "seed: 3\n",
      "tokenizer/vocab.bin": Uint8Array.of(0, 255, 7),
    },
    metadata: { step: "100" },
  };
} // deno-fmt-ignore

async function tree(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(root, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(...(e.isDirectory ? await tree(root, rel) : [rel]));
  }
  return out.sort();
}

const ls = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

Deno.test("round trip: diffusers layout, configs, metadata, extra files, F32 exact and F16 rounded", async () => {
  const run = await Deno.makeTempDir({ prefix: "seppo-ckpt-" });
  const dir = checkpointDir(run, 100);
  await saveCheckpoint(host, dir, sample());
  assert.deepEqual(await tree(dir), [
    "model_index.json",
    "run.yaml",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/vocab.bin",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/weights.safetensors",
  ]);
  assert.deepEqual(await ls(run), ["checkpoint-100"]);
  const ck = await loadCheckpoint(host, dir);
  assert.deepEqual(ck.modelIndex, sample().modelIndex);
  assert.deepEqual(Object.keys(ck.components).sort(), ["text_encoder", "unet", "vae"]);
  const unet = ck.components.unet;
  assert.deepEqual(unet.config, unetConfig);
  assert.equal(unet.weightsFile, "diffusion_pytorch_model.safetensors");
  assert.equal(unet.metadata.format, "pt");
  assert.equal(unet.metadata.seppo_format_version, "1");
  assert.equal(unet.metadata.step, "100");
  assert.deepEqual(JSON.parse(unet.metadata.config), unetConfig);
  const w = unet.tensors.get("down_blocks.0.resnets.0.conv1.weight")!;
  assert.deepEqual(w.shape, [2, 1, 1, 3]);
  assert.deepEqual(w.data, sample().components.unet.tensors[0].data);
  assert.equal(ck.components.vae.weightsFile, "weights.safetensors");
  assert.deepEqual(Object.keys(ck.files), [
    "run.yaml",
    "scheduler/scheduler_config.json",
    "tokenizer/vocab.bin",
  ]);
  assert.equal(new TextDecoder().decode(ck.files["run.yaml"]), "seed: 3\n");
  assert.deepEqual(ck.files["tokenizer/vocab.bin"], Uint8Array.of(0, 255, 7));

  await saveCheckpoint(host, dir, { ...sample(), dtype: "F16" });
  const half = (await loadCheckpoint(host, dir)).components.unet.tensors.get(
    "down_blocks.0.resnets.0.conv1.weight",
  )!;
  assert.equal(half.dtype, "F16");
  assert.deepEqual(half.data, f16ToF32(f32ToF16(sample().components.unet.tensors[0].data)));
  assert.notDeepEqual(half.data, sample().components.unet.tensors[0].data); // 0.1 is not an f16
  await Deno.remove(run, { recursive: true });
});

Deno.test("overwriting replaces the whole folder and leaves no .old or .tmp behind", async () => {
  const run = await Deno.makeTempDir({ prefix: "seppo-ckpt-" });
  const dir = checkpointDir(run, 5);
  await saveCheckpoint(host, dir, sample());
  const next = sample(2);
  delete next.extraFiles!["run.yaml"];
  await saveCheckpoint(host, dir, next);
  assert.deepEqual(await ls(run), ["checkpoint-5"]);
  const ck = await loadCheckpoint(host, dir);
  assert.ok(!("run.yaml" in ck.files), "a file of the previous save survived the overwrite");
  assert.deepEqual(
    ck.components.unet.tensors.get("down_blocks.0.resnets.0.conv1.weight")!.data,
    next.components.unet.tensors[0].data,
  );
  await Deno.remove(run, { recursive: true });
}); // deno-fmt-ignore

Deno.test("crash leftovers: tmp folders and incomplete folders are ignored, then cleaned", async () => {
  const run = await Deno.makeTempDir({ prefix: "seppo-ckpt-" });
  assert.equal(await latestCheckpoint(host, join(run, "nope")), null);
  assert.equal(await latestCheckpoint(host, run), null);
  await saveCheckpoint(host, checkpointDir(run, 100), sample());
  await saveCheckpoint(host, checkpointDir(run, 20), sample());
  // A save of step 300 killed half-way, and a step-250 folder without model_index.json.
  const crashed = `${checkpointDir(run, 300)}.tmp-99999`;
  await Deno.mkdir(join(crashed, "unet"), { recursive: true });
  await Deno.writeTextFile(join(crashed, "unet", "config.json"), "{}");
  await Deno.mkdir(join(checkpointDir(run, 250), "unet"), { recursive: true });
  assert.deepEqual(await latestCheckpoint(host, run), { dir: checkpointDir(run, 100), step: 100 });
  // Saving that step again first removes the debris of its crashed save.
  await saveCheckpoint(host, checkpointDir(run, 300), sample());
  assert.deepEqual(await ls(run), ["checkpoint-100", "checkpoint-20", "checkpoint-250", "checkpoint-300"]);
  assert.deepEqual(await latestCheckpoint(host, run), { dir: checkpointDir(run, 300), step: 300 });

  // cleanCheckpointLeftovers: tmp removed; `.old` restored when the crash hit between the renames,
  // removed when the folder exists; unrelated folders left alone.
  await Deno.mkdir(`${checkpointDir(run, 400)}.tmp-12345`);
  await Deno.rename(checkpointDir(run, 300), `${checkpointDir(run, 300)}.old`);
  await saveCheckpoint(host, `${checkpointDir(run, 100)}.old`, sample());
  await Deno.mkdir(join(run, "notes.tmp-1"));
  assert.deepEqual(await latestCheckpoint(host, run), { dir: checkpointDir(run, 100), step: 100 });
  const done = await cleanCheckpointLeftovers(host, run);
  assert.deepEqual(done, [
    `removed ${checkpointDir(run, 100)}.old`,
    `restored ${checkpointDir(run, 300)} from ${checkpointDir(run, 300)}.old`,
    `removed ${checkpointDir(run, 400)}.tmp-12345`,
  ]);
  assert.deepEqual(await ls(run), ["checkpoint-100", "checkpoint-20", "checkpoint-250", "checkpoint-300", "notes.tmp-1"]);
  assert.deepEqual(await latestCheckpoint(host, run), { dir: checkpointDir(run, 300), step: 300 });
  await loadCheckpoint(host, checkpointDir(run, 300));
  await Deno.remove(run, { recursive: true });
}); // deno-fmt-ignore

Deno.test("a failed save keeps the previous checkpoint and leaves no temp folder", async () => {
  const run = await Deno.makeTempDir({ prefix: "seppo-ckpt-" });
  const dir = checkpointDir(run, 7);
  await saveCheckpoint(host, dir, sample());
  const before = await tree(dir);
  const bad = sample(3);
  // The third component is broken, so the first two were already written into the temp folder.
  bad.components.vae.tensors[0].shape = [2];
  await assert.rejects(saveCheckpoint(host, dir, bad), (e: Error) => {
    assert.equal(e.message, `${join(dir, "vae", "weights.safetensors")}: tensor "w": shape [2] has 2 elements, data has 1`);
    return true;
  });
  const overflow = { ...sample(1e6), dtype: "F16" as const };
  await assert.rejects(saveCheckpoint(host, dir, overflow), /unet\/diffusion_pytorch_model\.safetensors: tensor "down_blocks.0.resnets.0.conv1.weight": value .* overflows F16/);
  await assert.rejects(saveCheckpoint(host, dir, { ...sample(), extraFiles: { "../escape.txt": "x" } }), /extra file "\.\.\/escape\.txt": expected a relative path/);
  await assert.rejects(saveCheckpoint(host, dir, { ...sample(), extraFiles: { "unet/config.json": "{}" } }), /unet\/config\.json: written twice/);
  await assert.rejects(saveCheckpoint(host, dir, { ...sample(), metadata: { config: "x" } }), /metadata "config" is reserved/);
  assert.deepEqual(await ls(run), ["checkpoint-7"]);
  assert.deepEqual(await tree(dir), before);
  assert.deepEqual((await loadCheckpoint(host, dir)).components.vae.tensors.get("w")!.data, Float32Array.of(7));
  await Deno.remove(run, { recursive: true });
}); // deno-fmt-ignore

const unetWeights = (d: string) => join(d, "unet", "diffusion_pytorch_model.safetensors");

async function dropLastBytes(path: string, n: number) {
  await Deno.truncate(path, (await Deno.stat(path)).size - n);
}

/** Re-encodes a weights file with seppo_format_version "9" (a file from a future toolkit). */
async function rewriteVersion(path: string) {
  const { tensors, metadata } = await readSafetensors(host, path);
  await writeSafetensors(host, path, [...tensors.values()], {
    metadata: { ...metadata, seppo_format_version: "9" },
  });
}

Deno.test("load errors name the folder and the missing or bad file", async () => {
  const run = await Deno.makeTempDir({ prefix: "seppo-ckpt-" });
  const cases: [string, (dir: string) => Promise<void>, (dir: string) => string][] = [
    ["no folder", (d) => Deno.remove(d, { recursive: true }), (d) => `${d}: checkpoint folder not found`],
    [
      "no model_index",
      (d) => Deno.remove(join(d, "model_index.json")),
      (d) => `${d}: missing model_index.json (not a checkpoint folder, or an incomplete one)`,
    ],
    [
      "bad model_index",
      (d) => Deno.writeTextFile(join(d, "model_index.json"), "{oops"),
      (d) => `${join(d, "model_index.json")}: malformed JSON: `,
    ],
    [
      "model_index not an object",
      (d) => Deno.writeTextFile(join(d, "model_index.json"), "[1]"),
      (d) => `${join(d, "model_index.json")}: expected a JSON object, got [1]`,
    ],
    [
      "listed folder missing",
      (d) => Deno.remove(join(d, "vae"), { recursive: true }),
      (d) => `${d}: missing folder "vae/" (or it is empty), listed in model_index.json`,
    ],
    [
      "no config.json",
      (d) => Deno.remove(join(d, "unet", "config.json")),
      (d) => `${join(d, "unet")}: missing config.json next to diffusion_pytorch_model.safetensors`,
    ],
    [
      "no weights",
      (d) => Deno.remove(join(d, "text_encoder", "model.safetensors")),
      (d) => `${join(d, "text_encoder")}: missing weights file (expected model.safetensors)`,
    ],
    [
      "two weights",
      (d) => Deno.writeFile(join(d, "vae", "model.safetensors"), new Uint8Array(8)),
      (d) => `${join(d, "vae")}: several weights files (model.safetensors, weights.safetensors)`,
    ],
    [
      "bad config.json",
      (d) => Deno.writeTextFile(join(d, "unet", "config.json"), "nope"),
      (d) => `${join(d, "unet", "config.json")}: malformed JSON: `,
    ],
    [
      "truncated weights",
      (d) => dropLastBytes(unetWeights(d), 4),
      (d) =>
        `${
          unetWeights(d)
        }: tensor "down_blocks.0.resnets.0.conv1.weight": data_offsets [8, 32] past the end of the data buffer (28 bytes)`,
    ],
    [
      "newer format",
      (d) => rewriteVersion(unetWeights(d)),
      (d) => `${unetWeights(d)}: seppo_format_version 9 is newer than 1`,
    ],
  ]; // deno-fmt-ignore
  for (const [label, damage, want] of cases) {
    const dir = join(run, label.replaceAll(" ", "_"));
    await saveCheckpoint(host, dir, sample());
    await damage(dir);
    await assert.rejects(loadCheckpoint(host, dir), (e: Error) => {
      assert.ok(e.message.startsWith(want(dir)), `${label}:\n  got  ${e.message}\n  want ${want(dir)}`);
      return true;
    });
  }
  await Deno.remove(run, { recursive: true });
});
