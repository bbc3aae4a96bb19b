// The shared command-line layer in process: typed flags with defaults, strict parsing (unknown flags
// with a suggestion, repeats, missing values, positional arguments), config keys as flags (dotted,
// by a unique last part, aliases, booleans), the --help text built from the same specs, and the
// error line of the task wrapper (OS errors with the path first, no stack unless --debug).
import assert from "node:assert/strict";
import { configFlags } from "../../lib/cli/config_flags.ts";
import { defineCli, flag, helpText, parseCli } from "../../lib/cli/flags.ts";
import { errorMessage, formatError } from "../../lib/cli/main.ts";
import { checkInput, checkOutDir, checkOutFile } from "../../lib/cli/paths.ts";
import { bool, defineSchema, int, num, oneOf } from "../../lib/io/config.ts";
import { StoppedError, UsageError } from "../../lib/util/errors.ts";
import { host } from "../_helpers.ts";

const SCHEMA = defineSchema(
  { train: { lr: 1e-4, steps: 10 }, ref: { steps: 5 }, method: "seppo", save: { keep_all: false } },
  {
    "train.lr": num({ gt: 0 }),
    "train.steps": int({ min: 1 }),
    "ref.steps": int({ min: 1 }),
    "method": oneOf("sft", "seppo"),
    "save.keep_all": bool(),
  },
);

const CLI = defineCli({
  task: "t",
  purpose: "a test task.",
  flags: {
    ckpt: flag.str("checkpoint", { required: true, arg: "DIR" }),
    n: flag.int("samples", { default: 8, min: 1 }),
    scale: flag.num("guidance", { min: 1 }),
    mode: flag.choice(["a", "b"], "mode", { default: "a" }),
    resume: flag.bool("resume"),
    from: flag.str("a checkpoint or latest", {
      bare: "latest",
      arg: "latest|PATH",
      also: ["from_checkpoint"],
    }),
  },
  config: configFlags(host, SCHEMA, { flags: true, aliases: { seed: "train.steps" } }),
  examples: ["deno task t --ckpt x"],
});

function parse(...argv: string[]) {
  const p = parseCli(CLI, argv);
  if (p === "help") throw new Error("help");
  return p;
}
const usage = (re: RegExp, ...argv: string[]) =>
  assert.throws(() => parse(...argv), (e) => e instanceof UsageError && re.test(e.message));

Deno.test("flags: typed values and defaults; --x=v; booleans; config keys by dotted name, last part, alias", () => {
  const p = parse("--ckpt", "c", "--n=3", "--resume", "--lr", "2e-4", "--method", "sft", "--save.keep_all");
  assert.deepEqual(p.flags, { ckpt: "c", n: 3, scale: undefined, mode: "a", resume: true, from: undefined });
  assert.equal(parse("--ckpt", "c", "--from").flags.from, "latest");
  assert.equal(parse("--from", "--ckpt", "c").flags.from, "latest");
  assert.equal(parse("--ckpt", "c", "--from", "run/checkpoint-4").flags.from, "run/checkpoint-4");
  assert.equal(parse("--ckpt", "c", "--from_checkpoint", "x").flags.from, "x");
  usage(
    /^flags --from and --from_checkpoint both set from/,
    "--ckpt",
    "c",
    "--from",
    "--from_checkpoint",
    "y",
  );
  assert.equal(p.config.train.lr, 2e-4);
  assert.equal(p.config.method, "sft");
  assert.equal(p.config.save.keep_all, true);
  assert.deepEqual([...p.explicit].sort(), ["method", "save.keep_all", "train.lr"]);
  assert.deepEqual([...p.given].sort(), ["ckpt", "n", "resume"]);
  assert.equal(parse("--ckpt", "c", "--seed", "7").config.train.steps, 7);
  assert.equal(parse("--ckpt", "c", "--save.keep_all", "false").config.save.keep_all, false);
  assert.match(p.yaml, /lr: 0\.0002/);
  assert.equal(parseCli(CLI, ["--ckpt", "c", "-h"]), "help");
  assert.equal(parseCli(CLI, ["--help", "--bogus"]), "help");
});

Deno.test("flags: every command-line mistake is a UsageError that names the flag", () => {
  usage(/^flag --ckpt: required \(DIR: checkpoint\)$/);
  usage(/^flag --nn: unknown flag \(did you mean --n\?\)/, "--ckpt", "c", "--nn", "3");
  usage(
    /^flag --train\.step: unknown flag \(did you mean --train\.steps\?\)/,
    "--ckpt",
    "c",
    "--train.step",
    "3",
  );
  usage(
    /^flag --learning_rate: unknown flag \(did you mean --train\.lr\?\)/,
    "--ckpt",
    "c",
    "--learning_rate",
    "1",
  );
  usage(/^flag --n: given twice; give it once$/, "--ckpt", "c", "--n", "1", "--n", "2");
  usage(/^flags --lr and --train\.lr both set train\.lr/, "--ckpt", "c", "--lr", "1", "--train.lr", "2");
  usage(/^flag --n: expected an integer >= 1, got 0$/, "--ckpt", "c", "--n", "0");
  usage(/^flag --mode: expected one of "a", "b", got "c"/, "--ckpt", "c", "--mode", "c");
  usage(/^flag --train\.lr: expected a number > 0, got "x"/, "--ckpt", "c", "--train.lr", "x");
  usage(/^flag --steps: ambiguous, use one of --train\.steps, --ref\.steps$/, "--ckpt", "c", "--steps", "3");
  usage(/^flag --ckpt: needs a value \(DIR\)$/, "--ckpt");
  usage(/^flag --ckpt: needs a value/, "--ckpt", "--n", "3");
  usage(/^flag --resume: takes no value/, "--ckpt", "c", "--resume=yes");
  usage(/^argument "extra": unexpected/, "--ckpt", "c", "extra");
  usage(/^flag -n: unknown; flags are spelled --name \(did you mean --n\?\)/, "--ckpt", "c", "-n", "3");
});

Deno.test("help: purpose, usage, every flag with type and default, every config key with its default", () => {
  const h = helpText(CLI);
  assert.ok(h.startsWith("deno task t: a test task.\n\nusage: deno task t --ckpt DIR [flags]\n"), h);
  assert.match(h, /\n {2}--ckpt DIR +checkpoint \[string; required\]\n/);
  assert.match(h, /\n {2}--n N +samples \[integer >= 1; default 8\]\n/);
  assert.match(h, /\n {2}--scale X +guidance \[number >= 1; optional\]\n/);
  assert.match(h, /\n {2}--mode a\|b +mode \[a\|b; default "a"\]\n/);
  assert.match(h, /\n {2}--resume +resume \[switch; off\]\n/);
  assert.match(h, /\n {2}--seed VALUE +the same as --train\.steps\n/);
  assert.match(
    h,
    /\n {2}--from \[latest\|PATH\] +a checkpoint or latest \[string; optional; alone: "latest"; also --from_checkpoint\]\n/,
  );
  for (const key of Object.keys(SCHEMA.fields)) {
    assert.match(h, new RegExp(`\\n  ${key.replace(".", "\\.")} `));
  }
  assert.match(h, /\n {2}train\.lr +number > 0; default 0\.0001\n/);
  assert.match(h, /\nexample:\n {2}deno task t --ckpt x$/);
});

Deno.test("error line: path first for OS errors, the stop line as is, the stack only with --debug", () => {
  const os = new Error("No such file or directory (os error 2): open 'x.png'");
  assert.equal(errorMessage(os), "x.png: no such file or directory");
  assert.equal(
    errorMessage(
      new Error("a.jsonl: cannot read (No such file or directory (os error 2): readfile 'a.jsonl')"),
    ),
    "a.jsonl: cannot read (No such file or directory)",
  );
  assert.equal(
    errorMessage(new Error("run: Is a directory (os error 21): open 'y'")),
    "run: Is a directory (y)",
  );
  assert.equal(formatError(new UsageError("flag --n: bad"), false), "error: flag --n: bad");
  assert.equal(formatError(new StoppedError(7), false), "stopped at update 7; resume with --resume");
  const wrapped = new Error("outer", { cause: new Error("inner") });
  const debug = formatError(wrapped, true);
  assert.match(debug, /^error: outer\nError: outer\n {4}at /);
  assert.match(debug, /\ncaused by: Error: inner\n/);
  assert.doesNotMatch(formatError(wrapped, false), /\n/);
});

Deno.test("output paths are checked before work: folder exists and is writable, known extension", async () => {
  const dir = await Deno.makeTempDir({ prefix: "seppo-paths-" });
  try {
    assert.equal(await checkOutFile(host, `${dir}/x.png`, "--out", ["png"]), `${dir}/x.png`);
    await assert.rejects(
      checkOutFile(host, `${dir}/no/x.png`, "--out", ["png"]),
      /flag --out: folder .* does not exist/,
    );
    await assert.rejects(
      checkOutFile(host, `${dir}/x.gif`, "--out", ["png", "jpg"]),
      /unknown file type "\.gif"; use one of \.png, \.jpg/,
    );
    await assert.rejects(checkOutFile(host, dir, "--out", ["png"]), /unknown file type/);
    await assert.rejects(checkOutFile(host, dir, "--out"), /is a folder, expected a file name/);
    assert.equal(await checkOutDir(host, `${dir}/a/b/c`, "--out"), `${dir}/a/b/c`); // created later, by the task
    await Deno.writeTextFile(`${dir}/f`, "");
    await assert.rejects(
      checkOutDir(host, `${dir}/f`, "--out"),
      /flag --out: .*f is a file, expected a folder/,
    );
    await assert.rejects(checkOutDir(host, `${dir}/f/sub`, "--out"), /is a file, not a folder/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f"], "the checks leave nothing behind");
    assert.equal(await checkInput(host, dir, "--ckpt", "folder"), dir);
    await assert.rejects(
      checkInput(host, `${dir}/nope`, "--ckpt"),
      /^UsageError: flag --ckpt: .*nope does not exist$/,
    );
    await assert.rejects(
      checkInput(host, `${dir}/f`, "--data", "folder"),
      /flag --data: .*f is a file, expected a folder/,
    );
    await assert.rejects(checkInput(host, dir, "--prompts", "file"), /is a folder, expected a file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
