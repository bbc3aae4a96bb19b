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
import { parse } from "yaml";

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
    const trainYaml = await Deno.readTextFile(config.train_config);
    await refuseChangedExperiment(config.out, { ...config }, trainYaml);
    await writeFileAtomic(host, `${config.out}/config.yaml`, yaml);
    await writeFileAtomic(host, `${config.out}/train_config.yaml`, trainYaml);
    const ctx = await GpuContext.create(host);
    console.log(`adapter: ${ctx.label}`);
    console.log(`effective config:\n${yaml}`);
    await compare(ctx, config).catch(rerunToResume);
  });
}

/**
 * Finished runs are reused on a rerun, so a rerun whose base, training budget, evaluation or train config
 * differ from the first run's would mix results of two experiments in one report: refused, naming what
 * changed. Adding variants or seeds is what reruns are for, and stays allowed.
 */
export async function refuseChangedExperiment(out: string, now: Record<string, unknown>, trainYaml: string) {
  const read = (f: string) => Deno.readTextFile(`${out}/${f}`).catch(() => null);
  const [oldYaml, oldTrain] = await Promise.all([read("config.yaml"), read("train_config.yaml")]);
  if (oldYaml === null) return;
  const old = parse(oldYaml) as Record<string, unknown>;
  const changed = ["base", "train", "eval"].filter((k) => JSON.stringify(old[k]) !== JSON.stringify(now[k]))
    .map((k) => `${k} (${JSON.stringify(old[k])} -> ${JSON.stringify(now[k])})`);
  // the train config's values, not its text: a comment edited since is no change
  if (oldTrain !== null && JSON.stringify(parse(oldTrain)) !== JSON.stringify(parse(trainYaml))) {
    changed.push(`the contents of train_config ${now.train_config}`);
  }
  if (changed.length) {
    throw new Error(
      `${out}: changed since this experiment started (${out}/config.yaml): ${changed.join("; ")}. ` +
        "Its finished runs would be mixed with new ones: use another --out, or move the folder aside.",
    );
  }
}
