// The few places where text-to-image and text-to-video differ for a trainer that works on both:
// which bundle to load, the shape of one example, and a frozen copy of the UNet (a reference model)
// that shares the bundle's text encoder. Everything else (encode, generate, save, unet.forward,
// unet.parameters) has the same signature on TextToImage and TextToVideo.
import type { GpuContext } from "../gpu/context.ts";
import { rootInit } from "./module.ts";
import { TextToImage } from "./pipeline.ts";
import { TextToVideo } from "./pipeline_video.ts";
import { UNet2DConditionModel } from "./unet.ts";
import { UNetMotionModel } from "./unet_motion.ts";

export type Bundle = TextToImage | TextToVideo;

/**
 * frames = 0: a TextToImage. frames = F > 0: a TextToVideo generating F-frame clips; an image
 * checkpoint is lifted (spatial and text weights copied, motion modules fresh with proj_out = 0).
 */
export async function loadBundle(ctx: GpuContext, dir: string, frames: number): Promise<Bundle> {
  if (!Number.isInteger(frames) || frames < 0) {
    throw new Error(`loadBundle: ${dir}: frames = ${frames} must be an integer >= 0`);
  }
  if (frames > 0) return await TextToVideo.load(ctx, dir, { frames });
  // A video checkpoint read as an image one fails deep in the UNet config; say what to set instead.
  const cfg = await ctx.host.fs.readTextFile(`${dir}/unet/config.json`).then(JSON.parse).catch(() => null);
  if (cfg?._class_name === "UNetMotionModel") {
    throw new Error(
      `${dir}: a text-to-video checkpoint (unet UNetMotionModel, num_frames ${cfg.num_frames}) loaded ` +
        `with frames = 0; set data.frames to the clip length`,
    );
  }
  return await TextToImage.load(ctx, dir);
}

/** One example without the batch axis: [3, H, W] for images, [F, 3, H, W] for clips. */
export function exampleShape(m: Bundle): number[] {
  const c = m.unet.config, img = [c.in_channels, c.sample_size, c.sample_size];
  return m instanceof TextToVideo ? [m.frames, ...img] : img;
}

/**
 * A frozen UNet of the same config (freshly initialised: the caller copies weights in) in a bundle
 * of the same kind that shares `m`'s tokenizer and text encoder. Dispose only its unet.
 */
export function referenceModel(ctx: GpuContext, m: Bundle): Bundle {
  if (m instanceof TextToVideo) {
    const unet = new UNetMotionModel(rootInit(ctx, 0), m.unet.config);
    unet.setTrainable(false);
    return new TextToVideo(m.tokenizer, m.textEncoder, unet, m.schedule.config, m.frames);
  }
  const unet = new UNet2DConditionModel(rootInit(ctx, 0), m.unet.config);
  unet.setTrainable(false);
  return new TextToImage(m.tokenizer, m.textEncoder, unet, m.schedule.config);
}
