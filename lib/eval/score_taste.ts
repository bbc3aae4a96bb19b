// The taste score, the PickScore of the taste world (docs/DATA.md), with its guard and headline, read
// from pixels through the shapes scorer (score_image.ts). Prompts state only the content (background,
// colour, shape); the hidden taste is the preferred look (large, centred):
//   taste     min(size score against "large", position score against "center"), in [0, 1]; like every
//             attribute score it is 0.5 on the decision boundary, so taste > 0.5 exactly when the scene
//             reads as large and centred (hasTaste);
//   guard     mean of the background, colour and shape scores: does the image follow the prompt;
//   headline  taste * guard: preferred and faithful (1 only when both hold).

import type { SceneAttrs } from "../world/attrs.ts";
import { type Content, PREFERRED } from "../world/taste.ts";
import { readScene, type SceneReading, scoreReading } from "./score_image.ts";

/** The five attribute scores of a sample against its prompt's content and the preferred look. */
export type TasteAttrScores = Record<keyof SceneAttrs, number>;

export interface TasteScore {
  taste: number;
  hasTaste: boolean;
  guard: number;
  headline: number;
  perAttr: TasteAttrScores;
}

/** Scores a reading against a prompt's content; any size or position in `content` is ignored. */
export function scoreTasteReading(r: SceneReading, content: Content): TasteScore {
  const target: SceneAttrs = {
    background: content.background,
    color: content.color,
    shape: content.shape,
    ...PREFERRED,
  };
  const s = scoreReading(r, target);
  const taste = Math.min(s.size, s.position);
  const guard = (s.background + s.color + s.shape) / 3;
  return {
    taste,
    hasTaste: taste > 0.5,
    guard,
    headline: taste * guard,
    perAttr: { background: s.background, color: s.color, shape: s.shape, size: s.size, position: s.position },
  };
}

/** Scores one image: RGB bytes [H, W, 3] or planar f32 [3, H, W] in [-1, 1] (see pixels.ts). */
export function scoreTaste(img: Uint8Array | Float32Array, size: number, content: Content): TasteScore {
  return scoreTasteReading(readScene(img, size), content);
}

export interface TasteSummary {
  n: number;
  /** Mean taste score. */
  taste: number;
  /** Share of samples with the taste (taste > 0.5). */
  tasteRate: number;
  guard: number;
  headline: number;
  perAttr: TasteAttrScores;
}

/** Means over samples (no intervals: the caller's statistics decide how to pair and resample). */
export function summariseTaste(scores: readonly TasteScore[]): TasteSummary {
  if (scores.length === 0) throw new Error("summariseTaste: no samples");
  const mean = (f: (s: TasteScore) => number) => scores.reduce((a, s) => a + f(s), 0) / scores.length;
  const keys = Object.keys(scores[0].perAttr) as (keyof TasteAttrScores)[];
  return {
    n: scores.length,
    taste: mean((s) => s.taste),
    tasteRate: mean((s) => (s.hasTaste ? 1 : 0)),
    guard: mean((s) => s.guard),
    headline: mean((s) => s.headline),
    perAttr: Object.fromEntries(keys.map((k) => [k, mean((s) => s.perAttr[k])])) as TasteAttrScores,
  };
}
