// A compare rerun reuses finished runs, so one whose base, budget, evaluation or train config changed is
// refused (it would mix two experiments in one report); adding variants or seeds is allowed.
import assert from "node:assert/strict";
import { refuseChangedExperiment } from "../../tasks/compare.ts";

const first = {
  base: "models/base-taste-16",
  variants: ["sft"],
  seeds: [0],
  train: { steps: 40, batch: 8, ref_steps: 0 },
  eval: { prompts: "p.jsonl", sampler: "dpmsolver++", seeds: 2, steps: 10, guidance: 3, batch: 32 },
};

Deno.test("compare: a rerun with another eval sampler, budget or train config is refused; more variants or edited comments are not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await refuseChangedExperiment(dir, first, "lr: 3e-4\n"); // nothing there yet: fine
    await Deno.writeTextFile(`${dir}/config.yaml`, JSON.stringify(first)); // JSON is YAML
    await Deno.writeTextFile(`${dir}/train_config.yaml`, "lr: 3e-4\n");
    await refuseChangedExperiment(dir, { ...first, variants: ["sft", "seppo"], seeds: [0, 1] }, "lr: 3e-4\n");
    const ddim = { ...first, eval: { ...first.eval, sampler: "ddim" } };
    await assert.rejects(
      () => refuseChangedExperiment(dir, ddim, "lr: 3e-4\n"),
      /changed since this experiment started .*: eval \(.*"ddim"/,
    );
    const longer = { ...first, train: { ...first.train, steps: 80 } };
    await assert.rejects(() => refuseChangedExperiment(dir, longer, "lr: 3e-4\n"), /: train \(.*"steps":80/);
    await assert.rejects(
      () => refuseChangedExperiment(dir, first, "lr: 1e-4\n"),
      /the contents of train_config/,
    );
    // a comment or the layout is no change to the experiment
    await refuseChangedExperiment(dir, first, "# chosen by the pilot\nlr: 0.0003 # was 3e-4\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
