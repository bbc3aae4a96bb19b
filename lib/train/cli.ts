// Shared CLI plumbing for training tasks: --config FILE plus config-key flags (--train.lr 1e-4 or a
// unique leaf like --beta), printed and returned with its YAML for saving beside the run.
import { parseArgs } from "node:util";
import { applyOverrides, dumpYaml, flagOptions, loadYamlConfig, type Schema } from "../io/config.ts";

export interface ParsedTask<T> {
  config: T;
  yaml: string;
  flags: Record<string, string | boolean | undefined>;
  /**
   * Dotted config keys set by a flag. (Keys from the file are not counted: a preset file may set
   * ref.strategy for seppo and still serve `--method dpo`, whose preset then wins.)
   */
  explicit: Set<string>;
}

/**
 * Parses `args`: --config FILE (optional: defaults otherwise), the task's own boolean/string options
 * (`extra`), and any config key as a flag. Unknown flags are errors naming the flag.
 */
export function parseTask<T>(
  args: string[],
  schema: Schema<T>,
  extra: Record<string, { type: "string" | "boolean"; default?: string | boolean }> = {},
  aliases: Record<string, string> = {},
): ParsedTask<T> {
  const leafFlags: Record<string, { type: "string" }> = {};
  for (const k of Object.keys(schema.fields)) {
    const leaf = k.split(".").pop()!;
    leafFlags[leaf] = { type: "string" };
    leafFlags[leaf.replaceAll("_", "-")] = { type: "string" };
  }
  for (const a of Object.keys(aliases)) leafFlags[a] = { type: "string" };
  const { values } = parseArgs({
    args,
    options: { config: { type: "string" }, ...flagOptions(schema), ...leafFlags, ...extra },
    strict: true,
  });
  const v = values as Record<string, string | boolean | undefined>;
  const overrides: Record<string, string | boolean | undefined> = {};
  for (const [k, val] of Object.entries(v)) {
    if (k === "config" || k in extra || val === undefined) continue;
    overrides[aliases[k] ?? k] = val;
  }
  const base = v.config ? loadYamlConfig(v.config as string, schema) : schema.defaults;
  const config = applyOverrides(base, schema, overrides);
  const explicit = new Set<string>();
  const keys = Object.keys(schema.fields);
  for (const k of Object.keys(overrides)) {
    const name = k.replaceAll("-", "_");
    explicit.add(keys.includes(name) ? name : keys.find((f) => f.endsWith("." + name)) ?? name);
  }
  return { config, yaml: dumpYaml(config), flags: v, explicit };
}

/** The run-folder flags of a training task (parseTask `extra`); see lib/train/run_folder.ts. */
export const RUN_FLAGS = {
  resume: { type: "string" },
  overwrite: { type: "boolean", default: false },
  "allow-config-change": { type: "boolean", default: false },
} as const;

/**
 * `--resume` takes an optional value (diffusers' --resume_from_checkpoint latest|PATH): a bare
 * `--resume` (last, or followed by another flag) becomes `--resume latest`; --resume_from_checkpoint
 * and --resume-from-checkpoint are aliases.
 */
export function withResumeDefault(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, ...rest] = args[i].split("=");
    const name = ["--resume", "--resume_from_checkpoint", "--resume-from-checkpoint"].includes(flag)
      ? "--resume"
      : null;
    if (!name) out.push(args[i]);
    else if (rest.length) out.push(`--resume=${rest.join("=")}`);
    else if (i + 1 < args.length && !args[i + 1].startsWith("-")) out.push(name, args[++i]);
    else out.push(name, "latest");
  }
  return out;
}

/** The RunOptions that RUN_FLAGS parsed to. */
export function runOptions(flags: Record<string, string | boolean | undefined>) {
  return {
    resume: (flags.resume as string | undefined) ?? false,
    overwrite: flags.overwrite === true,
    allowConfigChange: flags["allow-config-change"] === true,
  };
}
