// A progress bar on a TTY (redrawn in place), or one plain line per interval when stderr is a file or
// a pipe (CI logs, `tee`), so long tasks are visible in both without flooding logs. Every line has
// the count, the rate and (once there is a rate) the time left:
//   sample: 5/16 31% 0.52 images/s 9.6s eta 21s
// The first line is drawn when the bar is created, so a task shows at once that it is working. Work
// may be counted in fractions (tick(1 / steps) per sampling step): counts are shown rounded down.

import type { Host } from "../host/host.ts";

export interface ProgressOptions {
  /** Seconds between lines when not on a TTY (default 5). */
  intervalS?: number;
  /** Force TTY or line mode (default: whether stderr is a terminal). */
  tty?: boolean;
  /** What is counted, shown with the rate ("images" -> "0.52 images/s"). */
  unit?: string;
  /** Where lines go (default stderr); for tests. */
  write?: (text: string) => void;
}

/** Formats seconds as 4.2s, 3m05s or 1h02m. */
export function fmtDuration(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  return h
    ? `${h}h${String(m % 60).padStart(2, "0")}m`
    : `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
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
  #unit: string;
  #out: (text: string) => void;
  #finished = false;

  /** Lines go to the host's stderr (`opts.write` replaces it). */
  constructor(host: Host, label: string, total: number, opts: ProgressOptions = {}) {
    this.label = label;
    this.total = total;
    this.#tty = opts.tty ?? host.proc.stderrIsTerminal();
    // A TTY redraw is cheap, but still throttle it so tight loops are not dominated by writes.
    this.#intervalMs = this.#tty ? 100 : (opts.intervalS ?? 5) * 1000;
    this.#unit = opts.unit ? ` ${opts.unit}` : "";
    this.#out = opts.write ?? ((t) => host.proc.writeStderr(t));
    this.#last = performance.now();
    this.#write(false);
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

  /** Prints the final state and the rate; call once at the end (further calls do nothing). */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#write(true);
  }

  #write(final: boolean): void {
    const secs = (performance.now() - this.#start) / 1000;
    const rate = secs > 0 ? (this.#done - this.#skipped) / secs : 0;
    const pct = this.total > 0 ? Math.min(100, (100 * this.#done) / this.total) : 100;
    const eta = rate > 0 && this.#done < this.total
      ? ` eta ${fmtDuration((this.total - this.#done) / rate)}`
      : "";
    // Small rates need more digits (a training update can take 10 s: 0.10/s, not 0.1/s).
    const r = rate >= 10 ? rate.toFixed(1) : rate >= 0.1 ? rate.toFixed(2) : rate.toFixed(3);
    const shown = Math.floor(this.#done + 1e-9);
    const stats = `${shown}/${this.total} ${pct.toFixed(0)}% ${r}${this.#unit}/s ${fmtDuration(secs)}${eta}` +
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
    this.#out(line);
  }
}
