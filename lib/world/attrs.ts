// Attribute definitions of the synthetic worlds (BENCHMARK.md): the palette, shapes, sizes, positions
// and motions, and the geometry constants that the renderer and the scorer share. Every length is a
// fraction of the image side, so 16x16 and 32x32 scenes are the same scene at two resolutions.

export type RGB = readonly [number, number, number];

/**
 * Eight colours chosen far apart in RGB: the closest pair (red, magenta) is ~170 apart, every other pair
 * more than 180, so a blurry generated colour still has a clear nearest neighbour. Orange, purple and
 * grey were left out because each sits within ~110 of a colour above.
 */
export const PALETTE: Readonly<Record<string, RGB>> = {
  red: [220, 30, 30],
  green: [30, 180, 40],
  blue: [30, 60, 220],
  yellow: [240, 220, 30],
  magenta: [220, 40, 200],
  cyan: [40, 210, 220],
  white: [245, 245, 245],
  black: [15, 15, 15],
};
export const COLORS: readonly string[] = Object.keys(PALETTE);

/** Four shapes that stay distinguishable at 16x16 (checked by tests/eval/score_image_test.ts). */
export const SHAPES = ["circle", "square", "triangle", "diamond"] as const;
export type Shape = typeof SHAPES[number];

export const SIZES = ["small", "large"] as const;
export type Size = typeof SIZES[number];

export const POSITIONS = ["left", "right", "top", "bottom", "center"] as const;
export type Position = typeof POSITIONS[number];

export const MOTIONS = ["left", "right", "up", "down"] as const;
export type Motion = typeof MOTIONS[number];

export const GROWTHS = ["grow", "shrink"] as const;
export type Growth = typeof GROWTHS[number];

/** One scene of the shapes world: a background colour and one object. */
export interface SceneAttrs {
  background: string;
  color: string;
  shape: string;
  size: Size;
  position: Position;
}

/**
 * One clip of the moving-shapes world. `position` is where the path is centred (always "center" from
 * the generator: at 16x16 there is no room for an off-centre path). With `growth`, `size` is the size
 * at the first frame and the object ends at the other size: the generator pairs grow with small and
 * shrink with large.
 */
export interface ClipAttrs extends SceneAttrs {
  motion: Motion;
  growth?: Growth;
}

/**
 * Object area as a share of the image, per size class. Every shape of a class has the same area, so
 * the scorer can read size from area without knowing the shape. The ratio (2.7x) leaves a wide gap
 * for blur and the +-12% area jitter; "large" is as large as fits a triangle at an off-centre position.
 */
export const AREA: Readonly<Record<Size, number>> = { small: 0.06, large: 0.16 };
/** Size boundary: the geometric mean of the two areas. */
export const AREA_SPLIT = Math.sqrt(AREA.small * AREA.large);
export const AREA_JITTER = 0.12;

/** Offset of the object centroid from the image centre for an off-centre position. */
export const POSITION_OFFSET = 0.18;
/** Uniform jitter of the centroid, per axis: small against the 0.09 half-way boundary. */
export const POSITION_JITTER = 0.03;

/** Unit direction of each position, in image coordinates (y grows downwards). */
export const POSITION_DIR: Readonly<Record<Position, readonly [number, number]>> = {
  left: [-1, 0],
  right: [1, 0],
  top: [0, -1],
  bottom: [0, 1],
  center: [0, 0],
};

export const MOTION_DIR: Readonly<Record<Motion, readonly [number, number]>> = {
  left: [-1, 0],
  right: [1, 0],
  up: [0, -1],
  down: [0, 1],
};

/** Total distance the object travels over a clip (first to last frame). */
export const MOTION_DISTANCE = 0.3;

/** The field names a scene has, in the order tables print them. */
export const SCENE_FIELDS = ["background", "color", "shape", "size", "position"] as const;
export type SceneField = typeof SCENE_FIELDS[number];

/** Allowed values of each field. */
export const FIELD_VALUES: Readonly<Record<SceneField | "motion" | "growth", readonly string[]>> = {
  background: COLORS,
  color: COLORS,
  shape: SHAPES,
  size: SIZES,
  position: POSITIONS,
  motion: MOTIONS,
  growth: GROWTHS,
};

/**
 * Combinations of (colour, shape) held out of the `prefs` split, to measure whether alignment
 * generalises to compositions it never saw preferences for. Fixed (not seeded) so that splits
 * generated separately agree; one colour per shape, every colour and shape still seen elsewhere.
 */
export const HELDOUT: readonly (readonly [string, string])[] = [
  ["red", "triangle"],
  ["blue", "circle"],
  ["yellow", "diamond"],
  ["cyan", "square"],
];

export function isHeldout(a: { color: string; shape: string }): boolean {
  return HELDOUT.some(([c, s]) => c === a.color && s === a.shape);
}

/** Checks a parsed attribute object; the error names where it came from and the bad value. */
export function validateAttrs(
  raw: Record<string, unknown>,
  where: string,
  clip = false,
): SceneAttrs | ClipAttrs {
  const fields: string[] = [...SCENE_FIELDS, ...(clip ? ["motion"] : [])];
  for (const f of fields) {
    const v = raw[f];
    const allowed = FIELD_VALUES[f as keyof typeof FIELD_VALUES];
    if (v === undefined) throw new Error(`${where}: missing attribute '${f}'`);
    if (typeof v !== "string" || !allowed.includes(v)) {
      throw new Error(
        `${where}: attribute '${f}' is ${JSON.stringify(v)}, expected one of ${allowed.join(", ")}`,
      );
    }
  }
  if (raw.background === raw.color) {
    throw new Error(`${where}: object colour equals background colour (${raw.color})`);
  }
  const out: Record<string, string> = {};
  for (const f of fields) out[f] = raw[f] as string;
  if (clip && raw.growth !== undefined && raw.growth !== null) {
    if (typeof raw.growth !== "string" || !GROWTHS.includes(raw.growth as Growth)) {
      throw new Error(
        `${where}: attribute 'growth' is ${JSON.stringify(raw.growth)}, expected grow or shrink`,
      );
    }
    out.growth = raw.growth;
  }
  return out as unknown as SceneAttrs | ClipAttrs;
}
