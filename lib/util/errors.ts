// Error kinds that tasks map to exit codes (one error style for every task):
//   UsageError    a bad flag or argument: `error: <flag>: <what is wrong> (<value>)`, exit 2
//   StoppedError  a run stopped on request (Ctrl-C / SIGTERM) after saving what it had, exit 130
//   anything else `error: <file or flag>: <what is wrong> (<value>)`, exit 1
// Library code throws these; only the task wrapper prints them and exits.

/** A bad command line: unknown or malformed flag, missing required argument. Exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A run that stopped on request at `step`, with its state saved. Exit code 130. */
export class StoppedError extends Error {
  override name = "StoppedError";
  constructor(readonly step: number, message = `stopped at update ${step}; resume with --resume`) {
    super(message);
  }
}

/** The process exit code for an error thrown out of a task. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return 2;
  if (e instanceof StoppedError) return 130;
  return 1;
}
