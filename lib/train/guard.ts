// Non-finite guard of a training run. AdamW skips, on the GPU, every update whose loss or gradient
// norm is NaN or infinite (kernels/adamw.wgsl#clip), so nothing non-finite ever reaches the weights
// and no per-step readback is needed; this reads the skip counters with the logging readback (and
// before every checkpoint save) and applies train.nan_policy:
//   stop: the first skipped update ends the run with an error naming it and the last good checkpoint;
//         nothing is saved or pruned after it.
//   skip: skipped updates are counted (logged as nan_skips) and the run goes on, unless
//         train.nan_max_skips of them come in a row.
// F16 range: a run that saves F16 checks the weights it starts from, so an overflow is found at the
// start and not at the first save.
import { F16_MAX } from "../io/f16.ts";
import type { GpuContext } from "../gpu/context.ts";
import { readAll } from "../tensor/tensor.ts";
import type { AdamW, GuardState } from "./adamw.ts";
import type { Weights } from "./pool.ts";

export type NanPolicy = "stop" | "skip";

export class NonFiniteGuard {
  private reported = 0;

  constructor(
    private opt: AdamW,
    private o: {
      policy: NanPolicy;
      maxSkips: number;
      /** The run's newest saved checkpoint (for the message), or null. */
      lastGood: () => Promise<string | null>;
      /** The checkpoint before it, while it is kept because the newest is not yet followed by a finite update. */
      previous?: () => string | null;
      /** Called when every update up to `update` was finite. */
      healthy?: (update: number) => Promise<void>;
      say: (s: string) => void;
    },
  ) {}

  /**
   * Reads the counters (one small readback; call it where the loop reads its logs anyway) and throws
   * per the policy. Returns the last gradient norm and the updates skipped since the previous call.
   */
  async check(): Promise<{ gradNorm: number; newSkips: number }> {
    const g = await this.opt.readGuard();
    const newSkips = g.skipped - this.reported;
    if (newSkips > 0) {
      if (this.o.policy === "stop") throw new Error(await this.stopMessage(g));
      if (g.longestRun >= this.o.maxSkips) {
        const from = g.longestRunEnd - g.longestRun + 1;
        throw new Error(
          `updates ${from}-${g.longestRunEnd}: ${g.longestRun} non-finite updates in a row ` +
            `(train.nan_max_skips ${this.o.maxSkips}); stopped without saving. ${await this.lastGoodText()}`,
        );
      }
      this.o.say(
        `update ${g.last}: non-finite loss or gradient norm; update skipped (train.nan_policy skip: ` +
          `${g.skipped} skipped so far, ${g.run} in a row, limit ${this.o.maxSkips})`,
      );
      this.reported = g.skipped;
    } else await this.o.healthy?.(this.opt.step);
    return { gradNorm: g.gradNorm, newSkips };
  }

  private async stopMessage(g: GuardState): Promise<string> {
    const later = g.skipped > 1 ? ` (${g.skipped} updates up to ${g.last} were non-finite)` : "";
    return `update ${g.first}: non-finite ${g.firstKind}${later}; stopped without saving ` +
      `(train.nan_policy stop). ${await this.lastGoodText()} Lower train.lr or ` +
      `train.max_grad_norm, or set train.nan_policy skip to step over rare bad batches.`;
  }

  private async lastGoodText(): Promise<string> {
    const last = await this.o.lastGood(), prev = this.o.previous?.();
    if (!last) return "No checkpoint was saved before it.";
    return `The last good checkpoint is ${last} (continue from it with --resume)` +
      (prev ? `; the one before it, ${prev}, is kept too, in case ${last} was already diverging.` : ".");
  }
}

/**
 * Throws when a weight would overflow F16 (|v| >= 65504 + half an ulp, as the F16 writer refuses),
 * naming the tensor: called at the start of a run that saves F16. One readback of every weight.
 */
export async function checkF16Range(ctx: GpuContext, weights: Weights, what: string) {
  const names = [...weights.keys()];
  const data = await readAll(ctx, names.map((n) => weights.get(n)!));
  data.forEach((d, k) => {
    for (let i = 0; i < d.length; i++) {
      if (Math.abs(d[i]) >= F16_MAX + 16 || Number.isNaN(d[i])) {
        throw new Error(
          `save.dtype F16: ${what} tensor "${names[k]}" holds ${d[i]} at index ${i}, outside F16's ` +
            `range (max ${F16_MAX}); every save would fail. Use save.dtype F32`,
        );
      }
    }
  });
}
