// A progress bar on a TTY (redrawn in place), or one plain line per interval when stderr is a file or
// a pipe (CI logs, `tee`), so long tasks are visible in both without flooding logs.

export interface ProgressOptions {
  /** Seconds between lines when not on a TTY (default 5). */
  intervalS?: number;
  /** Force TTY or line mode (default: whether stderr is a terminal). */
  tty?: boolean;
}

export class Progress {
  readonly label: string;
  readonly total: number;
  #done = 0;
  #skipped = 0;
  #note = "";
  #start = performance.now();
  #last = -Infinity;
  #tty: boolean;
  #intervalMs: number;
  #encoder = new TextEncoder();

  constructor(label: string, total: number, opts: ProgressOptions = {}) {
    this.label = label;
    this.total = total;
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    // A TTY redraw is cheap, but still throttle it so tight loops are not dominated by writes.
    this.#intervalMs = this.#tty ? 100 : (opts.intervalS ?? 5) * 1000;
  }

  get done(): number {
    return this.#done;
  }

  /** Text shown after the counts (e.g. the last logged loss). */
  note(text: string): void {
    this.#note = text;
  }

  /** Marks `n` items as done before this run (a resume) without counting them in the rate. */
  skip(n: number): void {
    this.#done += n;
    this.#skipped += n;
  }

  tick(n = 1): void {
    this.#done += n;
    const now = performance.now();
    if (now - this.#last >= this.#intervalMs) {
      this.#last = now;
      this.#write(false);
    }
  }

  /** Prints the final state and the rate; call once at the end. */
  finish(): void {
    this.#write(true);
  }

  #write(final: boolean): void {
    const secs = (performance.now() - this.#start) / 1000;
    const rate = secs > 0 ? (this.#done - this.#skipped) / secs : 0;
    const pct = this.total > 0 ? Math.min(100, (100 * this.#done) / this.total) : 100;
    const eta = rate > 0 && this.#done < this.total
      ? ` eta ${((this.total - this.#done) / rate).toFixed(0)}s`
      : "";
    const stats =
      `${this.#done}/${this.total} ${pct.toFixed(0)}% ${rate.toFixed(2)}/s ${secs.toFixed(1)}s${eta}` +
      (this.#note ? `  ${this.#note}` : "");
    let line: string;
    if (this.#tty) {
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      line = `\r${this.label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${stats}\x1b[K`;
      if (final) line += "\n";
    } else {
      line = `${this.label}: ${stats}\n`;
    }
    Deno.stderr.writeSync(this.#encoder.encode(line));
  }
}
