// Stable Diffusion 1.x / 2.x folders as diffusers' StableDiffusionPipeline.save_pretrained writes them:
//   model_index.json   {_class_name: "StableDiffusionPipeline", unet, vae, text_encoder, tokenizer,
//                       scheduler, safety_checker, feature_extractor, image_encoder, requires_safety_checker}
//   unet/  vae/        config.json + diffusion_pytorch_model.safetensors
//   text_encoder/      config.json + model.safetensors (transformers' CLIPTextModel)
//   tokenizer/         vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json
//   scheduler/         scheduler_config.json (any scheduler class: its beta schedule is what is read)
// Reading takes only these components (a safety checker's weights are never loaded) and only
// safetensors (pickled .bin files are refused: convert them first). Writing gives the same layout,
// with a full DDIMScheduler config, so diffusers' from_pretrained loads what this toolkit trains.
import { basename, join } from "node:path";
import { type SchedulerConfig, schedulerConfig } from "../diffusion/schedule.ts";
import { ddimSchedulerConfigJson } from "../diffusion/schedule.ts";
import { type ComponentInput, saveCheckpoint } from "../io/checkpoint.ts";
import { readSafetensors, type StInput, type StTensor } from "../io/safetensors.ts";
import type { ClipTokenizerFiles } from "./clip_tokenizer.ts";
import type { Host } from "../host/host.ts";

export const SD_PIPELINE = "StableDiffusionPipeline";
/** The components read; the rest of a diffusers index (safety checker, feature extractor) is ignored. */
const EXPECTED: Record<string, [string, string[]]> = {
  unet: ["diffusers", ["UNet2DConditionModel"]],
  vae: ["diffusers", ["AutoencoderKL"]],
  text_encoder: ["transformers", ["CLIPTextModel"]],
  tokenizer: ["transformers", ["CLIPTokenizer", "CLIPTokenizerFast"]],
};
const IGNORED_COMPONENTS = ["safety_checker", "feature_extractor", "image_encoder"];
const TOKENIZER_FILES = ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"];

export interface SdComponent {
  config: Record<string, unknown>;
  tensors: Map<string, StTensor>;
  weightsFile: string;
}

export interface SdFolder {
  dir: string;
  modelIndex: Record<string, unknown>;
  unet: SdComponent;
  vae: SdComponent;
  textEncoder: SdComponent;
  tokenizer: ClipTokenizerFiles & { files: Record<string, string> };
  scheduler: SchedulerConfig;
  /** What was left out, for the log (e.g. "safety_checker (StableDiffusionSafetyChecker)"). */
  ignored: string[];
}

async function readJson(host: Host, path: string): Promise<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(await host.fs.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: ${e instanceof SyntaxError ? "malformed JSON: " : ""}${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error(`${path}: expected a JSON object`);
  }
  return v as Record<string, unknown>;
}

/** Is `dir` a diffusers StableDiffusionPipeline folder (by its model_index.json)? */
export async function isSdFolder(host: Host, dir: string): Promise<boolean> {
  const idx = await readJson(host, join(dir, "model_index.json")).catch(() => null);
  return idx?._class_name === SD_PIPELINE;
}

async function component(
  host: Host,
  dir: string,
  name: string,
  weights: string,
  variant?: string,
): Promise<SdComponent> {
  const where = join(dir, name);
  const file = variant ? weights.replace(/\.safetensors$/, `.${variant}.safetensors`) : weights;
  const path = join(where, file);
  const exists = await host.fs.stat(path).then(() => true).catch(() => false);
  if (!exists) {
    const names: string[] = [];
    try {
      for await (const e of host.fs.readDir(where)) names.push(e.name);
    } catch { /* no such folder: the message below says what is missing */ }
    const hint = names.some((n) => /-\d{5}-of-\d{5}\.safetensors$/.test(n))
      ? " (sharded weights are not supported: save them as one file)"
      : names.some((n) => n.endsWith(".bin"))
      ? " (only pickled .bin weights are there: convert them to safetensors first)"
      : names.some((n) => n.endsWith(".safetensors"))
      ? ` (it has ${names.filter((n) => n.endsWith(".safetensors")).join(", ")}: pick one with --variant)`
      : "";
    throw new Error(`${where}: missing ${file}${hint}`);
  }
  const config = await readJson(host, join(where, "config.json"));
  // transformers' int64 position_ids buffer (SD-1.5's text encoder) is a constant, not a weight.
  const { tensors } = await readSafetensors(host, path, {
    skip: (k) => k.endsWith("embeddings.position_ids"),
  });
  return { config, tensors, weightsFile: basename(path) };
}

/**
 * Reads the parts of a StableDiffusionPipeline folder this toolkit runs. `variant`: diffusers'
 * weights variant ("fp16" reads diffusion_pytorch_model.fp16.safetensors and model.fp16.safetensors).
 */
export async function readSdFolder(host: Host, dir: string, o: { variant?: string } = {}): Promise<SdFolder> {
  const indexPath = join(dir, "model_index.json");
  const modelIndex = await readJson(host, indexPath);
  if (modelIndex._class_name !== SD_PIPELINE) {
    throw new Error(
      `${indexPath}: _class_name ${JSON.stringify(modelIndex._class_name)} is not ${SD_PIPELINE} ` +
        `(SDXL, SD3 and other pipelines are not supported)`,
    );
  }
  const ignored: string[] = [];
  for (const [k, v] of Object.entries(modelIndex)) {
    if (
      k.startsWith("_") || k === "requires_safety_checker" || k === "mask_pad_tokens" || k === "clip_skip"
    ) continue;
    if (IGNORED_COMPONENTS.includes(k)) {
      if (Array.isArray(v) && v[1] !== null) ignored.push(`${k} (${v[1]})`);
      continue;
    }
    if (k === "scheduler") {
      if (!Array.isArray(v) || typeof v[1] !== "string" || !v[1].endsWith("Scheduler")) {
        throw new Error(`${indexPath}: scheduler = ${JSON.stringify(v)} is not a diffusers scheduler`);
      }
      continue;
    }
    const want = EXPECTED[k];
    if (!want) throw new Error(`${indexPath}: unexpected component ${k} = ${JSON.stringify(v)}`);
    if (!Array.isArray(v) || v[0] !== want[0] || !want[1].includes(v[1])) {
      throw new Error(
        `${indexPath}: ${k} = ${JSON.stringify(v)}, expected ["${want[0]}", "${want[1].join('" or "')}"]`,
      );
    }
  }
  for (const k of [...Object.keys(EXPECTED), "scheduler"]) {
    if (!(k in modelIndex)) throw new Error(`${indexPath}: missing component ${k}`);
  }
  const tokDir = join(dir, "tokenizer");
  const files: Record<string, string> = {};
  for (const f of TOKENIZER_FILES) {
    const text = await host.fs.readTextFile(join(tokDir, f)).catch(() => null);
    if (text !== null) files[f] = text;
  }
  for (const f of ["vocab.json", "merges.txt"]) {
    if (!(f in files)) throw new Error(`${tokDir}: missing ${f} (CLIP's BPE files)`);
  }
  const schedPath = join(dir, "scheduler", "scheduler_config.json");
  return {
    dir,
    modelIndex,
    unet: await component(host, dir, "unet", "diffusion_pytorch_model.safetensors", o.variant),
    vae: await component(host, dir, "vae", "diffusion_pytorch_model.safetensors", o.variant),
    textEncoder: await component(host, dir, "text_encoder", "model.safetensors", o.variant),
    tokenizer: {
      vocab: files["vocab.json"],
      merges: files["merges.txt"],
      config: files["tokenizer_config.json"],
      where: tokDir,
      files,
    },
    scheduler: schedulerConfig(await readJson(host, schedPath), schedPath),
    ignored,
  };
}

/** The parts writeSdFolder needs, as host data. */
export interface SdFolderParts {
  unet: { config: Record<string, unknown>; tensors: StInput[] };
  vae: { config: Record<string, unknown>; tensors: StInput[] };
  textEncoder: { config: Record<string, unknown>; tensors: StInput[] };
  tokenizerFiles: Record<string, string>;
  scheduler: SchedulerConfig;
  /** This toolkit's options; written only when not diffusers' behaviour. */
  maskPadTokens: boolean;
  clipSkip: number;
}

/** Writes a StableDiffusionPipeline folder atomically (model_index.json as diffusers 0.30 writes it). */
export async function writeSdFolder(
  host: Host,
  dir: string,
  p: SdFolderParts,
  extraFiles: Record<string, string | Uint8Array>,
  dtype: "F32" | "F16",
) {
  const comp = (c: SdFolderParts["unet"], weightsName: string): ComponentInput => ({
    config: c.config,
    tensors: c.tensors,
    weightsName,
  });
  const tokenizer: Record<string, string> = {};
  for (const [f, text] of Object.entries(p.tokenizerFiles)) tokenizer[`tokenizer/${f}`] = text;
  await saveCheckpoint(host, dir, {
    modelIndex: {
      _class_name: SD_PIPELINE,
      _diffusers_version: "0.30.3",
      ...(p.clipSkip ? { clip_skip: p.clipSkip } : {}),
      feature_extractor: [null, null],
      image_encoder: [null, null],
      ...(p.maskPadTokens ? { mask_pad_tokens: true } : {}),
      requires_safety_checker: false,
      safety_checker: [null, null],
      scheduler: ["diffusers", "DDIMScheduler"],
      text_encoder: ["transformers", "CLIPTextModel"],
      tokenizer: ["transformers", "CLIPTokenizer"],
      unet: ["diffusers", "UNet2DConditionModel"],
      vae: ["diffusers", "AutoencoderKL"],
    },
    components: {
      unet: comp(p.unet, "diffusion_pytorch_model.safetensors"),
      vae: comp(p.vae, "diffusion_pytorch_model.safetensors"),
      text_encoder: comp(p.textEncoder, "model.safetensors"),
    },
    extraFiles: {
      ...tokenizer,
      "scheduler/scheduler_config.json": JSON.stringify(ddimSchedulerConfigJson(p.scheduler), null, 2) + "\n",
      ...extraFiles,
    },
    dtype,
  });
}
