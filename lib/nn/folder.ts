// The toy bundles' folders (TextToImage, TextToVideo) as diffusers lays a pipeline out, written so that
// each component loads with diffusers' / transformers' from_pretrained(dir, subfolder=...):
//   model_index.json   {_class_name: ours, _diffusers_version, mask_pad_tokens, (video) num_frames,
//                       <component>: [library, class]}
//   unet/              config.json with every key diffusers expects + diffusion_pytorch_model.safetensors
//                      (UNetMotionModel: heads as num_attention_heads, the pos_embed.pe buffers included)
//   text_encoder/      CLIPTextConfig (model_type, bos/eos/pad ids) + model.safetensors
//   scheduler/         a full DDIMScheduler config
//   tokenizer/word_tokenizer.json   our word-level tokenizer, listed as ["seppo", "WordTokenizer"]:
//                      not Hugging Face's tokenizer.json name, whose schema it does not follow
// The pipeline class is ours (diffusers has no pixel-space pipeline with a word-level tokenizer), so
// DiffusionPipeline.from_pretrained cannot load the whole folder; docs/OWN_MODEL.md says what can.
import type { NoiseSchedule } from "../diffusion/schedule.ts";
import { ddimSchedulerConfigJson } from "../diffusion/schedule.ts";
import { saveCheckpoint } from "../io/checkpoint.ts";
import type { StInput } from "../io/safetensors.ts";
import type { StateEntry } from "./module.ts";
import { clipTextConfigJson, type TextEncoder } from "./text_encoder.ts";
import { BOS, EOS, PAD, type TokenizerJson, WordTokenizer } from "./tokenizer.ts";
import type { Host } from "../host/host.ts";

export const WORD_TOKENIZER_FILE = "tokenizer/word_tokenizer.json";
/** Where folders written before 0.30-compatible folders kept it (Hugging Face's name, another schema). */
const LEGACY_TOKENIZER_FILE = "tokenizer/tokenizer.json";

/** The word-level tokenizer of a loaded folder (`files`: its plain files by relative path). */
export function readWordTokenizer(files: Record<string, Uint8Array>, dir: string): WordTokenizer {
  for (const rel of [WORD_TOKENIZER_FILE, LEGACY_TOKENIZER_FILE]) {
    const f = files[rel];
    if (!f) continue;
    let j: TokenizerJson;
    try {
      j = JSON.parse(new TextDecoder().decode(f));
    } catch (e) {
      throw new Error(`${dir}/${rel}: malformed JSON: ${(e as Error).message}`);
    }
    return WordTokenizer.fromJSON(j, `${dir}/${rel}`);
  }
  throw new Error(`${dir}: missing ${WORD_TOKENIZER_FILE} (the word-level tokenizer)`);
}

/**
 * model_index.json's mask_pad_tokens: whether cross-attention skips padding tokens. Absent means
 * true for our pipelines (every folder written before the key existed was trained that way) and
 * false for diffusers' (whose UNets attend to padding).
 */
export function maskPadTokensOf(modelIndex: Record<string, unknown>, where: string, dflt: boolean): boolean {
  const v = modelIndex.mask_pad_tokens;
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") {
    throw new Error(`${where}: mask_pad_tokens = ${JSON.stringify(v)} must be true or false`);
  }
  return v;
}

/** What a toy bundle's save() writes. */
export interface ToyBundleParts {
  unet: { stateDict(): Promise<Map<string, StateEntry>> };
  textEncoder: TextEncoder;
  tokenizer: WordTokenizer;
  schedule: NoiseSchedule;
  maskPadTokens: boolean;
}

/** Writes a toy bundle as a diffusers-style folder (atomically, through lib/io/checkpoint.ts). */
export async function saveBundle(
  host: Host,
  dir: string,
  b: ToyBundleParts,
  kind: {
    pipelineClass: string;
    unetClass: string;
    unetConfig: Record<string, unknown>;
    /** Tensors saved beside the parameters (diffusers' persistent buffers). */
    unetBuffers?: StInput[];
    /** Pipeline settings for model_index.json (the video bundle's num_frames). */
    indexKeys?: Record<string, unknown>;
  },
  extraFiles: Record<string, string | Uint8Array>,
  dtype: "F32" | "F16",
) {
  const tensors = async (m: { stateDict(): Promise<Map<string, StateEntry>> }) =>
    [...(await m.stateDict())].map(([name, e]) => ({ name, shape: [...e.shape], data: e.data }));
  // transformers reads the special ids from here (pooling, generation): the word tokenizer's.
  const textConfig = clipTextConfigJson({
    ...b.textEncoder.config,
    bos_token_id: BOS,
    eos_token_id: EOS,
    pad_token_id: PAD,
  });
  await saveCheckpoint(host, dir, {
    modelIndex: {
      _class_name: kind.pipelineClass,
      _diffusers_version: "0.30.3",
      mask_pad_tokens: b.maskPadTokens,
      ...kind.indexKeys,
      scheduler: ["diffusers", "DDIMScheduler"],
      text_encoder: ["transformers", "CLIPTextModel"],
      tokenizer: ["seppo", "WordTokenizer"],
      unet: ["diffusers", kind.unetClass],
    },
    components: {
      unet: { config: kind.unetConfig, tensors: [...await tensors(b.unet), ...(kind.unetBuffers ?? [])] },
      text_encoder: { config: textConfig, tensors: await tensors(b.textEncoder) },
    },
    extraFiles: {
      [WORD_TOKENIZER_FILE]: JSON.stringify(b.tokenizer.toJSON(), null, 1) + "\n",
      "scheduler/scheduler_config.json": JSON.stringify(ddimSchedulerConfigJson(b.schedule.config), null, 2) +
        "\n",
      ...extraFiles,
    },
    dtype,
  });
}
