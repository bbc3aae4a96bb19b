// Learning-rate schedules: linear warmup, then constant, cosine or linear decay to min_ratio * lr.

export type LrSchedule = "constant" | "cosine" | "linear";

export interface LrOptions {
  lr: number;
  warmup: number;
  schedule: LrSchedule;
  total: number;
  minRatio: number;
}

/** Learning rate for optimizer update `step` (0-based). */
export function lrAt(step: number, o: LrOptions): number {
  if (o.warmup > 0 && step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  if (o.schedule === "constant") return o.lr;
  const span = Math.max(1, o.total - o.warmup);
  const f = Math.min(1, Math.max(0, (step - o.warmup) / span));
  const shape = o.schedule === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * f)) : 1 - f;
  return o.lr * (o.minRatio + (1 - o.minRatio) * shape);
}
