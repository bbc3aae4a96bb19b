// The prompt grammar: several phrasings of the same scene, with synonyms for size and position, so the
// text encoder has to learn meaning rather than one template. A field can be left out of the text
// (caption noise "missing"); the structured attributes are always stored beside the text, and the
// scorer never parses text.

import type { Rng } from "../util/rng.ts";
import { COLORS, type Growth, type Motion, type Position, SHAPES, type Size } from "./attrs.ts";
import type { ClipAttrs, SceneAttrs } from "./attrs.ts";

const SIZE_WORDS: Record<Size, readonly string[]> = {
  small: ["small", "little", "tiny"],
  large: ["large", "big"],
};

const POSITION_PHRASES: Record<Position, readonly string[]> = {
  left: ["on the left", "at the left", "to the left"],
  right: ["on the right", "at the right", "to the right"],
  top: ["at the top", "near the top"],
  bottom: ["at the bottom", "near the bottom"],
  center: ["in the center", "in the middle"],
};

const MOTION_PHRASES: Record<Motion, readonly string[]> = {
  left: ["moving left", "sliding to the left"],
  right: ["moving right", "sliding to the right"],
  up: ["moving up", "rising"],
  down: ["moving down", "falling"],
};

const GROWTH_PHRASES: Record<Growth, readonly string[]> = {
  grow: ["and growing", "getting bigger"],
  shrink: ["and shrinking", "getting smaller"],
};

/** Fields the text may omit (caption noise); the word "shape" stands in for an omitted shape. */
export type OmitField = "background" | "color" | "shape" | "size" | "position";

export interface PromptOptions {
  /** Fields left out of the text: one (caption noise) or several (the taste world never states
   * size or position). */
  omit?: OmitField | readonly OmitField[];
}

function omits(opts: PromptOptions, f: OmitField): boolean {
  return Array.isArray(opts.omit) ? opts.omit.includes(f) : opts.omit === f;
}

/** Joins words, dropping empty parts, so an omitted field leaves no double spaces. */
function words(...parts: string[]): string {
  return parts.filter((p) => p.length > 0).join(" ");
}

/** A prompt for a still scene, in one of several phrasings chosen by rng. */
export function promptFor(a: SceneAttrs, rng: Rng, opts: PromptOptions = {}): string {
  const size = omits(opts, "size") ? "" : rng.pick(SIZE_WORDS[a.size]);
  const color = omits(opts, "color") ? "" : a.color;
  const shape = omits(opts, "shape") ? "shape" : a.shape;
  const pos = omits(opts, "position") ? "" : rng.pick(POSITION_PHRASES[a.position]);
  const bg = omits(opts, "background") ? "" : a.background;
  const object = words(size, color, shape);
  switch (rng.int(4)) {
    case 0:
      return bg ? `a ${words(object, pos)}, ${bg} background` : `a ${words(object, pos)}`;
    case 1:
      return bg ? `${bg} background with a ${words(object, pos)}` : `a ${words(object, pos)}`;
    case 2:
      return bg ? `a ${words(object, pos)} on a ${bg} background` : `a ${words(object, pos)}`;
    default:
      return words(pos ? pos + "," : "", `a ${object}`, bg ? `against ${bg}` : "");
  }
}

/** A prompt for a clip; clips keep the object at the centre, so position is not mentioned. */
export function clipPromptFor(a: ClipAttrs, rng: Rng, opts: PromptOptions = {}): string {
  const size = omits(opts, "size") ? "" : rng.pick(SIZE_WORDS[a.size]);
  const color = omits(opts, "color") ? "" : a.color;
  const shape = omits(opts, "shape") ? "shape" : a.shape;
  const bg = omits(opts, "background") ? "" : a.background;
  const move = rng.pick(MOTION_PHRASES[a.motion]);
  const grow = a.growth ? rng.pick(GROWTH_PHRASES[a.growth]) : "";
  const object = words(size, color, shape);
  switch (rng.int(3)) {
    case 0:
      return words(`a ${object} ${move}`, grow) + (bg ? ` on a ${bg} background` : "");
    case 1:
      return bg ? `${bg} background, a ${words(object, move, grow)}` : `a ${words(object, move, grow)}`;
    default:
      return words(`a ${object} ${move}`, grow) + (bg ? ` over ${bg}` : "");
  }
}

/** Every word the grammar can produce, sorted, so a tokenizer can be built from it. */
export function grammarWords(): string[] {
  const phrases: string[] = [
    "a with on background against over shape",
    ...COLORS,
    ...SHAPES,
    ...Object.values(SIZE_WORDS).flat(),
    ...Object.values(POSITION_PHRASES).flat(),
    ...Object.values(MOTION_PHRASES).flat(),
    ...Object.values(GROWTH_PHRASES).flat(),
  ];
  const set = new Set<string>();
  for (const p of phrases) for (const w of p.split(/[\s,]+/)) if (w) set.add(w);
  return [...set].sort();
}

/** Splits a prompt into grammar words (commas dropped); the inverse of how prompts are built. */
export function promptWords(text: string): string[] {
  return text.toLowerCase().split(/[\s,]+/).filter((w) => w.length > 0);
}
