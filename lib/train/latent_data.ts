// Training examples for a latent (Stable Diffusion) model: every winner (and data loser) encoded once
// with the model's VAE, scaling_factor x the latent mean (diffusers' text-to-image script samples the
// latent distribution; the mean keeps SePPO's errors deterministic), cached beside the data:
//   <data dir>/vae_latents/<key>.safetensors    latents [N, C, h, w], loser_latents [N, C, h, w]
// key = sha256 of the VAE (config + weights file), the scaling/shift factors, the image size and every
// decoded image (winners and losers), so a changed VAE or changed images give another key and are
// encoded afresh. Batches come in the image dataset's own order (its indices), latents in place of
// pixels. Pixel-space bundles get the dataset unchanged.
import { createHash } from "node:crypto";
import type { Batch, Dataset } from "../data/imagefolder.ts";
import { toPlanar } from "../data/imagefolder.ts";
import type { GpuContext } from "../gpu/context.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import type { Bundle } from "../nn/bundle.ts";
import { LatentTextToImage } from "../nn/pipeline_latent.ts";
import { tensor } from "../tensor/tensor.ts";
import type { Rng } from "../util/rng.ts";
import type { Host } from "../host/host.ts";

/** What the trainer reads batches from (an image Dataset has this shape too). */
export interface Examples {
  items: Dataset["items"];
  batches(n: number, rng: Rng, opts?: { dropLast?: boolean }): Generator<Batch>;
}

const CACHE_VERSION = "1";
/** Images encoded per VAE call. */
const ENCODE_BATCH = 4;

/** sha256 of the VAE: its config and weights file (or, without a source folder, its parameters). */
async function vaeFingerprint(host: Host, m: LatentTextToImage): Promise<string> {
  const h = createHash("sha256").update(JSON.stringify(m.vae.config));
  if (m.o.vaeWeights) {
    try {
      for await (const chunk of host.fs.readChunks(m.o.vaeWeights)) h.update(chunk);
    } catch (e) {
      throw new Error(`${m.o.vaeWeights}: ${(e as Error).message}`);
    }
  } else {
    for (const e of (await m.vae.stateDict()).values()) h.update(new Uint8Array(e.data.buffer));
  }
  return h.digest("hex");
}

/** Encodes RGB items ([H, W, 3] bytes) to scaled latents, ENCODE_BATCH at a time: [N * C * h * w]. */
async function encodeAll(ctx: GpuContext, m: LatentTextToImage, pixels: Uint8Array[], size: number) {
  const per = m.latentShape.reduce((a, b) => a * b, 1), px = 3 * size * size;
  const out = new Float32Array(pixels.length * per);
  for (let i = 0; i < pixels.length; i += ENCODE_BATCH) {
    const part = pixels.slice(i, i + ENCODE_BATCH);
    const planar = new Float32Array(part.length * px);
    part.forEach((p, b) => toPlanar(p, size, planar, b * px));
    const z = await ctx.scope(async () => {
      const x = tensor(ctx, planar, [part.length, 3, size, size]);
      return await m.encodeImages(ctx, x).read();
    });
    out.set(z, i * per);
  }
  return out;
}

/**
 * The examples a trainer draws batches from: `data` itself for pixel models; for a latent model the
 * VAE latents of its images (cached, see the file comment). `log` reports cache hits and misses.
 */
export async function trainingExamples(
  ctx: GpuContext,
  model: Bundle,
  data: Dataset,
  log: (s: string) => void = console.log,
): Promise<Examples> {
  if (!(model instanceof LatentTextToImage)) return data;
  if (data.frames !== 1) {
    throw new Error(`${data.dir}: a latent image model trains on still images, not clips`);
  }
  if (data.size !== model.pixelSize) {
    throw new Error(`${data.dir}: data.size ${data.size} != the model's image size ${model.pixelSize}`);
  }
  const shape = model.latentShape, per = shape.reduce((a, b) => a * b, 1), N = data.items.length;
  const h = createHash("sha256").update(
    JSON.stringify({ v: CACHE_VERSION, vae: await vaeFingerprint(ctx.host, model), size: data.size, shape }),
  );
  for (const p of data.pixels) h.update(p);
  for (const p of data.loserPixels ?? []) h.update(p);
  const key = h.digest("hex").slice(0, 24);
  const path = `${data.dir}/vae_latents/${key}.safetensors`;
  let latents: Float32Array | null = null, losers: Float32Array | null = null;
  const cached = await readSafetensors(ctx.host, path).catch(() => null);
  const want = [N, ...shape].join("x");
  if (cached && cached.tensors.get("latents")?.shape.join("x") === want) {
    latents = cached.tensors.get("latents")!.data;
    losers = cached.tensors.get("loser_latents")?.data ?? null;
    if (data.loserPixels && !losers) latents = null;
  }
  if (latents) log(`latents: ${N} cached in ${path}`);
  else {
    const t0 = performance.now();
    latents = await encodeAll(ctx, model, data.pixels, data.size);
    losers = data.loserPixels ? await encodeAll(ctx, model, data.loserPixels, data.size) : null;
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    try {
      await ctx.host.fs.mkdir(`${data.dir}/vae_latents`, { recursive: true });
      await writeSafetensors(ctx.host, path, [
        { name: "latents", shape: [N, ...shape], data: latents },
        ...(losers ? [{ name: "loser_latents", shape: [N, ...shape], data: losers }] : []),
      ], { metadata: { key, count: String(N), seppo_latent_cache: CACHE_VERSION } });
      log(`latents: ${N}${losers ? " winners and losers" : ""} encoded in ${secs} s, cached in ${path}`);
    } catch (e) {
      log(`latents: ${N} encoded in ${secs} s; not cached (${path}: ${(e as Error).message})`);
    }
  }
  const win = latents, lose = losers;
  const gather = (src: Float32Array, idx: number[]) => {
    const out = new Float32Array(idx.length * per);
    idx.forEach((i, b) => out.set(src.subarray(i * per, (i + 1) * per), b * per));
    return out;
  };
  return {
    items: data.items,
    *batches(n, rng, opts) {
      for (const b of data.batches(n, rng, opts)) {
        yield { ...b, images: gather(win, b.indices), ...(lose ? { losers: gather(lose, b.indices) } : {}) };
      }
    },
  };
}
