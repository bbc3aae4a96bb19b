// The few places where text-to-image (pixels or latents) and text-to-video differ for a trainer that
// works on all of them: which bundle to load, the shape of one example, its pixel size, pixels from
// examples, and a frozen copy of the UNet (a reference model) that shares the bundle's text encoder
// (and VAE, and with LoRA the base UNet itself). Everything else (encode, generate, save,
// unet.forward, unet.parameters) has the same signature on every bundle.
import type { GpuContext } from "../gpu/context.ts";
import { resolveCheckpoint } from "../io/checkpoint.ts";
import type { GenerateOptions } from "./pipeline.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type LoraConfig, LoraSet, LoraUNet } from "./lora.ts";
import { rootInit } from "./module.ts";
import { TextToImage } from "./pipeline.ts";
import { LatentTextToImage, LORA_CHECKPOINT } from "./pipeline_latent.ts";
import { TextToVideo } from "./pipeline_video.ts";
import { SD_PIPELINE } from "./sd_folder.ts";
import { UNet2DConditionModel } from "./unet.ts";
import { UNetMotionModel } from "./unet_motion.ts";
import type { Host } from "../host/host.ts";

export type Bundle = TextToImage | TextToVideo | LatentTextToImage;
/** What image sampling and evaluation take. */
export type ImageModel = TextToImage | LatentTextToImage;

/** Is `dir` a diffusers StableDiffusionPipeline folder, or a LoRA checkpoint on one? */
export async function isLatentFolder(host: Host, dir: string): Promise<boolean> {
  const idx = await host.fs.readTextFile(`${dir}/model_index.json`).then(JSON.parse).catch(() => null);
  return idx?._class_name === SD_PIPELINE || idx?._class_name === LORA_CHECKPOINT;
}

/** An image model from a folder: a Stable Diffusion (latent) one, or a toy pixel-space one. */
export async function loadImageModel(
  ctx: GpuContext,
  dir: string,
  o: { loraFile?: string; loraScale?: number; allowNonFinite?: boolean } = {},
): Promise<ImageModel> {
  dir = await resolveCheckpoint(ctx.host, dir); // a run folder: its latest checkpoint
  if (await isLatentFolder(ctx.host, dir)) {
    return await LatentTextToImage.load(ctx, dir, { ...o, mergeLora: true });
  }
  if (o.loraFile) throw new Error(`${dir}: LoRA needs a Stable Diffusion (latent) model folder`);
  return await TextToImage.load(ctx, dir, { allowNonFinite: o.allowNonFinite });
}

/**
 * frames = 0: a TextToImage, or a LatentTextToImage for a diffusers StableDiffusionPipeline folder
 * (with fresh LoRA adapters when `lora` is given). frames = F > 0: a TextToVideo generating F-frame
 * clips; an image checkpoint is lifted (spatial and text weights copied, motion modules fresh with
 * proj_out = 0).
 */
export async function loadBundle(
  ctx: GpuContext,
  dir: string,
  frames: number,
  o: { lora?: LoraConfig; seed?: number } = {},
): Promise<Bundle> {
  if (!Number.isInteger(frames) || frames < 0) {
    throw new Error(`loadBundle: ${dir}: frames = ${frames} must be an integer >= 0`);
  }
  dir = await resolveCheckpoint(ctx.host, dir); // a run folder: its latest checkpoint
  if (await isLatentFolder(ctx.host, dir)) {
    if (frames > 0) {
      throw new Error(`${dir}: a Stable Diffusion image model cannot train on clips (frames ${frames})`);
    }
    return await LatentTextToImage.load(ctx, dir, { lora: o.lora, seed: o.seed });
  }
  if (o.lora) throw new Error(`${dir}: LoRA needs a Stable Diffusion (latent) model folder`);
  if (frames > 0) return await TextToVideo.load(ctx, dir, { frames });
  // A video checkpoint read as an image one fails deep in the UNet config; say what to set instead.
  const cfg = await ctx.host.fs.readTextFile(`${dir}/unet/config.json`).then(JSON.parse).catch(() => null);
  if (cfg?._class_name === "UNetMotionModel") {
    const idx = await ctx.host.fs.readTextFile(`${dir}/model_index.json`).then(JSON.parse).catch(() => ({}));
    throw new Error(
      `${dir}: a text-to-video checkpoint (unet UNetMotionModel, num_frames ${
        idx.num_frames ?? cfg.num_frames
      }) loaded ` +
        `with frames = 0; set data.frames to the clip length`,
    );
  }
  return await TextToImage.load(ctx, dir);
}

/** One example without the batch axis: [3, H, W] for images, [F, 3, H, W] for clips, [C, h, w] for latents. */
export function exampleShape(m: Bundle): number[] {
  const c = m.unet.config, img = [c.in_channels, c.sample_size, c.sample_size];
  return m instanceof TextToVideo ? [m.frames, ...img] : img;
}

/** The side of the images the model makes and trains on (pixels, also for a latent model). */
export function pixelSize(m: Bundle): number {
  return m instanceof LatentTextToImage ? m.pixelSize : m.unet.config.sample_size;
}

/** Examples -> pixels: decoded latents for a latent model, the examples themselves otherwise. */
export function toPixels(ctx: GpuContext, m: Bundle, x: Tensor): Tensor {
  return m instanceof LatentTextToImage ? m.decode(ctx, x) : x;
}

/** Images [B, 3, H, W] (clips [B, F, 3, H, W]) for prompts: generate(), decoded for a latent model. */
export async function generatePixels(
  ctx: GpuContext,
  m: Bundle,
  prompts: readonly string[],
  seeds: readonly number[],
  o: GenerateOptions = {},
): Promise<Tensor> {
  return m instanceof LatentTextToImage
    ? await m.generatePixels(ctx, prompts, seeds, o)
    : await m.generate(ctx, prompts, seeds, o);
}

/**
 * A frozen UNet of the same config (freshly initialised: the caller copies weights in) in a bundle
 * of the same kind that shares `m`'s tokenizer and text encoder. Dispose only its unet (for LoRA,
 * that frees the reference adapters, not the shared base).
 */
export function referenceModel(ctx: GpuContext, m: Bundle): Bundle {
  if (m instanceof LatentTextToImage) {
    // With LoRA the reference shares the frozen base UNet and holds adapters of its own (the pool
    // copies entries into them); without, a frozen UNet of its own.
    const unet = m.unet instanceof LoraUNet
      ? new LoraUNet(
        m.unet.base,
        LoraSet.create(ctx, m.unet.base, {
          rank: m.unet.set.rank,
          alpha: m.unet.set.alpha,
          targets: m.unet.set.layers.map((l) => l.name),
        }),
      )
      : new UNet2DConditionModel(rootInit(ctx, 0), m.unet.config);
    unet.setTrainable(false);
    return new LatentTextToImage(m.tokenizer, m.textEncoder, unet, m.vae, m.schedule.config, m.o);
  }
  if (m instanceof TextToVideo) {
    const unet = new UNetMotionModel(rootInit(ctx, 0), m.unet.config);
    unet.setTrainable(false);
    return new TextToVideo(m.tokenizer, m.textEncoder, unet, m.schedule.config, m.frames, m.maskPadTokens);
  }
  const unet = new UNet2DConditionModel(rootInit(ctx, 0), m.unet.config);
  unet.setTrainable(false);
  return new TextToImage(m.tokenizer, m.textEncoder, unet, m.schedule.config, m.maskPadTokens);
}
