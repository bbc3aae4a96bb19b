// deno task upgrade-folder --ckpt DIR
// Rewrites a toy model folder written by an older version in the current, diffusers-loadable layout
// (lib/nn/folder_upgrade.ts). Weights stay bit for bit; other files in the folder are kept.
import { defineCli, flag } from "../lib/cli/flags.ts";
import { runTask } from "../lib/cli/main.ts";
import { checkInput } from "../lib/cli/paths.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { upgradeToyFolder } from "../lib/nn/folder_upgrade.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "upgrade-folder",
  purpose: "rewrites a toy model folder of an older version in the layout diffusers' from_pretrained reads " +
    "(configs with every key, model_index.json, tokenizer/word_tokenizer.json, motion pos_embed.pe buffers); " +
    "every weight stays bit for bit, every other file is kept.",
  flags: {
    ckpt: flag.str("the model folder to rewrite in place", { required: true, arg: "DIR" }),
  },
  examples: ["deno task upgrade-folder --ckpt runs/pretrain-shapes/checkpoint-1500"],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ flags: f }) => {
    await checkInput(host, f.ckpt, "--ckpt", "folder");
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    for (const line of await upgradeToyFolder(ctx, f.ckpt)) console.log(line);
  });
}
