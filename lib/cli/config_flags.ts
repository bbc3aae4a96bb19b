// The config side of a task's command line (the ConfigFlags of lib/cli/flags.ts): `--config FILE`
// reads YAML of a schema's keys over the defaults (or over a preset file), and flag overrides are
// checked like file values; a bad flag value is a UsageError (exit 2), a bad file a ConfigError
// (exit 1). Kept apart from lib/cli/flags.ts because it needs YAML, an npm package.
import {
  applyOverrides,
  ConfigError,
  dumpYaml,
  getPath,
  loadYamlConfig,
  resolveFlag,
  type Schema,
} from "../io/config.ts";
import type { Host } from "../host/host.ts";
import { UsageError } from "../util/errors.ts";
import type { ConfigFlags } from "./flags.ts";

export function configFlags<T>(
  host: Host,
  schema: Schema<T>,
  o: { flags: boolean; aliases?: Record<string, string>; file?: string },
): ConfigFlags<T> {
  let preset: Record<string, unknown> | null | undefined; // undefined: not read yet
  const readPreset = () => {
    if (preset === undefined) {
      try {
        preset = o.file ? loadYamlConfig(host, o.file, schema) as Record<string, unknown> : null;
      } catch {
        preset = null; // a broken preset is reported when the task runs
      }
    }
    return preset;
  };
  return {
    keys: Object.keys(schema.fields),
    flags: o.flags,
    aliases: o.aliases ?? {},
    file: o.file,
    spec: (key) => schema.fields[key],
    defaultOf: (key) => getPath(schema.defaults as Record<string, unknown>, key),
    presetOf: (key) => {
      const p = readPreset();
      return p ? getPath(p, key) : undefined;
    },
    resolve(name) {
      try {
        return resolveFlag(name, schema.fields);
      } catch (e) {
        if (e instanceof ConfigError && e.message.includes("ambiguous")) throw new UsageError(e.message);
        return null;
      }
    },
    build(file, overrides) {
      const from = file ?? o.file;
      const base = from ? loadYamlConfig(host, from, schema) : schema.defaults;
      const byKey: Record<string, string | boolean> = {};
      for (const [name, v] of Object.entries(overrides)) byKey[o.aliases?.[name] ?? name] = v;
      let config: T;
      try {
        config = applyOverrides(base, schema, byKey);
      } catch (e) {
        if (e instanceof ConfigError) throw new UsageError(e.message, { cause: e });
        throw e;
      }
      return { config, yaml: dumpYaml(config) };
    },
  };
}
