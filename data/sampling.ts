// Random scenes for the generators: attribute sampling (with held-out combinations), caption noise
// (one field wrong or missing in the text), paired losers (one field changed in the image) and the
// taste world's looks.

import type { Rng } from "../lib/util/rng.ts";
import {
  type ClipAttrs,
  COLORS,
  FIELD_VALUES,
  GROWTHS,
  isHeldout,
  MOTIONS,
  POSITIONS,
  type SceneAttrs,
  SHAPES,
  SIZES,
} from "../lib/world/attrs.ts";
import { clipPromptFor, type OmitField, promptFor } from "../lib/world/prompts.ts";
import { CONTENT_FIELDS, type Look, OTHER_LOOKS, PREFERRED } from "../lib/world/taste.ts";

export type AnyAttrs = SceneAttrs | ClipAttrs;

/** A uniformly random scene (object colour != background); clips get a motion, and a growth with
 * probability growthShare; heldout "exclude" resamples until the (colour, shape) is not held out. */
export function sampleAttrs(
  rng: Rng,
  opts: { clip: boolean; growthShare: number; excludeHeldout: boolean },
): AnyAttrs {
  for (;;) {
    const background = rng.pick(COLORS);
    const color = rng.pick(COLORS.filter((c) => c !== background));
    const a: SceneAttrs = {
      background,
      color,
      shape: rng.pick(SHAPES),
      size: rng.pick(SIZES),
      position: opts.clip ? "center" : rng.pick(POSITIONS),
    };
    if (opts.excludeHeldout && isHeldout(a)) continue;
    if (!opts.clip) return a;
    const clip: ClipAttrs = { ...a, motion: rng.pick(MOTIONS) };
    if (rng.uniform() < opts.growthShare) {
      clip.growth = rng.pick(GROWTHS);
      clip.size = clip.growth === "grow" ? "small" : "large"; // start at the size the growth leaves
    }
    return clip;
  }
}

/** The fields a loser or a noisy caption may change: everything the prompt states. A growing clip's
 * size is tied to its growth, so there the growth changes instead. */
export function changeableFields(a: AnyAttrs): string[] {
  if (!("motion" in a)) return ["background", "color", "shape", "size", "position"];
  return ["background", "color", "shape", a.growth ? "growth" : "size", "motion"];
}

/** A copy of a with `field` set to a different valid value (keeping object colour != background). */
export function changeField(a: AnyAttrs, field: string, rng: Rng): AnyAttrs {
  const cur = (a as unknown as Record<string, string>)[field];
  const other = field === "background" ? a.color : field === "color" ? a.background : undefined;
  const choices = FIELD_VALUES[field as keyof typeof FIELD_VALUES].filter((v) => v !== cur && v !== other);
  const out = { ...a, [field]: rng.pick(choices) } as AnyAttrs;
  if (field === "growth") out.size = out.size === "small" ? "large" : "small";
  return out;
}

export interface Caption {
  text: string;
  /** Present when the caption is noisy: which field, and how. */
  noise?: { field: string; kind: "wrong" | "missing"; text_value?: string };
}

/** A prompt for a; with probability noise one field is wrong (half the time) or left out. Motion is
 * and growth are never left out of a clip caption (there is no motion-less phrasing), only made wrong.
 * contentOnly (the taste world): the text states only background, colour and shape, and noise only
 * touches those. */
export function caption(a: AnyAttrs, rng: Rng, noise: number, opts: { contentOnly?: boolean } = {}): Caption {
  const clip = "motion" in a;
  const hidden: OmitField[] = opts.contentOnly ? ["size", "position"] : [];
  const write = (b: AnyAttrs, omit?: OmitField) =>
    clip
      ? clipPromptFor(b as ClipAttrs, rng, { omit })
      : promptFor(b, rng, { omit: hidden.length > 0 ? (omit ? [...hidden, omit] : hidden) : omit });
  if (noise <= 0 || rng.uniform() >= noise) return { text: write(a) };
  const field = rng.pick(opts.contentOnly ? CONTENT_FIELDS : changeableFields(a));
  if (field !== "motion" && field !== "growth" && rng.uniform() < 0.5) {
    return { text: write(a, field as OmitField), noise: { field, kind: "missing" } };
  }
  const wrong = changeField(a, field, rng);
  const value = (wrong as unknown as Record<string, string>)[field];
  return { text: write(wrong), noise: { field, kind: "wrong", text_value: value } };
}

/** A look for a taste-world pretraining scene: the preferred one with probability share, otherwise
 * one of the 9 others, uniformly. */
export function sampleLook(rng: Rng, share: number): Look {
  return rng.uniform() < share ? PREFERRED : rng.pick(OTHER_LOOKS);
}
