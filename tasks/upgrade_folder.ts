// deno task upgrade-folder --ckpt DIR [--ckpt DIR ...]
// Rewrites toy model folders written by older versions in the current, diffusers-loadable layout
// (lib/nn/folder_upgrade.ts). Weights stay bit for bit; other files in the folder are kept.
import { parseArgs } from "node:util";
import { GpuContext } from "../lib/gpu/context.ts";
import { upgradeToyFolder } from "../lib/nn/folder_upgrade.ts";

const { values: v } = parseArgs({ args: Deno.args, options: { ckpt: { type: "string", multiple: true } } });
if (!v.ckpt?.length) throw new Error("flag --ckpt: required (a model folder; repeat for several)");
const ctx = await GpuContext.create();
for (const dir of v.ckpt) for (const line of await upgradeToyFolder(ctx, dir)) console.log(line);
