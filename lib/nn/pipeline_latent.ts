// A Stable Diffusion (1.x / 2.x, epsilon) model as one bundle: CLIP BPE tokenizer, CLIPTextModel, a
// UNet2DConditionModel on latents (optionally with LoRA adapters), the AutoencoderKL and the noise
// schedule, loaded from and saved as a diffusers StableDiffusionPipeline folder (lib/nn/sd_folder.ts).
// Its examples are latents [C, h, w] = scaling_factor * VAE means: the trainer and the samplers work
// on them; decode() turns them into pixels. As diffusers' pipelines, cross-attention attends to
// padding tokens unless mask_pad_tokens is set.
//   generate: text -> CLIP hidden states (clip_skip) -> CFG sampling from x_T (DDIM / DDPM / Euler)
//             -> latents;  generatePixels = decode(generate(...))
import type { GpuContext } from "../gpu/context.ts";
import { addNoise, epsErrors } from "../diffusion/noise.ts";
import { samplePrompts } from "../diffusion/sampler.ts";
import { NoiseSchedule, type SchedulerConfig } from "../diffusion/schedule.ts";
import { saveCheckpoint } from "../io/checkpoint.ts";
import type { StInput, StTensor } from "../io/safetensors.ts";
import { encodeSafetensors } from "../io/safetensors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { ClipTokenizer } from "./clip_tokenizer.ts";
import { maskPadTokensOf } from "./folder.ts";
import { LORA_FILE, type LoraConfig, LoraSet, LoraUNet } from "./lora.ts";
import { rootInit, type StateEntry } from "./module.ts";
import { type Encoded, encodePrompts, type GenerateOptions } from "./pipeline.ts";
import { readSdFolder, writeSdFolder } from "./sd_folder.ts";
import { clipTextConfigJson, TextEncoder, textEncoderConfig } from "./text_encoder.ts";
import { UNet2DConditionModel } from "./unet.ts";
import { unet2dConfigJson, unetConfig } from "./unet_config.ts";
import { AutoencoderKL, vaeConfig, vaeConfigJson, vaeCurrentNames } from "./vae.ts";

/** model_index.json class of a LoRA-only checkpoint (adapters + the base folder they apply to). */
export const LORA_CHECKPOINT = "SeppoLoraCheckpoint";

export interface LatentLoadOptions {
  /** diffusers weights variant ("fp16"). */
  variant?: string;
  /** New trainable adapters on the UNet. */
  lora?: LoraConfig;
  /** Adapters from a pytorch_lora_weights.safetensors file, at `loraScale` (default 1). */
  loraFile?: string;
  loraScale?: number;
  /** Fold a loaded loraFile into the weights (inference: no extra matmuls); default false. */
  mergeLora?: boolean;
  seed?: number;
}

export class LatentTextToImage {
  readonly schedule: NoiseSchedule;

  constructor(
    readonly tokenizer: ClipTokenizer,
    readonly textEncoder: TextEncoder,
    readonly unet: UNet2DConditionModel | LoraUNet,
    readonly vae: AutoencoderKL,
    scheduler: SchedulerConfig,
    readonly o: {
      maskPadTokens?: boolean;
      clipSkip?: number;
      /** The folder this came from (a LoRA checkpoint names it as its base) and its tokenizer files. */
      source?: string;
      tokenizerFiles?: Record<string, string>;
      /** The VAE's weights file (what the latent cache fingerprints). */
      vaeWeights?: string;
    } = {},
  ) {
    this.schedule = new NoiseSchedule(scheduler);
    const c = unet.config;
    if (textEncoder.config.hidden_size !== c.cross_attention_dim) {
      throw new Error(
        `text encoder hidden_size ${textEncoder.config.hidden_size} != unet cross_attention_dim ${c.cross_attention_dim}`,
      );
    }
    if (c.in_channels !== vae.config.latent_channels || c.out_channels !== vae.config.latent_channels) {
      throw new Error(
        `unet in/out channels ${c.in_channels}/${c.out_channels} != vae latent_channels ${vae.config.latent_channels}`,
      );
    }
    if (tokenizer.maxLength > textEncoder.config.max_position_embeddings) {
      throw new Error(
        `tokenizer model_max_length ${tokenizer.maxLength} > text encoder max_position_embeddings ` +
          `${textEncoder.config.max_position_embeddings}`,
      );
    }
  }

  get maskPadTokens(): boolean {
    return this.o.maskPadTokens ?? false;
  }

  /** Image side in pixels (UNet sample_size x the VAE's downscale). */
  get pixelSize(): number {
    return this.unet.config.sample_size * this.vae.downscale;
  }

  /** One example: a latent [C, h, w]. */
  get latentShape(): number[] {
    const c = this.unet.config;
    return [c.in_channels, c.sample_size, c.sample_size];
  }

  /**
   * Loads a diffusers StableDiffusionPipeline folder, or a LoRA checkpoint this toolkit wrote (its
   * model_index.json names the base folder and pytorch_lora_weights.safetensors is beside it).
   */
  static async load(ctx: GpuContext, dir: string, o: LatentLoadOptions = {}): Promise<LatentTextToImage> {
    const idx = JSON.parse(await ctx.host.fs.readTextFile(`${dir}/model_index.json`));
    if (idx._class_name === LORA_CHECKPOINT) {
      if (typeof idx.base !== "string") {
        throw new Error(`${dir}/model_index.json: base must name the base folder`);
      }
      if (o.loraFile) throw new Error(`${dir}: a LoRA checkpoint already has its adapters (${LORA_FILE})`);
      if (o.lora) {
        throw new Error(
          `${dir}: new LoRA adapters on a LoRA checkpoint are not supported (its own checkpoints would ` +
            `name ${idx.base} as their base); train from ${idx.base}, or resume this run`,
        );
      }
      return await LatentTextToImage.load(ctx, idx.base, { ...o, loraFile: `${dir}/${LORA_FILE}` });
    }
    const f = await readSdFolder(ctx.host, dir, { variant: o.variant });
    for (const what of f.ignored) console.warn(`${dir}: ${what} is not loaded (not used here)`);
    const tokenizer = new ClipTokenizer(f.tokenizer);
    const text = new TextEncoder(
      rootInit(ctx, 0),
      textEncoderConfig(f.textEncoder.config, `${dir}/text_encoder/config.json`),
    );
    const unet = new UNet2DConditionModel(
      rootInit(ctx, 0),
      unetConfig(f.unet.config, `${dir}/unet/config.json`),
    );
    const vae = new AutoencoderKL(rootInit(ctx, 0), vaeConfig(f.vae.config, `${dir}/vae/config.json`));
    const load = (
      m: { loadStateDict(e: ReadonlyMap<string, StateEntry>): unknown },
      t: Map<string, StTensor>,
      w: string,
    ) => {
      try {
        m.loadStateDict(t);
      } catch (e) {
        throw new Error(`${w}: ${(e as Error).message}`);
      }
    };
    load(text, f.textEncoder.tensors, `${dir}/text_encoder/${f.textEncoder.weightsFile}`);
    load(unet, f.unet.tensors, `${dir}/unet/${f.unet.weightsFile}`);
    load(
      vae,
      new Map([...f.vae.tensors].map(([k, t]) => [vaeCurrentNames(k), t])),
      `${dir}/vae/${f.vae.weightsFile}`,
    );
    text.setTrainable(false);
    vae.setTrainable(false);
    let net: UNet2DConditionModel | LoraUNet = unet;
    if (o.lora && o.loraFile) throw new Error(`${dir}: give new adapters (lora) or a LoRA file, not both`);
    if (o.loraFile) {
      const set = await LoraSet.load(ctx, unet, o.loraFile);
      if (o.mergeLora) {
        set.merge(ctx, o.loraScale ?? 1);
        set.dispose();
      } else net = new LoraUNet(unet, set, o.loraScale ?? 1);
    }
    if (o.lora) net = new LoraUNet(unet, LoraSet.create(ctx, unet, o.lora, o.seed ?? 0));
    const clip = idx.clip_skip ?? 0;
    if (!Number.isInteger(clip) || clip < 0) {
      throw new Error(`${dir}/model_index.json: clip_skip = ${JSON.stringify(clip)}`);
    }
    return new LatentTextToImage(tokenizer, text, net, vae, f.scheduler, {
      maskPadTokens: maskPadTokensOf(f.modelIndex, `${dir}/model_index.json`, false),
      clipSkip: clip,
      source: dir,
      tokenizerFiles: f.tokenizer.files,
      vaeWeights: `${dir}/vae/${f.vae.weightsFile}`,
    });
  }

  /** texts -> CLIP hidden states [B, 77, D] and the key mask (all 1s unless mask_pad_tokens). */
  encode(ctx: GpuContext, texts: readonly string[]): Encoded {
    return encodePrompts(
      ctx,
      this.tokenizer,
      this.textEncoder,
      texts,
      this.maskPadTokens,
      this.o.clipSkip ?? 0,
    );
  }

  /** Per-example epsilon errors on latents x0, eps [B, C, h, w]: mean((eps_theta(x_t) - eps)^2) -> [B]. */
  denoiseErrors(ctx: GpuContext, x0: Tensor, eps: Tensor, timesteps: number[], cond: Encoded): Tensor {
    const xt = addNoise(ctx, this.schedule, x0, eps, timesteps);
    return epsErrors(ctx, this.unet.forward(ctx, xt, timesteps, cond.hidden, cond.mask), eps);
  }

  /** Latents [B, C, h, w] for prompts, one seed per prompt, with CFG (negative prompts or ""). */
  async generate(
    ctx: GpuContext,
    prompts: readonly string[],
    seeds: readonly number[],
    o: GenerateOptions = {},
  ): Promise<Tensor> {
    return await samplePrompts(
      ctx,
      this.schedule,
      (texts) => this.encode(ctx, texts),
      (x, ts, h, m) => this.unet.forward(ctx, x, ts, h, m),
      prompts,
      seeds,
      this.latentShape,
      o,
    );
  }

  /** Latents [B, C, h, w] -> images [B, 3, H, W] (about [-1, 1], unclamped): vae.decode(z / scaling_factor). */
  decode(ctx: GpuContext, latents: Tensor): Tensor {
    return ctx.noGrad(() => this.vae.decodeLatents(ctx, latents));
  }

  /** Pixels -> latents [B, C, h, w] (scaling_factor x the VAE mean, as diffusers' training script with the mean). */
  encodeImages(ctx: GpuContext, images: Tensor): Tensor {
    return ctx.noGrad(() => this.vae.encodeLatents(ctx, images));
  }

  /** generate() then decode(): images [B, 3, H, W]. */
  async generatePixels(
    ctx: GpuContext,
    prompts: readonly string[],
    seeds: readonly number[],
    o: GenerateOptions = {},
  ): Promise<Tensor> {
    const z = await this.generate(ctx, prompts, seeds, o);
    const x = this.decode(ctx, z);
    z.dispose();
    return x;
  }

  /**
   * Writes a StableDiffusionPipeline folder; with LoRA adapters, a LoRA checkpoint instead (the
   * adapters in diffusers' file format, model_index.json naming the base folder), which diffusers'
   * load_lora_weights(dir) reads on top of the base pipeline.
   */
  async save(
    dir: string,
    extraFiles: Record<string, string | Uint8Array> = {},
    dtype: "F32" | "F16" = "F32",
  ) {
    const ctx = this.textEncoder.ctx;
    if (this.unet instanceof LoraUNet) {
      const set = this.unet.set;
      await saveCheckpoint(ctx.host, dir, {
        modelIndex: {
          _class_name: LORA_CHECKPOINT,
          base: this.o.source ?? null,
          lora_rank: set.rank,
          lora_alpha: set.alpha,
          lora_layers: set.layers.length,
        },
        components: {},
        extraFiles: {
          [LORA_FILE]: encodeSafetensors(await set.fileTensors(ctx), { dtype, metadata: { format: "pt" } }),
          ...extraFiles,
        },
      });
      return;
    }
    if (!this.o.tokenizerFiles) throw new Error(`save: ${dir}: this model has no tokenizer files to write`);
    const tensors = async (m: { stateDict(): Promise<Map<string, StateEntry>> }): Promise<StInput[]> =>
      [...(await m.stateDict())].map(([name, e]) => ({ name, shape: [...e.shape], data: e.data }));
    await writeSdFolder(
      ctx.host,
      dir,
      {
        unet: { config: unet2dConfigJson(this.unet.config), tensors: await tensors(this.unet) },
        vae: { config: vaeConfigJson(this.vae.config), tensors: await tensors(this.vae) },
        textEncoder: {
          config: clipTextConfigJson(this.textEncoder.config),
          tensors: await tensors(this.textEncoder),
        },
        tokenizerFiles: this.o.tokenizerFiles,
        scheduler: this.schedule.config,
        maskPadTokens: this.maskPadTokens,
        clipSkip: this.o.clipSkip ?? 0,
      },
      extraFiles,
      dtype,
    );
  }

  /** The UNet's trainable parameters (the adapters with LoRA). */
  paramList(): Tensor[] {
    return this.unet.paramList();
  }

  dispose() {
    this.unet.dispose();
    if (this.unet instanceof LoraUNet) this.unet.base.dispose();
    this.textEncoder.dispose();
    this.vae.dispose();
  }
}
