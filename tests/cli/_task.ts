// Runs a task as `deno task` would, in a child process: the command (permission flags and all) is
// read from deno.json, so the tests also check the task strings. The repository root is the cwd.
export const ROOT = new URL("../../", import.meta.url).pathname;

/** `deno.json` task names, without the suite's own (test, ok, test-web). */
export function taskNames(): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks as Record<string, string>;
  return Object.keys(tasks).filter((t) => !["test", "ok", "test-web"].includes(t));
}

/** The `deno` arguments of a task: its last command (`setup --check && deno run ...`). */
export function taskArgs(name: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks as Record<string, string>;
  const cmd = tasks[name]?.split("&&").pop()?.trim().split(/\s+/);
  if (!cmd || cmd[0] !== "deno") throw new Error(`deno.json: task ${name} is not a deno command`);
  return cmd.slice(1);
}

export interface TaskRun {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Runs `deno task <name> ...args` to completion. */
export async function runTask(name: string, args: string[]): Promise<TaskRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs(name), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: withoutLockWait(dec.decode(out.stderr)),
  };
}

/**
 * Drops Deno's own "Blocking waiting for file lock on node_modules directory" line: it appears when
 * another Deno process (a parallel test, a training run) holds the lock; it is not the task's output.
 */
export function withoutLockWait(stderr: string): string {
  return stderr.replace(/^Blocking waiting for file lock on [^\n]*\n/gm, "");
}

/** A started task whose stderr is read as it comes (to act when a line appears). */
export class LiveTask {
  readonly child: Deno.ChildProcess;
  stderr = "";
  #reader: Promise<void>;

  constructor(name: string, args: string[]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...taskArgs(name), ...args],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.child = child;
    this.#reader = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child.stderr) this.stderr += dec.decode(chunk, { stream: true });
    })();
  }

  /** Resolves once stderr matches `re`; rejects if the process ends first. */
  async waitFor(re: RegExp): Promise<void> {
    let ended = false;
    this.child.status.then(() => (ended = true));
    while (!re.test(this.stderr)) {
      if (ended) {
        await this.#reader;
        if (re.test(this.stderr)) return;
        throw new Error(`the task ended before printing ${re}:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async end(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#reader;
    return status;
  }
}
