// The text-to-image model as one bundle: word tokenizer, CLIP-like text encoder, UNet and noise
// schedule, saved/loaded as a diffusers-style folder (lib/nn/folder.ts: unet/, text_encoder/,
// tokenizer/, scheduler/). Pad-token masking in cross-attention is a model option (mask_pad_tokens in
// model_index.json): on for the toy models, which were trained that way; off is what diffusers does.
import type { GpuContext } from "../gpu/context.ts";
import { addNoise, epsErrors, trainingTarget } from "../diffusion/noise.ts";
import { type PromptSampleOptions, samplePrompts } from "../diffusion/sampler.ts";
import { NoiseSchedule, type SchedulerConfig, schedulerConfig } from "../diffusion/schedule.ts";
import { assertFinite, loadCheckpoint, type LoadCheckpointOptions } from "../io/checkpoint.ts";
import { readSafetensors, type StTensor } from "../io/safetensors.ts";
import { filled } from "../ops/copy.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import type { PromptTokenizer } from "./clip_tokenizer.ts";
import { maskPadTokensOf, readWordTokenizer, saveBundle } from "./folder.ts";
import { rootInit, type StateEntry } from "./module.ts";
import { TextEncoder, type TextEncoderConfig } from "./text_encoder.ts";
import { BOS, EOS, PAD, WordTokenizer } from "./tokenizer.ts";
import { UNet2DConditionModel } from "./unet.ts";
import { unet2dConfigJson, type UNetConfig, unetConfig } from "./unet_config.ts";

export interface T2IOptions {
  unet?: Partial<UNetConfig>;
  text?: Partial<TextEncoderConfig>;
  scheduler?: Partial<SchedulerConfig>;
  /** Token sequence length (bos + words + eos + pad). */
  maxLength?: number;
  seed?: number;
  tokenizer?: WordTokenizer;
  /** Cross-attention skips padding tokens (default true for the toy models). */
  maskPadTokens?: boolean;
}

/** Encoded prompts: hidden [B, L, D] and the cross-attention key mask [B, L] (pad = 0, or all 1s). */
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
    /** Cross-attention skips padding tokens; false attends to them, as diffusers' pipelines do. */
    readonly maskPadTokens = true,
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
      bos_token_id: BOS,
      eos_token_id: EOS,
      pad_token_id: PAD,
    });
    return new TextToImage(tok, text, unet, schedulerConfig(o.scheduler ?? {}), o.maskPadTokens ?? true);
  }

  /** texts -> hidden states and key mask. Gradients reach the text encoder when it is trainable. */
  encode(ctx: GpuContext, texts: readonly string[]): Encoded {
    return encodePrompts(ctx, this.tokenizer, this.textEncoder, texts, this.maskPadTokens);
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
        unetConfig: unet2dConfigJson(this.unet.config),
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
    const tok = readWordTokenizer(ck.files, dir);
    const unet = new UNet2DConditionModel(
      rootInit(ctx, 0),
      unetConfig(unetC.config, `${dir}/unet/config.json`),
    );
    const text = new TextEncoder(rootInit(ctx, 0), textC.config);
    unet.loadStateDict(entries(unetC.tensors), true, `${dir}/unet/${unetC.weightsFile}`);
    text.loadStateDict(entries(textC.tensors), true, `${dir}/text_encoder/${textC.weightsFile}`);
    const sched = schedulerConfig(
      file("scheduler/scheduler_config.json"),
      `${dir}/scheduler/scheduler_config.json`,
    );
    const mask = maskPadTokensOf(ck.modelIndex, `${dir}/model_index.json`, true);
    return new TextToImage(tok, text, unet, sched, mask);
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

/**
 * texts -> hidden states [B, L, D] and the cross-attention key mask [B, L]: the tokenizer's (pad = 0)
 * with maskPads, else all 1s (every token attended, as diffusers does). Every bundle's encode().
 */
export function encodePrompts(
  ctx: GpuContext,
  tokenizer: PromptTokenizer,
  textEncoder: TextEncoder,
  texts: readonly string[],
  maskPads = true,
  clipSkip = 0,
): Encoded {
  const e = tokenizer.encode(texts);
  const shape = [texts.length, tokenizer.maxLength];
  return {
    hidden: textEncoder.encode(ctx, e.ids, { clipSkip }).hidden,
    mask: maskPads ? tensor(ctx, e.mask, shape) : filled(ctx, shape, 1),
  };
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
