// Command-line flags for every task, from one spec per task: each flag has a type (a Spec of
// lib/io/spec.ts, so flags and config keys are checked by the same code), a default and a line of
// help. Parsing is strict: an unknown flag gets a "did you mean" from the config layer's suggest(), a
// flag given twice is refused (no silent "last one wins"), values are checked against their spec, and
// every mistake is a UsageError (exit 2). With a config schema (lib/cli/config_flags.ts),
// `--config FILE` reads a YAML file of its keys, and (if the task says so) every key is a flag too:
// `--train.lr 1e-4`, or `--lr` when the last part is unique. helpText() renders the same specs and
// Schema.fields, so --help cannot drift. No npm imports here: tasks/setup.ts uses it before
// `deno install` has run.
import { type Bounds, check, describe, parseFlag, type Spec, suggest } from "../io/spec.ts";
import { UsageError } from "../util/errors.ts";

/** One flag: its type, help line, placeholder in the help ("DIR"), default, and whether required. */
export interface Flag<T> {
  readonly spec: Spec;
  readonly help: string;
  readonly arg: string;
  readonly default: T;
  readonly required: boolean;
  /** The value of the flag given without one (`--resume` alone = "latest"); undefined: a value is required. */
  readonly bare?: string;
  /** Other names of the flag (diffusers' spelling: resume_from_checkpoint). */
  readonly also: readonly string[];
}

interface Given<T> {
  default?: T;
  required?: boolean;
  arg?: string;
  bare?: string;
  also?: readonly string[];
}
/** A flag's value type: T with a default or when required, else T | undefined. */
type Value<T, O> = O extends { default: T } ? T : O extends { required: true } ? T : T | undefined;

function make<T>(spec: Spec, help: string, o: Given<unknown>, arg: string): Flag<T> {
  return {
    spec,
    help,
    arg: o.arg ?? arg,
    default: o.default as T,
    required: o.required ?? false,
    bare: o.bare,
    also: o.also ?? [],
  };
}

const bounds = (o: Bounds | undefined): Bounds => ({ min: o?.min, max: o?.max, gt: o?.gt, lt: o?.lt });

/** Flag constructors: `flag.int("samples per prompt", { default: 8, min: 1 })`. */
export const flag = {
  int<const O extends Given<number> & Bounds = Record<never, never>>(help: string, o?: O) {
    const b = bounds(o);
    return make<Value<number, O>>({ kind: "number", integer: true, ...b }, help, o ?? {}, "N");
  },
  num<const O extends Given<number> & Bounds = Record<never, never>>(help: string, o?: O) {
    const b = bounds(o);
    return make<Value<number, O>>({ kind: "number", integer: false, ...b }, help, o ?? {}, "X");
  },
  str<const O extends Given<string> = Record<never, never>>(help: string, o?: O) {
    return make<Value<string, O>>({ kind: "string", nullable: false }, help, o ?? {}, "TEXT");
  },
  choice<const O extends Given<string> = Record<never, never>>(
    values: readonly string[],
    help: string,
    o?: O,
  ) {
    return make<Value<string, O>>({ kind: "enum", values }, help, o ?? {}, values.join("|"));
  },
  bool(help: string, o: { also?: readonly string[] } = {}): Flag<boolean> {
    return make<boolean>({ kind: "boolean" }, help, { default: false, also: o.also }, "");
  },
};

// deno-lint-ignore no-explicit-any
export type Flags = Record<string, Flag<any>>;
export type FlagValues<F extends Flags> = {
  -readonly [K in keyof F]: F[K] extends Flag<infer V> ? V : never;
};

/**
 * The config side of a command line: a schema's keys read from `--config FILE` (YAML), and as flags
 * when `flags` is true. Built by configFlags() (lib/cli/config_flags.ts), which holds the YAML code.
 */
export interface ConfigFlags<T> {
  readonly keys: readonly string[];
  /** Whether every key is also a flag (train) or only a key of the file (demo). */
  readonly flags: boolean;
  /** Extra flag names for keys: { seed: "train.seed" }. */
  readonly aliases: Readonly<Record<string, string>>;
  /** The --config default (a preset file), or undefined for the schema defaults. */
  readonly file?: string;
  spec(key: string): Spec;
  defaultOf(key: string): unknown;
  /** The preset file's value of `key`, or undefined without a (readable) preset. */
  presetOf(key: string): unknown;
  /** The key a flag name sets (dotted, "-" for "_", or a unique last part), or null; throws when ambiguous. */
  resolve(name: string): string | null;
  /** The effective config: file (or preset, or defaults) with the flag overrides (name -> text). */
  build(file: string | undefined, overrides: Record<string, string | boolean>): { config: T; yaml: string };
}

/** A task's command line: what --help prints and what parseCli accepts. */
export interface Cli<F extends Flags, T = undefined> {
  /** The task name in `deno task <task>`. */
  task: string;
  /** What the task does, in a sentence or two. */
  purpose: string;
  /** The synopsis after `deno task <task>` (default: the required flags, then "[flags]"). */
  usage?: string;
  flags: F;
  config?: ConfigFlags<T>;
  examples: string[];
  /** Extra lines printed after the flags (rules that span flags). */
  notes?: string[];
}

/** Identity with the flag types inferred (`const` keeps literal `required: true`). */
export function defineCli<const F extends Flags, T = undefined>(cli: Cli<F, T>): Cli<F, T> {
  return cli;
}

export interface Parsed<F extends Flags, T> {
  flags: FlagValues<F>;
  /** The effective config (file + flags), or undefined for a task without a schema. */
  config: T;
  /** The effective config as YAML ("" without a schema), for printing and saving with runs. */
  yaml: string;
  /** Dotted config keys set by a flag. */
  explicit: Set<string>;
  /** Task flags given on the command line (not defaulted). */
  given: Set<string>;
  debug: boolean;
}

/** Flags every task has. */
const COMMON = ["help", "debug"];

/**
 * Names people bring from diffusers' training scripts, mapped to ours for the "did you mean" (only
 * those the task has are suggested).
 */
const SYNONYMS: Record<string, string> = {
  learning_rate: "train.lr",
  lr: "train.lr",
  max_train_steps: "train.steps",
  num_train_steps: "train.steps",
  train_batch_size: "train.batch",
  batch_size: "train.batch",
  gradient_accumulation_steps: "train.grad_accum",
  lr_scheduler: "train.schedule",
  lr_warmup_steps: "train.warmup",
  output_dir: "out",
  pretrained_model_name_or_path: "base",
  train_data_dir: "data.prefs",
  checkpointing_steps: "log.ckpt_every",
  resume_from_checkpoint: "resume",
  num_inference_steps: "steps",
  guidance_scale: "guidance",
  validation_prompt: "prompt",
  num_images: "n",
};

const configKeys = <T>(cli: Cli<Flags, T>) => cli.config?.keys ?? [];
const configFlags = <T>(cli: Cli<Flags, T>) => cli.config?.flags ?? false;

/** Every flag name the task accepts (for suggestions), with config keys when they are flags. */
function candidates<T>(cli: Cli<Flags, T>): string[] {
  const own = [
    ...Object.entries(cli.flags).flatMap(([n, f]) => [n, ...f.also]),
    ...COMMON,
    ...(cli.config ? ["config"] : []),
  ];
  if (!configFlags(cli)) return own;
  return [...own, ...configKeys(cli), ...Object.keys(cli.config?.aliases ?? {})];
}

function unknownFlag<T>(cli: Cli<Flags, T>, name: string): UsageError {
  const names = candidates(cli);
  const norm = name.replaceAll("-", "_").toLowerCase();
  const syn = SYNONYMS[norm] ?? SYNONYMS[norm.replace(/^.*\./, "")];
  const guess = syn && names.includes(syn) ? syn : suggest(name, names) ?? suggest(norm, names);
  const hint = guess ? ` (did you mean --${guess}?)` : "";
  // A config key of a task that reads them only from its --config file.
  if (!configFlags(cli) && cli.config) {
    let key: string | null = null;
    try {
      key = cli.config.resolve(name);
    } catch { /* ambiguous: not worth more than the message below */ }
    if (key) {
      return new UsageError(
        `flag --${name}: not a flag of ${cli.task}; ${key} is a key of its --config file${
          cli.config.file ? ` (default ${cli.config.file})` : ""
        }`,
      );
    }
  }
  return new UsageError(`flag --${name}: unknown flag${hint}; deno task ${cli.task} --help lists them`);
}

function flagValue(name: string, f: Flag<unknown>, text: string): unknown {
  const v = parseFlag(f.spec, text);
  const err = check(f.spec, v, `flag --${name}`);
  if (err) throw new UsageError(err);
  return v;
}

/**
 * Parses `argv` by the task's spec. Returns "help" for -h / --help. Throws UsageError for every
 * command-line mistake, ConfigError for a bad --config file (which is not a usage error: exit 1).
 */
export function parseCli<F extends Flags, T>(cli: Cli<F, T>, argv: readonly string[]): Parsed<F, T> | "help" {
  // --help wins over everything else on the line, mistakes included.
  if (argv.some((a) => a === "-h" || a === "--help")) return "help";
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  const overrides: Record<string, string | boolean> = {};
  const keyOf = new Map<string, string>(); // task flag or config key -> how it was given (for repeats)
  const explicit = new Set<string>();
  let configFile: string | undefined;
  let debug = false;
  /** Records that `shown` set `id`; a second setting of the same thing is refused. */
  const once = (id: string, shown: string) => {
    const first = keyOf.get(id);
    if (first) {
      const what = first === shown
        ? `flag ${shown}: given twice`
        : `flags ${first} and ${shown} both set ${id}`;
      throw new UsageError(`${what}; give it once`);
    }
    keyOf.set(id, shown);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--") || a === "--") {
      if (/^-[A-Za-z]/.test(a)) {
        const guess = suggest(a.slice(1), candidates(cli));
        throw new UsageError(
          `flag ${a}: unknown; flags are spelled --name${guess ? ` (did you mean --${guess}?)` : ""}`,
        );
      }
      throw new UsageError(
        `argument ${
          JSON.stringify(a)
        }: unexpected; every value follows its --flag (quote values with spaces)`,
      );
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const takeValue = (arg: string, bare?: string): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        if (bare !== undefined) return bare;
        throw new UsageError(`flag --${name}: needs a value (${arg})`);
      }
      i++;
      return next;
    };
    const takeBool = (): boolean => {
      if (inline === undefined) return true;
      if (inline === "true" || inline === "false") return inline === "true";
      throw new UsageError(
        `flag --${name}: takes no value, or =true / =false (got ${JSON.stringify(inline)})`,
      );
    };
    if (name === "debug") {
      debug = takeBool();
      continue;
    }
    if (name === "config" && cli.config) {
      once("config", "--config");
      given.add("config");
      configFile = takeValue("FILE");
      continue;
    }
    const own = Object.hasOwn(cli.flags, name)
      ? name
      : Object.keys(cli.flags).find((n) => cli.flags[n].also.includes(name));
    if (own) {
      const f = cli.flags[own];
      once(own, `--${name}`);
      given.add(own);
      values[own] = f.spec.kind === "boolean" ? takeBool() : flagValue(name, f, takeValue(f.arg, f.bare));
      continue;
    }
    if (cli.config && configFlags(cli)) {
      const key = cli.config.aliases[name] ?? cli.config.resolve(name);
      if (key) {
        once(key, `--${name}`);
        explicit.add(key);
        const spec = cli.config.spec(key);
        const next = argv[i + 1];
        // A boolean key may stand alone (--save.keep_all) or take true/false.
        overrides[name] =
          spec.kind === "boolean" && inline === undefined && next !== "true" && next !== "false"
            ? true
            : takeValue(spec.kind === "boolean" ? "true|false" : "VALUE");
        continue;
      }
    }
    throw unknownFlag(cli, name);
  }
  for (const [name, f] of Object.entries(cli.flags)) {
    if (name in values) continue;
    if (f.required) throw new UsageError(`flag --${name}: required (${f.arg}: ${f.help})`);
    values[name] = f.default;
  }
  let config = undefined as T;
  let yaml = "";
  if (cli.config) ({ config, yaml } = cli.config.build(configFile, overrides));
  return { flags: values as FlagValues<F>, config, yaml, explicit, given, debug };
}

// ---- help ---------------------------------------------------------------------------------------

/** A spec as a short type for the help: "integer >= 1", "sft|dpo", "string or null". */
function typeText(s: Spec): string {
  if (s.kind === "enum") return s.values.join("|");
  return describe(s).replace(/^an? /, "").replace(/ of (an? )/, " of ");
}

function valueText(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(valueText).join(", ")}]`;
  return String(v);
}

/** Word-wraps `text` to `width` columns, continuation lines indented by `indent`. */
function wrap(text: string, width: number, indent: number): string {
  const words = text.split(" ");
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && line.length + 1 + w.length > width - (lines.length ? indent : 0)) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  lines.push(line);
  return lines.join("\n" + " ".repeat(indent));
}

const WIDTH = 100;

function table(rows: [string, string][]): string[] {
  const col = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows.map(([l, r]) => {
    const left = `  ${l}`;
    const pad = left.length + 1 > col + 2 ? `${left}\n${" ".repeat(col + 2)}` : left.padEnd(col + 2);
    return pad + wrap(r, WIDTH, col + 2);
  });
}

/** The --help text: purpose, usage, every flag with type and default, every config key, examples. */
export function helpText<F extends Flags, T>(cli: Cli<F, T>): string {
  const required = Object.entries(cli.flags).filter(([, f]) => f.required).map(([n, f]) => `--${n} ${f.arg}`);
  const usage = cli.usage ?? [...required, "[flags]"].join(" ");
  const out = [
    wrap(`deno task ${cli.task}: ${cli.purpose}`, WIDTH, 2),
    "",
    `usage: deno task ${cli.task} ${usage}`,
  ];
  const rows: [string, string][] = [];
  for (const [name, f] of Object.entries(cli.flags)) {
    const type = f.spec.kind === "boolean" ? "switch" : typeText(f.spec);
    const dflt = f.required
      ? "required"
      : f.default === undefined
      ? "optional"
      : `default ${valueText(f.default)}`;
    const arg = !f.arg ? "" : f.bare !== undefined ? ` [${f.arg}]` : ` ${f.arg}`;
    const bare = (f.bare !== undefined ? `; alone: ${valueText(f.bare)}` : "") +
      (f.also.length ? `; also ${f.also.map((a) => `--${a}`).join(", ")}` : "");
    rows.push([`--${name}${arg}`, `${f.help} [${type}; ${f.spec.kind === "boolean" ? "off" : dflt}${bare}]`]);
  }
  if (cli.config) {
    const file = cli.config.file ? `default ${cli.config.file}` : "default: the keys' defaults below";
    rows.push(["--config FILE", `YAML file of the config keys below [${file}]`]);
    for (const [name, key] of Object.entries(cli.config.aliases)) {
      rows.push([`--${name} VALUE`, `the same as --${key}`]);
    }
  }
  rows.push(["--debug", "print the stack trace with an error (or set SEPPO_DEBUG=1)"]);
  rows.push(["-h, --help", "print this help and exit"]);
  out.push("", "flags:", ...table(rows));
  const c = cli.config;
  if (c) {
    // The flag example: a dotted key whose last part is unique, so the short form works too.
    const lastOf = (k: string) => k.slice(k.lastIndexOf(".") + 1);
    const dotted = c.keys.find((k) =>
      k.includes(".") && c.keys.filter((j) => lastOf(j) === lastOf(k)).length === 1
    );
    const how = !c.flags
      ? "in the --config file only"
      : `in the --config file, or as flags that override it` +
        (dotted ? `: --${dotted} VALUE, or --${lastOf(dotted)} VALUE where the last part is unique` : "");
    // With a preset file (demo), its values are what a run gets; show them where they differ.
    const hasPreset = c.keys.some((k) => c.presetOf(k) !== undefined);
    const note = hasPreset ? `; "preset" is the value in ${c.file}, where it differs` : "";
    out.push("", wrap(`config keys (${how}${note}):`, WIDTH, 2));
    out.push(...table(c.keys.map((key) => {
      const d = valueText(c.defaultOf(key));
      const p = hasPreset ? valueText(c.presetOf(key)) : d;
      return [key, `${typeText(c.spec(key))}; default ${d}${p !== d ? `; preset ${p}` : ""}`];
    })));
  }
  if (cli.notes?.length) out.push("", ...cli.notes.map((n) => wrap(n, WIDTH, 0)));
  out.push("", cli.examples.length > 1 ? "examples:" : "example:", ...cli.examples.map((e) => `  ${e}`));
  return out.join("\n");
}
