// deno task compare --config configs/compare-shapes.yaml [--out DIR] [any config key as a flag]
// Trains every method and ablation from one base over several seeds, evaluates each and writes
// report.md / report.html (lib/train/compare.ts). Rerunning resumes where it stopped.
import { configFlags } from "../lib/cli/config_flags.ts";
import { defineCli } from "../lib/cli/flags.ts";
import { rerunToResume, runTask } from "../lib/cli/main.ts";
import { checkOutDir } from "../lib/cli/paths.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { GpuContext } from "../lib/gpu/context.ts";
import { compare, COMPARE_SCHEMA } from "../lib/train/compare.ts";
import { denoHost } from "../lib/host/deno.ts";

const host = denoHost();

export const CLI = defineCli({
  task: "compare",
  purpose: "the benchmark experiment: trains every method and ablation (variants) from one base over " +
    "several training seeds, evaluates each on the same prompts and seeds, and writes one report " +
    "(report.md / report.html). Rerunning the same command resumes where it stopped.",
  flags: {},
  config: configFlags(host, COMPARE_SCHEMA, { flags: true }),
  notes: [
    'A variant is a method with optional overrides: "sft", "seppo:ref=initial", "seppo:aaf=off", ' +
    '"seppo:beta=500,lr=3e-5"; train_config is the train task\'s YAML the variants start from.',
  ],
  examples: ["deno task compare --config configs/compare-shapes.yaml --seeds 0 --out runs/compare-one-seed"],
});

if (import.meta.main) {
  await runTask(host, CLI, async ({ config, yaml }) => {
    await checkOutDir(host, config.out, "--out");
    await Deno.mkdir(config.out, { recursive: true });
    await writeFileAtomic(host, `${config.out}/config.yaml`, yaml);
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    console.log(`effective config:\n${yaml}`);
    await compare(ctx, config).catch(rerunToResume);
  });
}
