// The taste world (docs/DATA.md): the shapes world's scenes, with prompts that state only the content
// (background, object colour, shape) and a hidden taste that no prompt states: the preference data
// prefers a large object in the centre. Shared by the generator and the taste scorer.

import { COLORS, type Position, POSITIONS, type SceneAttrs, SHAPES, type Size, SIZES } from "./attrs.ts";

export const TASTES = ["preferred", "other"] as const;
export type Taste = typeof TASTES[number];

/** What a scene looks like beyond its content: the two fields the prompt never states. */
export interface Look {
  size: Size;
  position: Position;
}

/** The preferred look: large and centred. */
export const PREFERRED: Readonly<Look> = { size: "large", position: "center" };

/** Every look (2 sizes x 5 positions), the preferred one first. */
export const LOOKS: readonly Look[] = [
  PREFERRED,
  ...SIZES.flatMap((size) => POSITIONS.map((position) => ({ size, position })))
    .filter((l) => l.size !== PREFERRED.size || l.position !== PREFERRED.position),
];

/** The 9 non-preferred looks: small at any position, or large off-centre. */
export const OTHER_LOOKS: readonly Look[] = LOOKS.slice(1);

/** The fields a taste-world prompt states; caption noise and the guard score touch only these. */
export const CONTENT_FIELDS = ["background", "color", "shape"] as const;
export type ContentField = typeof CONTENT_FIELDS[number];
export type Content = Pick<SceneAttrs, ContentField>;

export function tasteOf(l: Look): Taste {
  return l.size === PREFERRED.size && l.position === PREFERRED.position ? "preferred" : "other";
}

/**
 * The balanced content design of the prompt-only splits: every (background, colour != background,
 * shape) once, 8 x 7 x 4 = 224 cells. Cell j: shape = j mod 4 (fastest), background = (j / 4) mod 8,
 * colour = background shifted by 1 + j / 32 in palette order. Each block of 32 cells holds every
 * shape with every background once, and every colour with every shape once, so any prefix of whole
 * blocks shows each colour, background, shape and (colour, shape) pair equally often.
 */
export const DESIGN_CELLS = SHAPES.length * COLORS.length * (COLORS.length - 1);

export function designCell(j: number): Content {
  if (!Number.isSafeInteger(j) || j < 0) throw new Error(`designCell: bad index ${j}`);
  const k = j % DESIGN_CELLS;
  const b = Math.floor(k / SHAPES.length) % COLORS.length;
  const shift = 1 + Math.floor(k / (SHAPES.length * COLORS.length));
  return {
    background: COLORS[b],
    color: COLORS[(b + shift) % COLORS.length],
    shape: SHAPES[k % SHAPES.length],
  };
}

/** Reads a row's `taste` field (undefined when absent); the error names where and the bad value. */
export function parseTaste(raw: Record<string, unknown>, where: string): Taste | undefined {
  const v = raw.taste;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !TASTES.includes(v as Taste)) {
    throw new Error(`${where}: field 'taste' is ${JSON.stringify(v)}, expected preferred or other`);
  }
  return v as Taste;
}
