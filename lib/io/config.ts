// Typed YAML configs. A task's config is a TS interface + a defaults object + field specs per dotted
// key; `defineSchema` ties them together (the compiler checks that every leaf has a spec) and builds
// `validate`. Errors quote where a value came from (file or flag), the dotted key and the bad value,
// and unknown keys are errors (with a "did you mean") so that a typo never silently trains with a
// default.
import { parse, stringify } from "yaml";
import type { Host } from "../host/host.ts";
import { check, hint, parseFlag, show, type Spec, suggest } from "./spec.ts";
export {
  bool,
  type Bounds,
  check,
  describe,
  int,
  list,
  num,
  oneOf,
  parseFlag,
  show,
  type Spec,
  str,
  suggest,
} from "./spec.ts";

type Leaf = number | string | boolean | null | readonly unknown[];

/** Dotted paths of the leaves of T: {train: {lr: number}} -> "train.lr". */
export type ConfigKeys<T> = {
  [K in keyof T & string]: T[K] extends Leaf ? K : T[K] extends object ? `${K}.${ConfigKeys<T[K]>}` : K;
}[keyof T & string];

export interface Schema<T> {
  readonly defaults: T;
  readonly fields: Readonly<Record<string, Spec>>;
  /** Defaults overlaid with `raw` (a parsed YAML mapping); `source` names the origin in errors. */
  validate(raw: unknown, source: string): T;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The value at a dotted key ("train.lr") of a nested object. */
export function getPath(obj: Record<string, unknown>, key: string): unknown {
  return key.split(".").reduce((o: unknown, k) => (o as Record<string, unknown>)?.[k], obj);
}

function setPath(obj: Record<string, unknown>, key: string, v: unknown) {
  const ks = key.split(".");
  let o = obj;
  for (const k of ks.slice(0, -1)) o = o[k] as Record<string, unknown>;
  o[ks[ks.length - 1]] = v;
}

/** Dotted leaf paths of a defaults object (lists are leaves). */
function leaves(obj: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    isMapping(v) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]
  );
}

/**
 * Builds a schema from the defaults and one spec per dotted leaf key. Throws when specs and defaults
 * disagree or a default fails its own spec (a programming error, caught at task start).
 */
export function defineSchema<T extends object>(
  defaults: T,
  fields: { [K in ConfigKeys<T>]: Spec },
): Schema<T> {
  const specs = fields as Record<string, Spec>;
  const d = defaults as Record<string, unknown>;
  const keys = leaves(d);
  for (const k of keys) if (!(k in specs)) throw new ConfigError(`schema: default "${k}" has no spec`);
  for (const k of Object.keys(specs)) {
    if (!keys.includes(k)) throw new ConfigError(`schema: spec "${k}" has no default`);
  }
  for (const k of keys) {
    const err = check(specs[k], getPath(d, k), k);
    if (err) throw new ConfigError(`schema defaults: ${err}`);
  }
  // Every key that may appear in a file: the leaves and the mappings above them.
  const known = [...new Set(keys.flatMap((k) => k.split(".").map((_, i, a) => a.slice(0, i + 1).join("."))))];

  function walk(out: Record<string, unknown>, raw: Record<string, unknown>, prefix: string, source: string) {
    for (const [k, v] of Object.entries(raw)) {
      const key = prefix + k;
      const spec = specs[key];
      if (spec) {
        const err = check(spec, v, key);
        if (err) throw new ConfigError(`${source}: ${err}`);
        setPath(out, key, structuredClone(v));
      } else if (known.includes(key)) {
        // `train:` with every line commented out parses as null: treat it as empty.
        if (v === null) continue;
        if (!isMapping(v)) {
          throw new ConfigError(`${source}: ${key}: expected a mapping of keys, got ${show(v)}`);
        }
        walk(out, v, key + ".", source);
      } else {
        throw new ConfigError(`${source}: ${key}: unknown key${hint(suggest(key, known))}`);
      }
    }
  }

  return {
    defaults,
    fields: specs,
    validate(raw: unknown, source: string): T {
      const out = structuredClone(defaults) as Record<string, unknown>;
      if (raw === null || raw === undefined) return out as T; // an empty file: all defaults
      if (!isMapping(raw)) {
        throw new ConfigError(`${source}: expected a mapping at the top level, got ${show(raw)}`);
      }
      walk(out, raw, "", source);
      return out as T;
    },
  };
}

/** Resolves a flag name to a dotted key: exact, with "-" as "_", or a unique last segment. */
export function resolveFlag(name: string, fields: Record<string, Spec>): string {
  const keys = Object.keys(fields);
  for (const n of [name, name.replaceAll("-", "_")]) {
    if (n in fields) return n;
    const tails = keys.filter((k) => k.endsWith("." + n));
    if (tails.length === 1) return tails[0];
    if (tails.length > 1) {
      throw new ConfigError(`flag --${name}: ambiguous, use one of ${tails.map((t) => `--${t}`).join(", ")}`);
    }
  }
  throw new ConfigError(`flag --${name}: unknown config key${hint(suggest(name, keys))}`);
}

/**
 * Applies command-line overrides (flag name -> text, or a boolean from parseArgs) on top of `config`,
 * with the same checks as the file; errors name the flag. Returns a new config.
 */
export function applyOverrides<T>(
  config: T,
  schema: Schema<T>,
  flags: Record<string, string | boolean | undefined>,
): T {
  const out = structuredClone(config) as Record<string, unknown>;
  for (const [name, raw] of Object.entries(flags)) {
    if (raw === undefined) continue; // parseArgs leaves absent options undefined
    const key = resolveFlag(name, schema.fields);
    const spec = schema.fields[key];
    const v = typeof raw === "string" ? parseFlag(spec, raw) : raw;
    const where = name === key ? `flag --${name}` : `flag --${name} (${key})`;
    const err = check(spec, v, where);
    if (err) throw new ConfigError(err);
    setPath(out, key, v);
  }
  return out as T;
}

/** parseArgs `options` for every config key (as string flags: `--train.lr 1e-4`). */
export function flagOptions<T>(schema: Schema<T>): Record<string, { type: "string" }> {
  return Object.fromEntries(Object.keys(schema.fields).map((k) => [k, { type: "string" as const }]));
}

/** Reads a YAML config file, overlays it on the defaults, then applies flag overrides. */
export function loadYamlConfig<T>(
  host: Host,
  path: string,
  schema: Schema<T>,
  flags: Record<string, string | boolean | undefined> = {},
): T {
  let text: string;
  try {
    text = host.fs.readTextFileSync(path);
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config: ${(e as Error).message}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = parse(text); // duplicate keys are an error here (yaml's uniqueKeys default)
  } catch (e) {
    throw new ConfigError(`${path}: invalid YAML: ${(e as Error).message}`, { cause: e });
  }
  return applyOverrides(schema.validate(raw, path), schema, flags);
}

/** The effective config as YAML, for printing at task start and saving with runs. */
export function dumpYaml(config: unknown): string {
  return stringify(config, { lineWidth: 0 });
}
