// The public API of seppo, as a library (docs/LIBRARY.md): everything a Deno program needs to load a
// model, sample, train and evaluate without going through the tasks. Named re-exports only; anything
// not listed here is internal and may change without notice.

// ---- context and tensors ------------------------------------------------------------------------

/**
 * The host: what the library needs from the machine (files, images, the process, kernel sources),
 * passed explicitly (GpuContext.create(host), then ctx.host; file functions take it first). Deno's is
 * denoHost(); a page's is browserHost() (lib/host/browser.ts, what web/ bundles).
 */
export { denoHost } from "./lib/host/deno.ts";
export { browserHost, type SiteManifest, type SiteModel } from "./lib/host/browser.ts";
export type { FileInfo, Host, HostFs, HostImages, HostProcess } from "./lib/host/host.ts";
/** The one GPU context every op takes first: device, kernel cache, buffer pool, autograd tape, host. */
export { type ContextOptions, GpuContext } from "./lib/gpu/context.ts";
/** Errors from the GPU layer: no adapter found, and validation / out-of-memory / device-lost errors. */
export { GpuError, NoAdapterError } from "./lib/gpu/errors.ts";
/** f32 tensors on the GPU: upload, create, read back. */
export { empty, full, parameter, readAll, type Shape, Tensor, tensor, zeros } from "./lib/tensor/tensor.ts";
/** Reverse-mode autodiff over the context's tape: accumulates into the leaves' `.grad`. */
export { backward } from "./lib/autograd/backward.ts";

// ---- ops (one WGSL kernel family each, forward and backward) ------------------------------------

/** Elementwise binary ops with broadcasting. */
export { add, div, mul, sub } from "./lib/ops/binary.ts";
/** Elementwise unary ops. */
export { exp, gelu, log, quickGelu, relu, sigmoid, silu, sqrt, square, tanh } from "./lib/ops/unary.ts";
/** Scaling and in-place accumulation. */
export { accumulate, scale } from "./lib/ops/scale.ts";
/** (Batched) matrix multiply. */
export { matmul, type MatmulOptions } from "./lib/ops/matmul.ts";
/** 2D convolution [B, C, H, W]. */
export { conv2d, type Conv2dOptions } from "./lib/ops/conv2d.ts";
/** Group and layer normalisation. */
export { groupNorm, layerNorm } from "./lib/ops/norm.ts";
/** Scaled dot-product attention with an optional key mask (chunked when the scores exceed the budget). */
export { attention, attentionBudget, type AttentionOptions } from "./lib/ops/attention.ts";
/** Softmax over the last axis. */
export { softmax } from "./lib/ops/softmax.ts";
/** Reductions: sum, mean, per-row mean squared error. */
export { mean, mseRows, sum } from "./lib/ops/reduce.ts";
/** Layout ops: reshape, permute, slice, concat, constant fill. */
export { concat, filled, permute, reshape, slice } from "./lib/ops/copy.ts";
/** Seeded Gaussian and uniform noise generated on the GPU. */
export { rand, randn } from "./lib/ops/rng.ts";
/** Nearest-neighbour 2x upsampling [B, C, H, W] -> [B, C, 2H, 2W]. */
export { upsampleNearest2x } from "./lib/ops/upsample.ts";
/** Sinusoidal timestep embedding (diffusers' get_timestep_embedding). */
export { timestepEmbedding } from "./lib/ops/embedding.ts";
/** The SePPO loss family (SEPPO.md): DPO-style preference loss with the anchor-based flip (AAF). */
export {
  type AafMode,
  preferenceLoss,
  type PreferenceLossOptions,
  type PreferenceLossOut,
} from "./lib/ops/preference_loss.ts";

// ---- modules and pipelines (diffusers names and configs) ---------------------------------------

/** The module base class (dotted parameter names, state dicts) and the seeded initialiser. */
export { Module, rootInit } from "./lib/nn/module.ts";
/** Basic layers. */
export { GroupNorm, LayerNorm, Linear } from "./lib/nn/layers.ts";
/** Convolution layers. */
export { Conv2d } from "./lib/nn/conv.ts";
/** diffusers' ResnetBlock2D. */
export { ResnetBlock2D } from "./lib/nn/resnet.ts";
/** Attention blocks: Attention, BasicTransformerBlock, Transformer2DModel. */
export { Attention, BasicTransformerBlock, Transformer2DModel } from "./lib/nn/attention.ts";
/** diffusers' UNet2DConditionModel. */
export { UNet2DConditionModel } from "./lib/nn/unet.ts";
/** UNet config (diffusers' config.json keys). */
export { type UNetConfig, unetConfig } from "./lib/nn/unet_config.ts";
/** diffusers' UNetMotionModel: the image UNet with AnimateDiff-style motion modules. */
export { UNetMotionModel } from "./lib/nn/unet_motion.ts";
/** The CLIP-like text encoder and its word-level tokenizer. */
export { TextEncoder } from "./lib/nn/text_encoder.ts";
/** The word-level tokenizer of the shipped models. */
export { WordTokenizer } from "./lib/nn/tokenizer.ts";
/** Text-to-image pipeline: load/save a diffusers-style folder, encode prompts, generate. */
export { type GenerateOptions, TextToImage } from "./lib/nn/pipeline.ts";
/** Text-to-video pipeline (UNetMotionModel + the same text encoder). */
export { TextToVideo } from "./lib/nn/pipeline_video.ts";
/** Loads a pipeline from a folder (frames 0: image, F > 0: video; a diffusers SD folder: latent). */
export {
  type Bundle,
  generatePixels,
  type ImageModel,
  loadBundle,
  loadImageModel,
  pixelSize,
} from "./lib/nn/bundle.ts";
/** Stable Diffusion 1.x / 2.x from a diffusers StableDiffusionPipeline folder (docs/OWN_MODEL.md). */
export { type LatentLoadOptions, LatentTextToImage } from "./lib/nn/pipeline_latent.ts";
/** diffusers' AutoencoderKL (SD's VAE). */
export { AutoencoderKL, type VaeConfig, vaeConfig } from "./lib/nn/vae.ts";
/** CLIP's byte-level BPE tokenizer (vocab.json + merges.txt), with CLIP's text clean-up. */
export { ClipTokenizer, type PromptTokenizer } from "./lib/nn/clip_tokenizer.ts";
/** LoRA adapters (peft / diffusers 0.30 semantics and file format). */
export { type LoraConfig, LoraSet, LoraUNet } from "./lib/nn/lora.ts";
/** A UNetMotionModel from a UNet2DConditionModel folder and a diffusers MotionAdapter folder. */
export { loadWithMotionAdapter } from "./lib/nn/motion_adapter.ts";

// ---- schedulers and sampling -------------------------------------------------------------------

/** Noise schedules (diffusers' scheduler_config.json keys). */
export {
  DEFAULT_SCHEDULER,
  NoiseSchedule,
  type SchedulerConfig,
  schedulerConfig,
} from "./lib/diffusion/schedule.ts";
/** The DDIM / DDPM / Euler sampling loop and classifier-free guidance. */
export { guided, sample, type SampleOptions } from "./lib/diffusion/sampler.ts";
/** Forward process: add noise at timesteps, draw timesteps and per-example noise. */
export { addNoise, noiseFor, sampleTimesteps } from "./lib/diffusion/noise.ts";

// ---- trainers ----------------------------------------------------------------------------------

/** Preference fine-tuning (SePPO, SFT, Diffusion-DPO, SPIN): config schema, defaults, trainer. */
export {
  train,
  TRAIN_DEFAULTS,
  TRAIN_SCHEMA,
  type TrainConfig,
  type TrainResult,
} from "./lib/train/seppo.ts";
/** Pretraining a base model on a captioned corpus: config schema, defaults, trainer. */
export {
  pretrain,
  PRETRAIN_DEFAULTS,
  PRETRAIN_SCHEMA,
  type PretrainConfig,
  type PretrainResult,
} from "./lib/train/pretrain.ts";
/** AdamW with decoupled weight decay and gradient-norm clipping. */
export { AdamW, type AdamWOptions } from "./lib/train/adamw.ts";
/** Exponential moving average of weights. */
export { Ema } from "./lib/train/ema.ts";
/** Learning-rate schedules (warmup + constant / cosine / linear). */
export { lrAt, type LrOptions } from "./lib/train/lr.ts";
/** The checkpoint pool SePPO samples its reference model from. */
export { CheckpointPool } from "./lib/train/pool.ts";

// ---- IO ----------------------------------------------------------------------------------------

/** Diffusers-style checkpoint folders, written atomically. */
export { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "./lib/io/checkpoint.ts";
/** safetensors files (F32 / F16 / BF16), with header validation. */
export {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  type StTensor,
  writeSafetensors,
} from "./lib/io/safetensors.ts";
/** Images and animations via sharp: read to RGB bytes, write PNG/JPEG/WebP/GIF, contact sheets. */
export { contactSheet, readImage, type RgbImage, writeImage } from "./lib/io/images.ts";
/** Typed YAML configs with validation and "did you mean" for unknown keys. */
export { ConfigError, defineSchema, dumpYaml, loadYamlConfig, type Schema } from "./lib/io/config.ts";
/** Atomic file writes (temporary name + fsync + rename). */
export { writeFileAtomic } from "./lib/io/atomic.ts";
/** Imagefolder datasets (metadata.jsonl + images or clips) and prompt lists. */
export { type Dataset, loadImageFolder } from "./lib/data/imagefolder.ts";
/** Prompt files (JSONL or an imagefolder's metadata) for sampling and evaluation. */
export { loadPrompts, type PromptRow } from "./lib/data/metadata.ts";

// ---- evaluation and utilities ------------------------------------------------------------------

/** Sampling sets of images with fixed seeds, in batches, as RGB bytes (and writing an imagefolder). */
export { generateImages, type GenItem, type GenOptions, writeImageFolder } from "./lib/eval/generate.ts";
/** Text-to-image evaluation: fixed seeds, programmatic scores, bootstrap intervals, win rate. */
export { type EvalSummary, evalT2I } from "./lib/eval/eval_image.ts";
/** Scores an imagefolder of images or clips with the synthetic world's scorer. */
export { type FolderReport, scoreFolder } from "./lib/eval/score_folder.ts";
/** Bootstrap confidence intervals. */
export { bootstrapCI, type Interval } from "./lib/eval/stats.ts";
/** The seeded PRNG used for data, init, noise and sampling. */
export { Rng } from "./lib/util/rng.ts";
/** Error kinds with exit codes (UsageError 2, StoppedError 130). */
export { exitCodeOf, StoppedError, UsageError } from "./lib/util/errors.ts";
