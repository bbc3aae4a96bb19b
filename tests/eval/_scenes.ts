// Shared helpers for the scorer tests: random valid scenes and clips.
import type { Rng } from "../../lib/util/rng.ts";
import {
  type ClipAttrs,
  COLORS,
  MOTIONS,
  POSITIONS,
  type SceneAttrs,
  SHAPES,
  SIZES,
} from "../../lib/world/attrs.ts";

export function randomScene(r: Rng): SceneAttrs {
  const background = r.pick(COLORS);
  const color = r.pick(COLORS.filter((c) => c !== background));
  return { background, color, shape: r.pick(SHAPES), size: r.pick(SIZES), position: r.pick(POSITIONS) };
}

export function randomClip(r: Rng): ClipAttrs {
  return { ...randomScene(r), position: "center", motion: r.pick(MOTIONS) };
}
