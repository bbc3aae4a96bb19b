// Checkpoint folders that are wrong in shape rather than in value: a tensor missing or of another
// shape names the weights file; a weights "file" that is a folder says so (it read as missing).
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import { TextToImage } from "../../lib/nn/pipeline.ts";
import { gpu, host } from "../_helpers.ts";
import { fixture } from "./_fixture.ts";

async function copyBase(from: string, to: string) {
  await new Deno.Command("cp", { args: ["-r", from, to] }).output();
}

Deno.test("load errors name the weights file: a missing or reshaped tensor, a weights file that is a folder", async () => {
  const f = await fixture(), ctx = await gpu();
  const dir = join(f.dir, "shapes");
  await copyBase(f.base, dir);
  const file = join(dir, "text_encoder", "model.safetensors");
  const { tensors, metadata } = await readSafetensors(host, file);
  const name = [...tensors.keys()][0];
  tensors.delete(name);
  await writeSafetensors(host, file, [...tensors.values()], { metadata });
  await assert.rejects(
    TextToImage.load(ctx, dir),
    new RegExp(`${file}: loadStateDict: 1 problem\\(s\\)\\n  missing: ${name.replaceAll(".", "\\.")}`),
  );
  const folder = join(f.dir, "folder");
  await copyBase(f.base, folder);
  const weights = join(folder, "unet", "diffusion_pytorch_model.safetensors");
  await Deno.remove(weights);
  await Deno.mkdir(weights);
  await assert.rejects(
    TextToImage.load(ctx, folder),
    new RegExp(`${weights}/?: is a folder, expected a weights file`),
  );
});
