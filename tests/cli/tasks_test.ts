// Every task's command line, run as `deno task` runs it (child processes): --help prints the
// purpose, every flag and every config key of the task's schema; a misspelled flag gets a "did you
// mean", exit 2 and one line without a stack trace; a repeated flag is refused; an output path that
// cannot be written fails before any work (no GPU acquired); a bad --config file is exit 1.
import assert from "node:assert/strict";
import { PRETRAIN_SCHEMA } from "../../lib/train/pretrain.ts";
import { TRAIN_SCHEMA } from "../../lib/train/seppo.ts";
import { COMPARE_SCHEMA } from "../../lib/train/compare.ts";
import type { Cli, Flags } from "../../lib/cli/flags.ts";
import { runTask, taskNames } from "./_task.ts";

const SCHEMAS: Record<string, { fields: Readonly<Record<string, unknown>> }> = {
  train: TRAIN_SCHEMA,
  demo: TRAIN_SCHEMA,
  pretrain: PRETRAIN_SCHEMA,
  "bench-step": PRETRAIN_SCHEMA,
  compare: COMPARE_SCHEMA,
};

/** The specs the task modules export (the others define theirs inline). */
async function specs(): Promise<Record<string, Cli<Flags, unknown>>> {
  const files: Record<string, string> = {
    data: "tasks/data.ts",
    score: "tasks/score.ts",
    "prompt-gap": "tasks/prompt_gap.ts",
    bench: "bench/main.ts",
    pretrain: "tasks/pretrain.ts",
    sample: "tasks/sample.ts",
    train: "tasks/train.ts",
    "eval-t2i": "tasks/eval_t2i.ts",
    "eval-t2v": "tasks/eval_t2v.ts",
    compare: "tasks/compare.ts",
    toy: "tasks/toy.ts",
    web: "tasks/web.ts",
    "upgrade-folder": "tasks/upgrade_folder.ts",
    "bench-sd15": "bench/sd15_forward.ts",
    "curve-compare": "bench/curve_compare.ts",
  };
  const out: Record<string, Cli<Flags, unknown>> = {};
  for (const [name, file] of Object.entries(files)) out[name] = (await import(`../../${file}`)).CLI;
  return out;
}

/** Runs `fn` over `items`, `k` at a time (child processes on a 2-core machine). */
async function pooled<T, R>(items: T[], k: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: k }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

const oneErrorLine = (stderr: string) => {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0], /^error: /);
  assert.doesNotMatch(stderr, /Uncaught|\n\s+at /);
};

Deno.test("--help: every task prints its purpose, usage, every flag and every config key, and an example", async () => {
  const names = taskNames();
  assert.equal(names.length, 20, `tasks: ${names}`);
  const known = await specs();
  const runs = await pooled(names, 4, (n) => runTask(n, ["--help"]));
  names.forEach((name, i) => {
    const { code, stdout, stderr } = runs[i];
    assert.equal(code, 0, `${name} --help: exit ${code}\n${stderr}`);
    assert.equal(stderr, "", `${name} --help wrote to stderr:\n${stderr}`);
    assert.ok(stdout.startsWith(`deno task ${name}: `), `${name}: ${stdout.slice(0, 80)}`);
    for (const part of ["\nusage: deno task ", "\nflags:\n", "--help", "--debug", "\nexample"]) {
      assert.ok(stdout.includes(part), `${name} --help lacks ${JSON.stringify(part)}`);
    }
    for (const flag of Object.keys(known[name]?.flags ?? {})) {
      assert.match(stdout, new RegExp(`\\n  --${flag}[ \\n]`), `${name} --help lacks --${flag}`);
    }
    for (const key of Object.keys(SCHEMAS[name]?.fields ?? {})) {
      assert.match(
        stdout,
        new RegExp(`\\n  ${key.replaceAll(".", "\\.")} `),
        `${name} --help lacks key ${key}`,
      );
    }
  });
  // Every flag line says its type and default.
  const sample = runs[names.indexOf("sample")].stdout;
  assert.match(sample, /--n N +samples of --prompt \[integer >= 1; default 8\]/);
  assert.match(sample, /--ckpt DIR .*\[string; required\]/);
  const train = runs[names.indexOf("train")].stdout;
  assert.match(train, /\n {2}train\.lr +number > 0; default 0\.0001\n/);
  assert.match(
    runs[names.indexOf("demo")].stdout,
    /\n {2}train\.steps +integer >= 1; default 200; preset 40\n/,
  );
  // -h is --help.
  const h = await runTask("toy", ["-h"]);
  assert.equal(h.stdout, runs[names.indexOf("toy")].stdout);
});

Deno.test("a misspelled flag gets a suggestion, exit 2 and one line without a stack trace", async () => {
  const cases: [string, string[], RegExp][] = [
    [
      "sample",
      ["--ckpt", "x", "--promt", "a red circle"],
      /flag --promt: unknown flag \(did you mean --prompt\?\)/,
    ],
    [
      "train",
      ["--confg", "configs/seppo-shapes.yaml"],
      /flag --confg: unknown flag \(did you mean --config\?\)/,
    ],
    ["train", ["--train.step", "3"], /flag --train\.step: unknown flag \(did you mean --train\.steps\?\)/],
    [
      "train",
      ["--learning_rate", "1e-4"],
      /flag --learning_rate: unknown flag \(did you mean --train\.lr\?\)/,
    ],
    ["data", ["--world", "shapes", "--split", "eval", "--cont", "3"], /did you mean --count\?/],
    [
      "demo",
      ["--train.lr", "1e-4"],
      /flag --train\.lr: not a flag of demo; train\.lr is a key of its --config file/,
    ],
  ];
  const runs = await pooled(cases, 3, ([task, args]) => runTask(task, args));
  cases.forEach(([task, args, re], i) => {
    const r = runs[i];
    assert.equal(r.code, 2, `${task} ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    oneErrorLine(r.stderr);
    assert.match(r.stderr, re);
  });
});

Deno.test("a repeated flag is refused; bad values and bad paths are usage errors before any work", async () => {
  const cases: [string, string[], number, RegExp][] = [
    [
      "sample",
      ["--ckpt", "a", "--ckpt", "b", "--prompt", "x"],
      2,
      /^error: flag --ckpt: given twice; give it once/,
    ],
    [
      "train",
      ["--lr", "1e-4", "--train.lr", "2e-4"],
      2,
      /^error: flags --lr and --train\.lr both set train\.lr/,
    ],
    ["toy", ["--steps", "many"], 2, /^error: flag --steps: expected an integer >= 0, got "many"/],
    [
      "sample",
      ["--ckpt", "models/base-shapes-16", "--prompt", "x", "--out", "/no/such/dir/x.png"],
      2,
      /^error: flag --out: folder \/no\/such\/dir does not exist/,
    ],
    [
      "sample",
      ["--ckpt", "models/base-shapes-16", "--prompt", "x", "--out", "grid.txt"],
      2,
      /unknown file type "\.txt"/,
    ],
    [
      "eval-t2i",
      ["--ckpt", "no/such/run", "--prompts", "p.jsonl"],
      2,
      /^error: flag --ckpt: no\/such\/run does not exist\n$/,
    ],
    [
      "train",
      ["--config", "no/such/config.yaml"],
      1,
      /^error: no\/such\/config\.yaml: cannot read config: No such file/,
    ],
  ];
  const runs = await pooled(cases, 3, ([task, args]) => runTask(task, args));
  cases.forEach(([task, args, code, re], i) => {
    const r = runs[i];
    assert.equal(r.code, code, `${task} ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    oneErrorLine(r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stdout, /adapter:/, "the check must come before the GPU is acquired");
  });
});
