// The task wrapper: parse the command line by the task's spec, print --help, run the body, and turn
// whatever it throws into one line in one style, `error: <file or flag>: <what is wrong> (<value>)`,
// with the exit code of lib/util/errors.ts (1; 2 for a UsageError; 130 for a StoppedError, which
// prints its own line). No stack trace and no "Uncaught (in promise)" unless --debug or
// SEPPO_DEBUG=1 asks for it.
import { exitCodeOf, StoppedError } from "../util/errors.ts";
import type { Host } from "../host/host.ts";
import { type Cli, type Flags, helpText, parseCli, type Parsed } from "./flags.ts";

function envDebug(host: Host): boolean {
  return ["1", "true", "yes"].includes(host.proc.env("SEPPO_DEBUG") ?? ""); // unset without env permission
}

// Deno's file-system errors read "No such file or directory (os error 2): open 'x.png'", alone or
// quoted inside a library's message.
const OS_ERROR = / \(os error \d+\)(?:: \w+ '([^']*)')?/g;

/** Whether `text` names `path` as a whole word (not as part of another word). */
function mentions(text: string, path: string): boolean {
  for (let i = text.indexOf(path); i >= 0; i = text.indexOf(path, i + 1)) {
    const a = text[i - 1], b = text[i + path.length];
    if ((a === undefined || /[\s'"(]/.test(a)) && (b === undefined || /[\s'":),]/.test(b))) return true;
  }
  return false;
}

/**
 * An error's message in the house style: a bare OS error gets its path first ("x.png: no such file
 * or directory"); inside a longer message, "(os error N): op 'path'" shrinks to "(path)", or to
 * nothing where the message already names the path.
 */
export function errorMessage(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const msg = e.message || e.name;
  const bare = /^([^:]+) \(os error \d+\): \w+ '([^']*)'$/.exec(msg);
  let out = bare
    ? `${bare[2]}: ${bare[1].charAt(0).toLowerCase()}${bare[1].slice(1)}`
    : msg.replace(OS_ERROR, (_m, path: string | undefined, at: number) =>
      !path || mentions(msg.slice(0, at), path) ? "" : ` (${path})`);
  if (e instanceof AggregateError && e.errors.length) {
    out += e.errors.map((x) => `\n  ${errorMessage(x)}`).join("");
  }
  return out;
}

/** What the wrapper prints for `e` (without the trailing newline). */
export function formatError(e: unknown, debug: boolean): string {
  const head = e instanceof StoppedError ? e.message : `error: ${errorMessage(e).replace(/^error: /, "")}`;
  if (!debug) return head;
  const lines = [head];
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    lines.push(depth ? `caused by: ${c.stack ?? c.message}` : c.stack ?? "");
  }
  return lines.join("\n");
}

function debugWanted(host: Host, argv: readonly string[]): boolean {
  return envDebug(host) || argv.includes("--debug");
}

function fail(host: Host, e: unknown, debug: boolean): never {
  console.error(formatError(e, debug));
  host.proc.exit(exitCodeOf(e));
}

/**
 * For a task written as top-level code: parses `argv` by `cli` (prints --help and exits 0 on -h /
 * --help; a usage error exits 2) and makes every later uncaught error, a top-level `throw` included,
 * end the process in the house style. Prefer runTask; this keeps a long script flat.
 */
export function startTask<F extends Flags, T>(
  host: Host,
  cli: Cli<F, T>,
  argv: readonly string[] = host.proc.args,
): Parsed<F, T> {
  const debug = debugWanted(host, argv);
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    fail(host, ev.reason, debug);
  });
  globalThis.addEventListener("error", (ev) => {
    ev.preventDefault();
    fail(host, ev.error, debug);
  });
  let parsed: Parsed<F, T> | "help";
  try {
    parsed = parseCli(cli, argv);
  } catch (e) {
    fail(host, e, debug);
  }
  if (parsed === "help") {
    console.log(helpText(cli));
    host.proc.exit(0);
  }
  return parsed;
}

/**
 * Runs a task: parses `argv` by `cli` (startTask), then `body`. Any error ends the process with its
 * exit code after one line on stderr; so does a promise that rejects unawaited. Returns normally
 * when the body succeeds (the process then ends on its own).
 */
export async function runTask<F extends Flags, T>(
  host: Host,
  cli: Cli<F, T>,
  body: (args: Parsed<F, T>) => unknown,
  argv: readonly string[] = host.proc.args,
): Promise<void> {
  const parsed = startTask(host, cli, argv);
  try {
    await body(parsed);
  } catch (e) {
    fail(host, e, debugWanted(host, argv));
  }
}

/** For tasks that resume by running them again (demo, compare): says so in the stop line. */
export function rerunToResume(e: unknown): never {
  if (e instanceof StoppedError) {
    throw new StoppedError(e.step, `stopped at update ${e.step}; run the same command again to resume`);
  }
  throw e;
}
