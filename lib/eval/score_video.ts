// The clip scorer: the image scorer on every frame, the motion read from the centroid track, and
// VBench's model-free temporal dimensions (temporal flickering, motion smoothness, dynamic degree),
// plus PSNR/SSIM against a clean reference render when one is given.

import { AREA, type ClipAttrs, MOTION_DIR, MOTION_DISTANCE, MOTIONS } from "../world/attrs.ts";
import { readScene, type SceneReading, scoreReading } from "./score_image.ts";
import { psnr, ssim } from "./metrics.ts";
import { toHwc255 } from "./pixels.ts";

/** The object moves when its centroid travels at least this far (share of the image side) from the
 * first to the last frame: a quarter of the nominal travel, 1.2 px at 16x16. */
export const MOVE_MIN = 0.25 * MOTION_DISTANCE;
/** Growth is read when log(last area / first area) passes half the nominal log ratio. */
const GROWTH_MIN = 0.5 * Math.log(AREA.large / AREA.small);

export interface ClipScore {
  /** Per-frame image scores averaged over frames (position is left out: clips follow a path). */
  background: number;
  color: number;
  shape: number;
  /** Left out (NaN) when the clip grows or shrinks, since the size then changes on purpose. */
  size: number;
  /** Mean of the per-frame fields above. */
  frame: number;
  /** 1 when the object moves, and in the named direction. */
  motion: number;
  /** 1 when the growth matches (only when the prompt names one, else NaN). */
  growth: number;
  /** Share of frames whose colour and shape match the clip's most common reading. */
  consistency: number;
  /** VBench temporal flickering: 1 - mean |frame t+1 - frame t| / 255. */
  flicker: number;
  /** 1 - mean |frame t - motion-compensated average of frames t-1, t+1| / 255. */
  smoothness: number;
  /** 1 when the object moves or changes size at all (the share over clips is the dynamic degree). */
  dynamic: number;
  /** Against the reference render, when given (else NaN). */
  psnr: number;
  ssim: number;
  /** Mean of frame, motion, and growth when named: the clip's prompt-following score. */
  mean: number;
  /** What was read: the motion direction (or "none") and the growth (or "none"). */
  readMotion: string;
  readGrowth: string;
}

function modeString(xs: string[]): string {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best = xs[0];
  for (const [k, v] of counts) if (v > (counts.get(best) ?? 0)) best = k;
  return best;
}

/** Bilinear sample of an [H, W, 3] frame at (x, y) pixel centres; outside the frame gives `fill`. */
function sample(px: Float32Array, size: number, x: number, y: number, c: number, fill: number): number {
  const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
  const at = (xx: number, yy: number) =>
    xx < 0 || yy < 0 || xx >= size || yy >= size ? fill : px[3 * (yy * size + xx) + c];
  return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) +
    fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
}

/**
 * Motion smoothness without a learned interpolator (VBench uses AMT): frame t is predicted as the
 * mean of frame t-1 moved forward and frame t+1 moved back by half the centroid step between them,
 * which is exact for constant-speed motion, so jerks, jumps and flicker are what lower the score.
 */
function smoothness(px: Float32Array[], reads: SceneReading[], size: number): number {
  if (px.length < 3) return 1;
  let err = 0, count = 0;
  for (let t = 1; t + 1 < px.length; t++) {
    const dx = ((reads[t + 1].cx - reads[t - 1].cx) / 2) * size;
    const dy = ((reads[t + 1].cy - reads[t - 1].cy) / 2) * size;
    const bg = reads[t].backgroundRgb;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          const prev = sample(px[t - 1], size, x - dx, y - dy, c, bg[c]);
          const next = sample(px[t + 1], size, x + dx, y + dy, c, bg[c]);
          err += Math.abs(px[t][3 * (y * size + x) + c] - (prev + next) / 2);
          count++;
        }
      }
    }
  }
  return 1 - err / count / 255;
}

/**
 * Scores a clip (frames in any layout of pixels.ts) against its structured prompt. `reference`, the
 * clean render of the same prompt and seed, adds PSNR and SSIM.
 */
export function scoreClip(
  frames: (Uint8Array | Float32Array)[],
  size: number,
  a: ClipAttrs,
  reference?: (Uint8Array | Float32Array)[],
): ClipScore {
  if (frames.length === 0) throw new Error("scoreClip: no frames");
  const reads = frames.map((f) => readScene(f, size));
  const px = frames.map((f) => toHwc255(f, size));
  const F = frames.length;

  type Field = "background" | "color" | "shape" | "size";
  const fields: Field[] = ["background", "color", "shape", ...(a.growth ? [] : ["size" as const])];
  const sums: Record<Field, number> = { background: 0, color: 0, shape: 0, size: 0 };
  for (const r of reads) {
    const s = scoreReading(r, a);
    for (const f of fields) sums[f] += s[f];
  }
  for (const f of fields) sums[f] /= F;
  const frame = fields.reduce((acc, f) => acc + sums[f], 0) / fields.length;

  // Direction: the largest projection of the first-to-last centroid step on the four directions.
  const dx = reads[F - 1].cx - reads[0].cx, dy = reads[F - 1].cy - reads[0].cy;
  const moving = reads.every((r) => r.object) && Math.hypot(dx, dy) >= MOVE_MIN;
  let readMotion = "none";
  if (moving) {
    let best = -Infinity;
    for (const m of MOTIONS) {
      const p = dx * MOTION_DIR[m][0] + dy * MOTION_DIR[m][1];
      if (p > best) [best, readMotion] = [p, m];
    }
  }
  const logGrowth = reads[0].area > 0 && reads[F - 1].area > 0
    ? Math.log(reads[F - 1].area / reads[0].area)
    : 0;
  const readGrowth = logGrowth >= GROWTH_MIN ? "grow" : logGrowth <= -GROWTH_MIN ? "shrink" : "none";

  const colorMode = modeString(reads.map((r) => r.attrs.color));
  const shapeMode = modeString(reads.map((r) => r.attrs.shape));
  const consistency = reads.filter((r) => r.attrs.color === colorMode && r.attrs.shape === shapeMode).length /
    F;

  let diff = 0;
  for (let t = 0; t + 1 < F; t++) {
    for (let i = 0; i < px[t].length; i++) diff += Math.abs(px[t + 1][i] - px[t][i]);
  }
  const flicker = F > 1 ? 1 - diff / ((F - 1) * px[0].length * 255) : 1;

  let p = NaN, s = NaN;
  if (reference) {
    if (reference.length !== F) {
      throw new Error(`scoreClip: ${F} frames but ${reference.length} reference frames`);
    }
    p = frames.reduce((acc, f, t) => acc + psnr(f, reference[t], size), 0) / F;
    s = frames.reduce((acc, f, t) => acc + ssim(f, reference[t], size), 0) / F;
  }
  const motion = readMotion === a.motion ? 1 : 0;
  const growth = a.growth ? (readGrowth === a.growth ? 1 : 0) : NaN;
  const parts = [frame, motion, ...(a.growth ? [growth] : [])];
  return {
    background: sums.background,
    color: sums.color,
    shape: sums.shape,
    size: a.growth ? NaN : sums.size,
    frame,
    motion,
    growth,
    consistency,
    flicker,
    smoothness: smoothness(px, reads, size),
    dynamic: moving || readGrowth !== "none" ? 1 : 0,
    psnr: p,
    ssim: s,
    mean: parts.reduce((x, y) => x + y, 0) / parts.length,
    readMotion,
    readGrowth,
  };
}
