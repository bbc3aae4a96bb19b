// YAML configs: defaults overlay, every error path (type, range, enum, boolean, null, list, unknown
// key with and without a suggestion, non-mapping, bad YAML, duplicate keys, missing file), flag
// overrides with flag-named errors, schema self-checks, and the dump round trip.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse } from "yaml";
import {
  applyOverrides,
  bool,
  defineSchema,
  dumpYaml,
  flagOptions,
  int,
  list,
  loadYamlConfig,
  num,
  oneOf,
  str,
  suggest,
} from "../../lib/io/config.ts";
import { host } from "../_helpers.ts";

interface TestConfig {
  name: string;
  seed: number;
  train: {
    lr: number;
    steps: number;
    ema: boolean;
    resume: string | null;
    warmup: number;
    max_grad_norm: number;
  };
  seppo: { beta: number; anchor: string };
  model: { channels: number[] };
  ema: { decay: number; warmup: number };
}

const defaults: TestConfig = {
  name: "run",
  seed: 0,
  train: { lr: 1e-4, steps: 100, ema: true, resume: null, warmup: 0, max_grad_norm: 1 },
  seppo: { beta: 0.1, anchor: "ddpm" },
  model: { channels: [32, 64] },
  ema: { decay: 0.999, warmup: 10 },
};

const schema = defineSchema(defaults, {
  "name": str(),
  "seed": int({ min: 0 }),
  "train.lr": num({ gt: 0 }),
  "train.steps": int({ min: 1 }),
  "train.ema": bool(),
  "train.resume": str({ nullable: true }),
  "seppo.beta": num({ min: 0 }),
  "seppo.anchor": oneOf("ddpm", "ddim", "none"),
  "model.channels": list(int({ min: 1 }), { minLength: 1 }),
  "ema.decay": num({ min: 0, lt: 1 }),
  "train.warmup": int({ min: 0 }),
  "train.max_grad_norm": num({ min: 0 }),
  "ema.warmup": int({ min: 0 }),
});

const dir = Deno.makeTempDirSync({ prefix: "seppo-cfg-" });
let count = 0;
function yamlFile(text: string): string {
  const p = join(dir, `c${count++}.yaml`);
  Deno.writeTextFileSync(p, text);
  return p;
}

/** Loads `text` and expects an error equal to `${file}: ${want}`. */
function expectFileError(text: string, want: string) {
  const p = yamlFile(text);
  assert.throws(() => loadYamlConfig(host, p, schema), (e: Error) => {
    assert.equal(e.message, `${p}: ${want}`);
    return true;
  });
}

Deno.test("a partial file overlays the defaults; the result is a fresh copy", () => {
  const cfg = loadYamlConfig(host, yamlFile("train:\n  lr: 3e-4\nmodel:\n  channels: [8, 16, 32]\n"), schema);
  assert.equal(cfg.train.lr, 3e-4);
  assert.equal(cfg.train.steps, 100);
  assert.deepEqual(cfg.model.channels, [8, 16, 32]);
  cfg.train.steps = 5;
  cfg.model.channels.push(1);
  assert.equal(defaults.train.steps, 100);
  assert.deepEqual(defaults.model.channels, [32, 64]);
  assert.deepEqual(loadYamlConfig(host, yamlFile(""), schema), defaults);
  assert.deepEqual(loadYamlConfig(host, yamlFile("train:\n  # lr: 1\n"), schema), defaults);
});

Deno.test("wrong values are refused, quoting the file, the dotted key and the value", () => {
  expectFileError("train:\n  lr: fast\n", 'train.lr: expected a number > 0, got "fast"');
  expectFileError("train:\n  lr: 0\n", "train.lr: expected a number > 0, got 0");
  expectFileError("train:\n  lr: '1e-4'\n", 'train.lr: expected a number > 0, got "1e-4"');
  expectFileError("train:\n  lr: .inf\n", "train.lr: expected a number > 0, got Infinity");
  expectFileError("train:\n  steps: 1.5\n", "train.steps: expected an integer >= 1, got 1.5");
  expectFileError("seppo:\n  beta: -1\n", "seppo.beta: expected a number >= 0, got -1");
  expectFileError("ema:\n  decay: 1\n", "ema.decay: expected a number >= 0 and < 1, got 1");
  expectFileError(
    "seppo:\n  anchor: ddpn\n",
    'seppo.anchor: expected one of "ddpm", "ddim", "none", got "ddpn" (did you mean "ddpm"?)',
  );
  expectFileError("train:\n  ema: yes\n", 'train.ema: expected true or false, got "yes"');
  expectFileError("train:\n  resume: 3\n", "train.resume: expected a string or null, got 3");
  expectFileError("name: null\n", "name: expected a string, got null");
  expectFileError("model:\n  channels: [32, 0]\n", "model.channels[1]: expected an integer >= 1, got 0");
  expectFileError(
    "model:\n  channels: []\n",
    "model.channels: expected a list of integer >= 1 (at least 1), got []",
  );
  expectFileError(
    "model:\n  channels: 32\n",
    "model.channels: expected a list of integer >= 1 (at least 1), got 32",
  );
});

Deno.test("unknown keys are errors, with a suggestion when one is close", () => {
  expectFileError("train:\n  lrr: 0.1\n", 'train.lrr: unknown key (did you mean "train.lr"?)');
  expectFileError("train:\n  stpes: 5\n", 'train.stpes: unknown key (did you mean "train.steps"?)');
  expectFileError("lr: 0.1\n", 'lr: unknown key (did you mean "train.lr"?)');
  expectFileError("trian:\n  lr: 0.1\n", 'trian: unknown key (did you mean "train"?)');
  expectFileError("optimizer: adam\n", "optimizer: unknown key");
});

Deno.test("structural errors: non-mapping sections, top level, bad YAML, duplicates, missing file", () => {
  expectFileError("train: 3\n", "train: expected a mapping of keys, got 3");
  expectFileError("seppo: [1]\n", "seppo: expected a mapping of keys, got [1]");
  expectFileError("- a\n- b\n", 'expected a mapping at the top level, got ["a","b"]');
  for (
    const [text, fragment] of [["train: [1\nseed: 2\n", "invalid YAML"], [
      "seed: 1\nseed: 2\n",
      "Map keys must be unique",
    ]]
  ) {
    const p = yamlFile(text);
    assert.throws(() => loadYamlConfig(host, p, schema), (e: Error) => {
      assert.ok(e.message.startsWith(`${p}: invalid YAML: `) && e.message.includes(fragment), e.message);
      assert.match(e.message, /line 2/);
      return true;
    });
  }
  const missing = join(dir, "nope.yaml");
  assert.throws(
    () => loadYamlConfig(host, missing, schema),
    (e: Error) => e.message.startsWith(`${missing}: cannot read config`),
  );
});

Deno.test("flag overrides are validated the same way, and errors name the flag", () => {
  const p = yamlFile("seppo:\n  beta: 0.2\n");
  const cfg = loadYamlConfig(host, p, schema, {
    "beta": "0.5",
    "train.lr": "1e-3",
    "train.ema": "false",
    "max-grad-norm": "0.5",
    "channels": "[8, 16]",
    "resume": "null",
    "seed": undefined,
  });
  assert.equal(cfg.seppo.beta, 0.5);
  assert.equal(cfg.train.lr, 1e-3);
  assert.equal(cfg.train.ema, false);
  assert.equal(cfg.train.max_grad_norm, 0.5);
  assert.deepEqual(cfg.model.channels, [8, 16]);
  assert.equal(cfg.train.resume, null);
  assert.equal(cfg.seed, 0);
  const bad: [Record<string, string | boolean>, string][] = [
    [{ beta: "abc" }, 'flag --beta (seppo.beta): expected a number >= 0, got "abc"'],
    [{ "seppo.beta": "-1" }, "flag --seppo.beta: expected a number >= 0, got -1"],
    [{ steps: "10.5" }, "flag --steps (train.steps): expected an integer >= 1, got 10.5"],
    [{ steps: "0x10" }, 'flag --steps (train.steps): expected an integer >= 1, got "0x10"'],
    [{ "train.ema": "yes" }, 'flag --train.ema: expected true or false, got "yes"'],
    [
      { anchor: "ddim2" },
      'flag --anchor (seppo.anchor): expected one of "ddpm", "ddim", "none", got "ddim2" (did you mean "ddim"?)',
    ],
    [{ channels: "8,x" }, 'flag --channels (model.channels)[1]: expected an integer >= 1, got "x"'],
    [{ lrr: "1" }, 'flag --lrr: unknown config key (did you mean "train.lr"?)'],
    [{ decay: "0.5", warmup: "3" }, "flag --warmup: ambiguous, use one of --train.warmup, --ema.warmup"],
  ]; // deno-fmt-ignore
  for (const [flags, want] of bad) {
    assert.throws(() => loadYamlConfig(host, p, schema, flags), (e: Error) => {
      assert.equal(e.message, want);
      return true;
    });
  }
});

Deno.test("flagOptions plugs into parseArgs; applyOverrides works without a file", () => {
  const { values } = parseArgs({ args: ["--train.lr", "0.01", "--seed", "7"], options: flagOptions(schema) });
  const cfg = applyOverrides(defaults, schema, values);
  assert.equal(cfg.train.lr, 0.01);
  assert.equal(cfg.seed, 7);
  assert.equal(defaults.seed, 0);
});

Deno.test("schema definition errors are caught at definition time", () => {
  assert.throws(
    () => defineSchema({ a: -1 }, { a: num({ min: 0 }) }),
    /schema defaults: a: expected a number >= 0, got -1/,
  );
  assert.throws(
    () => defineSchema({ a: 1 }, { a: num(), b: num() } as { a: ReturnType<typeof num> }),
    /spec "b" has no default/,
  );
  assert.throws(
    () =>
      defineSchema({ a: 1, b: 2 }, { a: num() } as { a: ReturnType<typeof num>; b: ReturnType<typeof num> }),
    /default "b" has no spec/,
  );
}); // deno-fmt-ignore

Deno.test("dumpYaml output loads back to the same config (strings that look like booleans stay strings)", () => {
  const cfg = { ...structuredClone(defaults), name: "true" };
  cfg.train.resume = "runs/a b/checkpoint-10";
  const text = dumpYaml(cfg);
  assert.match(text, /^name: "true"$/m);
  assert.deepEqual(schema.validate(parse(text), "dump"), cfg);
});

Deno.test("suggest prefers a moved key, then a close spelling, else nothing", () => {
  assert.equal(suggest("lr", ["train.lr", "train.steps"]), "train.lr");
  assert.equal(suggest("train.setps", ["train.lr", "train.steps"]), "train.steps");
  assert.equal(suggest("banana", ["train.lr", "train.steps"]), null);
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
