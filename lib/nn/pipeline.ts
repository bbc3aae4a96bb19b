// The text-to-image model as one bundle: word tokenizer, CLIP-like text encoder, UNet and noise
// schedule, saved/loaded as a diffusers-style folder (unet/, text_encoder/, tokenizer/, scheduler/).
import type { GpuContext } from "../gpu/context.ts";
import type { Host } from "../host/host.ts";
import { addNoise, epsErrors, trainingTarget } from "../diffusion/noise.ts";
import { type PromptSampleOptions, samplePrompts } from "../diffusion/sampler.ts";
import { NoiseSchedule, type SchedulerConfig, schedulerConfig } from "../diffusion/schedule.ts";
import {
  assertFinite,
  loadCheckpoint,
  type LoadCheckpointOptions,
  saveCheckpoint,
} from "../io/checkpoint.ts";
import { readSafetensors, type StTensor } from "../io/safetensors.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { rootInit, type StateEntry } from "./module.ts";
import { TextEncoder, type TextEncoderConfig } from "./text_encoder.ts";
import { type TokenizerJson, WordTokenizer } from "./tokenizer.ts";
import { UNet2DConditionModel } from "./unet.ts";
import { type UNetConfig, unetConfig } from "./unet_config.ts";

export interface T2IOptions {
  unet?: Partial<UNetConfig>;
  text?: Partial<TextEncoderConfig>;
  scheduler?: Partial<SchedulerConfig>;
  /** Token sequence length (bos + words + eos + pad). */
  maxLength?: number;
  seed?: number;
  tokenizer?: WordTokenizer;
}

/** Encoded prompts: hidden [B, L, D] and the cross-attention key mask [B, L] (pad = 0). */
export interface Encoded {
  hidden: Tensor;
  mask: Tensor;
}

export type GenerateOptions = PromptSampleOptions;

export class TextToImage {
  readonly schedule: NoiseSchedule;

  constructor(
    readonly tokenizer: WordTokenizer,
    readonly textEncoder: TextEncoder,
    readonly unet: UNet2DConditionModel,
    scheduler: SchedulerConfig,
  ) {
    this.schedule = new NoiseSchedule(scheduler);
    if (textEncoder.config.hidden_size !== unet.config.cross_attention_dim) {
      throw new Error(
        `text encoder hidden_size ${textEncoder.config.hidden_size} != unet cross_attention_dim ${unet.config.cross_attention_dim}`,
      );
    }
  }

  /** A fresh model: vocabulary from the grammar, text width = the UNet's cross_attention_dim. */
  static create(ctx: GpuContext, o: T2IOptions = {}): TextToImage {
    const seed = o.seed ?? 0;
    const tok = o.tokenizer ?? WordTokenizer.fromGrammar(o.maxLength ?? 16);
    const unet = new UNet2DConditionModel(rootInit(ctx, seed, ""), o.unet ?? {});
    const text = new TextEncoder(rootInit(ctx, seed, ""), {
      hidden_size: unet.config.cross_attention_dim,
      intermediate_size: 4 * unet.config.cross_attention_dim,
      ...o.text,
      vocab_size: tok.size,
      max_position_embeddings: tok.maxLength,
    });
    return new TextToImage(tok, text, unet, schedulerConfig(o.scheduler ?? {}));
  }

  /** texts -> hidden states and key mask. Gradients reach the text encoder when it is trainable. */
  encode(ctx: GpuContext, texts: readonly string[]): Encoded {
    return encodePrompts(ctx, this.tokenizer, this.textEncoder, texts);
  }

  /**
   * Per-example errors e = mean((out_theta(x_t, c, t) - target)^2), target eps or v by the scheduler's
   * prediction_type: x0, eps [B, C, H, W],
   * timesteps B integers, cond from encode(). -> [B] (recorded on the tape when grads are on).
   */
  denoiseErrors(ctx: GpuContext, x0: Tensor, eps: Tensor, timesteps: number[], cond: Encoded): Tensor {
    const xt = addNoise(ctx, this.schedule, x0, eps, timesteps);
    const pred = this.unet.forward(ctx, xt, timesteps, cond.hidden, cond.mask);
    return epsErrors(ctx, pred, trainingTarget(ctx, this.schedule, x0, eps, timesteps));
  }

  /** Images [B, C, H, W] in about [-1, 1] for prompts, one seed per prompt, with CFG (uncond = ""). */
  async generate(
    ctx: GpuContext,
    prompts: readonly string[],
    seeds: readonly number[],
    o: GenerateOptions = {},
  ): Promise<Tensor> {
    const c = this.unet.config;
    return await samplePrompts(
      ctx,
      this.schedule,
      (texts) => this.encode(ctx, texts),
      (x, ts, h, m) => this.unet.forward(ctx, x, ts, h, m),
      prompts,
      seeds,
      [c.in_channels, c.sample_size, c.sample_size],
      o,
    );
  }

  /** Writes a diffusers-style folder (atomically, through lib/io/checkpoint.ts). */
  async save(
    dir: string,
    extraFiles: Record<string, string | Uint8Array> = {},
    dtype: "F32" | "F16" = "F32",
  ) {
    await saveBundle(
      this.unet.ctx.host,
      dir,
      this,
      {
        pipelineClass: "SeppoTextToImagePipeline",
        unetClass: "UNet2DConditionModel",
        unetConfig: { _class_name: "UNet2DConditionModel", ...this.unet.config },
      },
      extraFiles,
      dtype,
    );
  }

  /** Loads a folder written by save() (or a diffusers UNet folder of a supported config). */
  static async load(ctx: GpuContext, path: string, o: LoadCheckpointOptions = {}): Promise<TextToImage> {
    const ck = await loadCheckpoint(ctx.host, path, o);
    const dir = ck.dir;
    const file = (rel: string) => {
      const f = ck.files[rel];
      if (!f) throw new Error(`${dir}: missing ${rel}`);
      return JSON.parse(new TextDecoder().decode(f));
    };
    const unetC = ck.components.unet, textC = ck.components.text_encoder;
    if (!unetC || !textC) throw new Error(`${dir}: needs unet/ and text_encoder/ components`);
    const tok = WordTokenizer.fromJSON(
      file("tokenizer/tokenizer.json") as TokenizerJson,
      `${dir}/tokenizer/tokenizer.json`,
    );
    const unet = new UNet2DConditionModel(rootInit(ctx, 0), unetC.config);
    const text = new TextEncoder(rootInit(ctx, 0), textC.config);
    unet.loadStateDict(entries(unetC.tensors), true, `${dir}/unet/${unetC.weightsFile}`);
    text.loadStateDict(entries(textC.tensors), true, `${dir}/text_encoder/${textC.weightsFile}`);
    const sched = schedulerConfig(
      file("scheduler/scheduler_config.json"),
      `${dir}/scheduler/scheduler_config.json`,
    );
    return new TextToImage(tok, text, unet, sched);
  }

  /** Every parameter of both networks (for the optimizer during pretraining). */
  paramList(): Tensor[] {
    return [...this.unet.paramList(), ...this.textEncoder.paramList()];
  }

  dispose() {
    this.unet.dispose();
    this.textEncoder.dispose();
  }
}

/** texts -> hidden states [B, L, D] and the cross-attention key mask [B, L] (pad = 0): both bundles' encode(). */
export function encodePrompts(
  ctx: GpuContext,
  tokenizer: WordTokenizer,
  textEncoder: TextEncoder,
  texts: readonly string[],
): Encoded {
  const e = tokenizer.encode(texts);
  return {
    hidden: textEncoder.forward(ctx, e.ids),
    mask: tensor(ctx, e.mask, [texts.length, tokenizer.maxLength]),
  };
}

/** What a bundle's save() writes: both networks, tokenizer and scheduler, as a diffusers-style folder. */
export async function saveBundle(
  host: Host,
  dir: string,
  b: {
    unet: { stateDict(): Promise<Map<string, StateEntry>> };
    textEncoder: TextEncoder;
    tokenizer: WordTokenizer;
    schedule: NoiseSchedule;
  },
  kind: { pipelineClass: string; unetClass: string; unetConfig: Record<string, unknown> },
  extraFiles: Record<string, string | Uint8Array>,
  dtype: "F32" | "F16",
) {
  const tensors = async (m: { stateDict(): Promise<Map<string, StateEntry>> }) =>
    [...(await m.stateDict())].map(([name, e]) => ({ name, shape: [...e.shape], data: e.data }));
  await saveCheckpoint(host, dir, {
    modelIndex: {
      _class_name: kind.pipelineClass,
      unet: ["diffusers", kind.unetClass],
      text_encoder: ["transformers", "CLIPTextModel"],
      tokenizer: ["seppo", "WordTokenizer"],
      scheduler: ["diffusers", "DDIMScheduler"],
    },
    components: {
      unet: { config: kind.unetConfig, tensors: await tensors(b.unet) },
      text_encoder: {
        config: { architectures: ["CLIPTextModel"], ...b.textEncoder.config },
        tensors: await tensors(b.textEncoder),
      },
    },
    extraFiles: {
      "tokenizer/tokenizer.json": JSON.stringify(b.tokenizer.toJSON(), null, 1) + "\n",
      "scheduler/scheduler_config.json":
        JSON.stringify({ _class_name: "DDIMScheduler", ...b.schedule.config }, null, 2) + "\n",
      ...extraFiles,
    },
    dtype,
  });
}

function entries(m: Map<string, StTensor>): Map<string, StateEntry> {
  return new Map([...m].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
}

/** Loads a diffusers UNet folder (config.json + diffusion_pytorch_model.safetensors) of a supported config. */
export async function loadUNetFolder(ctx: GpuContext, dir: string): Promise<UNet2DConditionModel> {
  const cfgPath = `${dir}/config.json`;
  const raw = JSON.parse(await ctx.host.fs.readTextFile(cfgPath));
  const unet = new UNet2DConditionModel(rootInit(ctx, 0), unetConfig(raw, cfgPath));
  const file = `${dir}/diffusion_pytorch_model.safetensors`;
  const { tensors } = await readSafetensors(ctx.host, file);
  for (const [name, t] of tensors) assertFinite(file, name, t.data);
  unet.loadStateDict(entries(tensors), true, file);
  return unet;
}
