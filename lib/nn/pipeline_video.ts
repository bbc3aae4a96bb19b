// The text-to-video model as one bundle, TextToImage's twin: word tokenizer, text encoder, a
// UNetMotionModel and the noise schedule, saved as a diffusers-style folder whose unet/ holds the
// spatial weights and the motion modules together (config _class_name UNetMotionModel; the clip length
// generate() produces is model_index.json's num_frames).
// Clips are [B, F, C, H, W] in about [-1, 1].
import type { GpuContext } from "../gpu/context.ts";
import { addNoise, epsErrors, trainingTarget } from "../diffusion/noise.ts";
import { samplePrompts } from "../diffusion/sampler.ts";
import { NoiseSchedule, type SchedulerConfig, schedulerConfig } from "../diffusion/schedule.ts";
import { loadCheckpoint, type LoadCheckpointOptions } from "../io/checkpoint.ts";
import type { StTensor } from "../io/safetensors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type Module, rootInit, type StateEntry } from "./module.ts";
import { maskPadTokensOf, readWordTokenizer, saveBundle } from "./folder.ts";
import { type Encoded, encodePrompts, type GenerateOptions, TextToImage } from "./pipeline.ts";
import { TextEncoder, type TextEncoderConfig } from "./text_encoder.ts";
import { BOS, EOS, PAD, WordTokenizer } from "./tokenizer.ts";
import {
  diffusersMotionNames,
  motionConfigJson,
  motionPositionBuffers,
  type MotionUNetConfig,
  motionUNetConfig,
  UNetMotionModel,
} from "./unet_motion.ts";

export interface T2VOptions {
  /** UNet2DConditionModel keys plus the motion keys (motion_num_attention_heads, ...). */
  unet?: Partial<MotionUNetConfig>;
  text?: Partial<TextEncoderConfig>;
  scheduler?: Partial<SchedulerConfig>;
  /** Frames per generated clip (default 8, the moving-shapes default). */
  frames?: number;
  maxLength?: number;
  seed?: number;
  tokenizer?: WordTokenizer;
  /** Cross-attention skips padding tokens (default true for the toy models). */
  maskPadTokens?: boolean;
}

export const DEFAULT_FRAMES = 8;

export class TextToVideo {
  readonly schedule: NoiseSchedule;

  constructor(
    readonly tokenizer: WordTokenizer,
    readonly textEncoder: TextEncoder,
    readonly unet: UNetMotionModel,
    scheduler: SchedulerConfig,
    /** Clip length generate() produces. */
    readonly frames: number,
    /** Cross-attention skips padding tokens; false attends to them, as diffusers' pipelines do. */
    readonly maskPadTokens = true,
  ) {
    this.schedule = new NoiseSchedule(scheduler);
    if (textEncoder.config.hidden_size !== unet.config.cross_attention_dim) {
      throw new Error(
        `text encoder hidden_size ${textEncoder.config.hidden_size} != unet cross_attention_dim ${unet.config.cross_attention_dim}`,
      );
    }
    if (!Number.isInteger(frames) || frames < 1 || frames > unet.config.motion_max_seq_length) {
      throw new Error(
        `frames = ${frames}: must be an integer in [1, motion_max_seq_length = ${unet.config.motion_max_seq_length}]`,
      );
    }
  }

  /** A fresh model; with the same seed its spatial weights equal TextToImage.create's. */
  static create(ctx: GpuContext, o: T2VOptions = {}): TextToVideo {
    const seed = o.seed ?? 0;
    const tok = o.tokenizer ?? WordTokenizer.fromGrammar(o.maxLength ?? 16);
    const unet = new UNetMotionModel(rootInit(ctx, seed, ""), o.unet ?? {});
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
    return new TextToVideo(
      tok,
      text,
      unet,
      schedulerConfig(o.scheduler ?? {}),
      o.frames ?? DEFAULT_FRAMES,
      o.maskPadTokens ?? true,
    );
  }

  /**
   * AnimateDiff's starting point: copies of the image model's UNet and text encoder weights, fresh
   * motion modules (proj_out = 0, so the result equals `t2i` applied frame by frame), same tokenizer
   * and schedule. `t2i` stays usable and owned by the caller. `motion` sets the motion keys.
   */
  static fromImageModel(
    ctx: GpuContext,
    t2i: TextToImage,
    frames: number,
    o: { seed?: number; motion?: Partial<MotionUNetConfig> } = {},
  ): TextToVideo {
    const unet = new UNetMotionModel(rootInit(ctx, o.seed ?? 0, ""), { ...t2i.unet.config, ...o.motion });
    copyParams(ctx, t2i.unet, unet.unet, "unet");
    const text = new TextEncoder(rootInit(ctx, 0), t2i.textEncoder.config);
    copyParams(ctx, t2i.textEncoder, text, "text_encoder");
    return new TextToVideo(t2i.tokenizer, text, unet, { ...t2i.schedule.config }, frames, t2i.maskPadTokens);
  }

  /** texts -> hidden states [B, L, D] and key mask [B, L] (shared by a clip's frames). */
  encode(ctx: GpuContext, texts: readonly string[]): Encoded {
    return encodePrompts(ctx, this.tokenizer, this.textEncoder, texts, this.maskPadTokens);
  }

  /**
   * Per-example epsilon errors, mean over frames and pixels: x0, eps [B, F, C, H, W], timesteps B
   * integers (one per clip), cond from encode(). -> [B] (recorded on the tape when grads are on).
   */
  denoiseErrors(ctx: GpuContext, x0: Tensor, eps: Tensor, timesteps: number[], cond: Encoded): Tensor {
    if (x0.shape.length !== 5) throw new Error(`denoiseErrors: x0 ${x0.describe()} is not [B, F, C, H, W]`);
    const xt = addNoise(ctx, this.schedule, x0, eps, timesteps);
    const pred = this.unet.forward(ctx, xt, timesteps, cond.hidden, cond.mask);
    return epsErrors(ctx, pred, trainingTarget(ctx, this.schedule, x0, eps, timesteps));
  }

  /**
   * Clips [B, F, C, H, W] for prompts, one seed per prompt, with CFG (uncond = ""). Example i starts
   * from noise stream (seeds[i]) of shape [F, C, H, W], so a clip does not depend on its batch.
   */
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
      [this.frames, c.in_channels, c.sample_size, c.sample_size],
      o,
    );
  }

  /** Writes a diffusers-style folder (atomically): unet/ holds spatial and motion weights. */
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
        pipelineClass: "SeppoTextToVideoPipeline",
        unetClass: "UNetMotionModel",
        unetConfig: motionConfigJson(this.unet.config),
        indexKeys: { num_frames: this.frames },
        // Exact F32 tables even in an F16 checkpoint: diffusers uses the stored values.
        unetBuffers: motionPositionBuffers(this.unet).map((t) => ({ ...t, writeAs: "F32" as const })),
      },
      extraFiles,
      dtype,
    );
  }

  /**
   * Loads a folder written by save(). An image checkpoint (unet _class_name UNet2DConditionModel) is
   * lifted as fromImageModel does, with `frames` (default 8) and fresh motion modules. Motion weights
   * under the original AnimateDiff names load too.
   */
  static async load(
    ctx: GpuContext,
    path: string,
    o: { frames?: number } & LoadCheckpointOptions = {},
  ): Promise<TextToVideo> {
    const ck = await loadCheckpoint(ctx.host, path, o);
    const dir = ck.dir;
    const unetC = ck.components.unet;
    if (!unetC || !ck.components.text_encoder) {
      throw new Error(`${dir}: needs unet/ and text_encoder/ components`);
    }
    if (unetC.config._class_name !== "UNetMotionModel") {
      const t2i = await TextToImage.load(ctx, dir, o);
      try {
        return TextToVideo.fromImageModel(ctx, t2i, o.frames ?? DEFAULT_FRAMES);
      } finally {
        t2i.dispose();
      }
    }
    const file = (rel: string) => {
      const f = ck.files[rel];
      if (!f) throw new Error(`${dir}: missing ${rel}`);
      return JSON.parse(new TextDecoder().decode(f));
    };
    const tok = readWordTokenizer(ck.files, dir);
    const where = `${dir}/unet/config.json`;
    const unet = new UNetMotionModel(rootInit(ctx, 0), motionUNetConfig(unetC.config, where));
    const text = new TextEncoder(rootInit(ctx, 0), ck.components.text_encoder.config);
    unet.loadStateDict(
      diffusersMotionNames(entries(unetC.tensors)),
      true,
      `${dir}/unet/${unetC.weightsFile}`,
    );
    const textC = ck.components.text_encoder;
    text.loadStateDict(entries(textC.tensors), true, `${dir}/text_encoder/${textC.weightsFile}`);
    const sched = schedulerConfig(
      file("scheduler/scheduler_config.json"),
      `${dir}/scheduler/scheduler_config.json`,
    );
    // model_index.json's num_frames; folders written before kept it in unet/config.json.
    const inIndex = ck.modelIndex.num_frames !== undefined;
    const saved = inIndex ? ck.modelIndex.num_frames : unetC.config.num_frames;
    if (saved !== undefined && (typeof saved !== "number" || !Number.isInteger(saved))) {
      const at = inIndex ? `${dir}/model_index.json` : where;
      throw new Error(`${at}: num_frames = ${JSON.stringify(saved)} must be an integer`);
    }
    return new TextToVideo(
      tok,
      text,
      unet,
      sched,
      o.frames ?? (saved as number | undefined) ?? DEFAULT_FRAMES,
      maskPadTokensOf(ck.modelIndex, `${dir}/model_index.json`, true),
    );
  }

  /** Every parameter of both networks (spatial, motion and text), for the optimizer. */
  paramList(): Tensor[] {
    return [...this.unet.paramList(), ...this.textEncoder.paramList()];
  }

  /** Motion-module parameters only (AnimateDiff trains these with the image model frozen). */
  motionParamList(): Tensor[] {
    const p = this.unet.parameters();
    return this.unet.motionParamNames().map((k) => p.get(k)!);
  }

  dispose() {
    this.unet.dispose();
    this.textEncoder.dispose();
  }
}

/** Copies every parameter of `src` into the same-named one of `dst` on the GPU (no readback). */
function copyParams(ctx: GpuContext, src: Module, dst: Module, what: string) {
  const d = dst.parameters(), s = src.parameters();
  const problems = [...d.keys()].filter((k) => !s.has(k)).map((k) => `missing ${k}`);
  for (const [k, t] of s) {
    const u = d.get(k);
    if (!u) problems.push(`unexpected ${k}`);
    else if (u.size !== t.size) problems.push(`${k}: ${t.describe()} vs ${u.describe()}`);
  }
  if (problems.length) throw new Error(`fromImageModel: ${what}: ${problems.slice(0, 8).join("; ")}`);
  // Encoded in order with later work; host writes flush first, so a freed source stays safe.
  for (const [k, t] of s) ctx.copyBuffer(t.buffer, 0, d.get(k)!.buffer, 0, t.size * 4);
}

function entries(m: Map<string, StTensor>): Map<string, StateEntry> {
  return new Map([...m].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
}
