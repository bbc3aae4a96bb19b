// deno task sample --ckpt DIR --prompt "..." [--n 8] [--sampler ddim|dpmsolver++|euler] [--steps 50]
//   [--guidance G] [--seed S] [--out grid.png]
// deno task sample --ckpt DIR --prompts FILE --out DIR   (imagefolder layout that `deno task score` reads)
// --ckpt takes a checkpoint folder or a run folder (its `latest` checkpoint): a toy model, a diffusers
// StableDiffusionPipeline folder or a LoRA checkpoint (docs/OWN_MODEL.md); --lora FILE adds adapters.
import { DEFAULT_SAMPLER, type Sampler, SAMPLERS } from "../lib/diffusion/sampler.ts";
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkInput, checkOutDir, checkOutFile, IMAGE_EXTENSIONS } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { loadPrompts } from "../lib/data/metadata.ts";
import { generateImages, writeImageFolder } from "../lib/eval/generate.ts";
import { contactSheet, writeImage } from "../lib/io/images.ts";
import { resolveCheckpoint } from "../lib/io/checkpoint.ts";
import { loadImageModel } from "../lib/nn/bundle.ts";
import { UsageError } from "../lib/util/errors.ts";
import { Progress } from "../lib/util/progress.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "sample",
  purpose: "samples a checkpoint: a contact sheet of one prompt with consecutive seeds (--prompt), or " +
    "an imagefolder of a prompt file with each row's seed (--prompts; `deno task score` reads it).",
  usage: "--ckpt DIR (--prompt TEXT [--n N] [--out FILE] | --prompts FILE --out DIR) [flags]",
  flags: {
    ckpt: flag.str("checkpoint folder (or a run folder: its latest checkpoint)", {
      required: true,
      arg: "DIR",
    }),
    prompt: flag.str("the prompt of a contact sheet"),
    prompts: flag.str("prompt file (JSONL rows with text and seed) or an imagefolder", { arg: "FILE" }),
    n: flag.int("samples of --prompt", { default: 8, min: 1 }),
    sampler: flag.choice(SAMPLERS, "sampler (docs/SAMPLERS.md)", { default: DEFAULT_SAMPLER }),
    steps: flag.int("sampling steps", { default: 50, min: 1, max: 1000 }),
    negative: flag.str("the negative prompt of classifier-free guidance (default: the empty prompt)"),
    lora: flag.str("a LoRA file (pytorch_lora_weights.safetensors, diffusers or peft keys) for an SD model", {
      arg: "FILE",
    }),
    "lora-scale": flag.num("LoRA scale (diffusers' cross_attention_kwargs scale)", { default: 1 }),
    guidance: flag.num("classifier-free guidance scale (1 = off)", { default: 3, min: 1 }),
    seed: flag.int("seed of the first sample of --prompt (then seed + 1, ...)", { default: 0, min: 0 }),
    batch: flag.int("images per GPU batch", { default: 32, min: 1 }),
    out: flag.str(
      `output: an image file for --prompt (${IMAGE_EXTENSIONS.join(", ")}; default sample.png), a folder ` +
        "for --prompts (default samples)",
      { arg: "PATH" },
    ),
    "allow-non-finite": flag.bool(
      "load weights holding NaN or infinity (refused otherwise), to inspect a diverged run",
    ),
  },
  examples: [
    'deno task sample --ckpt models/base-shapes-16 --prompt "a large red circle on the left, blue background" --n 16',
    "deno task sample --ckpt models/base-shapes-16 --prompts data/generated/shapes-eval/prompts.jsonl --out out/samples",
    'deno task sample --ckpt ../shared/fixtures/tiny-sd --prompt "a photograph of an astronaut" --steps 10 --guidance 7.5',
  ],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => {
    if (!f.prompt === !f.prompts) {
      throw new UsageError("flags --prompt / --prompts: give exactly one of them");
    }
    // Validated before the GPU and the model load, so a bad path fails in a second, not after sampling.
    await checkInput(host, f.ckpt, "--ckpt", "folder");
    if (f.prompts) await checkInput(host, f.prompts, "--prompts");
    if (f.lora) await checkInput(host, f.lora, "--lora");
    const out = f.prompt
      ? await checkOutFile(host, f.out ?? "sample.png", "--out", IMAGE_EXTENSIONS)
      : await checkOutDir(host, f.out ?? "samples", "--out");
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    const ckpt = await resolveCheckpoint(host, f.ckpt);
    if (ckpt !== f.ckpt) console.log(`checkpoint: ${ckpt}`);
    const model = await loadImageModel(ctx, ckpt, {
      loraFile: f.lora,
      loraScale: f["lora-scale"],
      allowNonFinite: f["allow-non-finite"],
    });
    const rows = f.prompts ? await loadPrompts(host, f.prompts) : null;
    const items = rows
      ? rows.map((r) => ({ text: r.text, seed: r.seed, meta: { ...r.attrs, heldout: r.heldout } }))
      : Array.from({ length: f.n }, (_, i) => ({ text: f.prompt!, seed: f.seed + i }));
    const t0 = performance.now();
    const progress = new Progress(host, "sample", items.length, { unit: "images" });
    const imgs = await generateImages(ctx, model, items, {
      sampler: f.sampler as Sampler,
      steps: f.steps,
      guidance: f.guidance,
      batch: f.batch,
      negative: f.negative,
      progress,
    });
    progress.finish();
    if (rows) await writeImageFolder(host, out, items, imgs);
    else {await writeImage(
        host,
        out,
        contactSheet(imgs, { scale: Math.max(1, Math.round(64 / imgs[0].width)), pad: 2 }),
      );}
    const secs = (performance.now() - t0) / 1000;
    const what = rows ? `${items.length} samples` : `${items.length} samples of ${JSON.stringify(f.prompt)}`;
    console.log(`${what} -> ${out} (${secs.toFixed(1)} s, ${(items.length / secs).toFixed(2)} samples/s)`);
  });
}
