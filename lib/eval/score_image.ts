// The image scorer, the PickScore of the shapes world: it reads a scene back from pixels and scores it
// against the structured prompt, per attribute in [0, 1]. Pure pixel analysis, deterministic, built to
// survive blurry generated images:
//   background  mode of the border pixels' nearest palette colours, then their mean colour;
//   object      pixels farther than OBJECT_MIN_DIST from the background; its colour is the mean of the
//               core (the far pixels of the dominant non-background palette class);
//   mask        each pixel's share of the object's palette colour along the line from the background
//               (exact coverage for anti-aliased renders), with a symmetric dead zone against noise;
//   size        mask area against the geometric mean of the two nominal areas;
//   position    mask centroid against the five nominal centroids;
//   shape       soft IoU of the mask with each shape's template at the measured centroid and area,
//               best over a few template blurs.
// Each attribute's score is 0.5 at the decision boundary and 1 once clearly on the right side, so
// score > 0.5 exactly when the reading agrees with the prompt.

import {
  AREA,
  AREA_SPLIT,
  COLORS,
  PALETTE,
  POSITION_DIR,
  POSITION_OFFSET,
  POSITIONS,
  SCENE_FIELDS,
  type SceneAttrs,
  SHAPES,
} from "../world/attrs.ts";
import { type Placement, shapeTester } from "../world/shapes.ts";
import { clamp01, dist3, toHwc255 } from "./pixels.ts";

/** A pixel is object when this far (RGB Euclidean) from the background; palette colours are >= 170
 * apart, so this keeps half-covered edge pixels and rejects mild background noise. */
export const OBJECT_MIN_DIST = 60;
/** Colour score is gated by distance to the named colour: full up to this, zero at twice this. */
export const COLOR_MAX_DIST = 80;
/** Colour margin (distance to nearest other palette colour minus to the named one) giving score 1. */
const COLOR_MARGIN_WIDTH = 100;
/** Mask dead zone: coverage below MASK_LO counts 0, above 1 - MASK_LO counts 1 (unbiased on edges). */
const MASK_LO = 0.15;
/** Shape score is 1 once the best other shape's template error is 2.3x the named one's (ratio 0.7). */
const SHAPE_RATIO_FULL = 0.7;
/** Template supersampling per pixel axis. */
const SUPERSAMPLE = 4;
/** Blur widths (Gaussian sigma, pixels) the shape templates are tried at. */
const TEMPLATE_BLURS = [0, 0.5, 0.8, 1.1];

export interface ImageScore {
  background: number;
  color: number;
  shape: number;
  size: number;
  position: number;
  mean: number;
}

/** What the scorer read from the pixels. `object` false means no pixel differed from the background. */
export interface SceneReading {
  size: number;
  background: string;
  backgroundRgb: [number, number, number];
  object: boolean;
  color: string;
  colorRgb: [number, number, number];
  /** Object mask in [0, 1], [H, W]. */
  mask: Float32Array;
  /** Area (share of image), centroid (fractions). */
  area: number;
  cx: number;
  cy: number;
  /** Template error of each shape (squared error / area; lower is better), see shapeError. */
  shapeError: Record<string, number>;
  /** The reading as attributes: the argmax of each score. */
  attrs: SceneAttrs;
}

function nearestColor(rgb: ArrayLike<number>, at = 0): number {
  let best = 0, bestD = Infinity;
  for (let k = 0; k < COLORS.length; k++) {
    const d = dist3(rgb, at, PALETTE[COLORS[k]]);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

/** Mean colour of the listed pixels. */
function meanOf(px: Float32Array, idx: number[]): [number, number, number] {
  const m: [number, number, number] = [0, 0, 0];
  for (const i of idx) for (let c = 0; c < 3; c++) m[c] += px[3 * i + c];
  return m.map((v) => v / Math.max(1, idx.length)) as [number, number, number];
}

/** Index of the most frequent class; ties go to the lower index, so the result is deterministic. */
function modeOf(classes: number[], exclude = -1): number {
  const counts = new Array(COLORS.length).fill(0);
  for (const k of classes) if (k !== exclude) counts[k]++;
  let best = -1;
  for (let k = 0; k < counts.length; k++) {
    if (counts[k] > 0 && (best < 0 || counts[k] > counts[best])) best = k;
  }
  return best;
}

/** Exact coverage [H, W] of a shape at a placement (supersampled), before blur and dead zone. */
function shapeCoverage(shape: string, p: Placement, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const inside = shapeTester(shape, p);
  // sqrt(area) bounds the half-extent of every shape here (the triangle's is 0.82 of it); +1 px margin.
  const r = Math.sqrt(p.area);
  const lo = (c: number) => Math.max(0, Math.floor((c - r) * size) - 1);
  const hi = (c: number) => Math.min(size, Math.ceil((c + r) * size) + 1);
  const s = SUPERSAMPLE;
  for (let y = lo(p.cy); y < hi(p.cy); y++) {
    for (let x = lo(p.cx); x < hi(p.cx); x++) {
      let hits = 0;
      for (let j = 0; j < s; j++) {
        for (let i = 0; i < s; i++) {
          if (inside((x + (i + 0.5) / s) / size, (y + (j + 0.5) / s) / size)) hits++;
        }
      }
      out[y * size + x] = hits / (s * s);
    }
  }
  return out;
}

/** Separable Gaussian blur of a [size, size] plane, zero outside (coverage leaves the frame). */
function blur(src: Float32Array, size: number, sigma: number): Float32Array {
  if (sigma <= 0) return src;
  const rad = Math.ceil(2.5 * sigma);
  const k: number[] = [];
  for (let d = -rad; d <= rad; d++) k.push(Math.exp((-d * d) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const tmp = new Float32Array(src.length), out = new Float32Array(src.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let h = 0;
      for (let d = -rad; d <= rad; d++) {
        if (x + d >= 0 && x + d < size) h += k[d + rad] * src[y * size + x + d];
      }
      tmp[y * size + x] = h / sum;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (let d = -rad; d <= rad; d++) {
        if (y + d >= 0 && y + d < size) v += k[d + rad] * tmp[(y + d) * size + x];
      }
      out[y * size + x] = v / sum;
    }
  }
  return out;
}

/**
 * How well the coverage matches the shape's template: 1 - sum of squared differences / object area,
 * best over a few template blurs (pixels). Generated images are blurry, and blur makes every shape
 * rounder: comparing against equally blurred templates keeps a blurred square closer to a blurred
 * square than to a circle. Squared error on the raw coverage (not an IoU of thresholded masks) is
 * the matched filter for additive noise, which only adds the same constant to every template.
 */
export function shapeError(coverage: Float32Array, shape: string, p: Placement, size: number): number {
  const cover = shapeCoverage(shape, p, size);
  const norm = p.area * size * size;
  let best = Infinity;
  for (const sigma of TEMPLATE_BLURS) {
    const t = blur(cover, size, sigma);
    let sse = 0;
    for (let i = 0; i < t.length; i++) sse += (coverage[i] - t[i]) ** 2;
    best = Math.min(best, sse / norm);
  }
  return best;
}

/** Reads the scene back from an image (see pixels.ts for the accepted layouts). */
export function readScene(img: Uint8Array | Float32Array, size: number): SceneReading {
  const px = toHwc255(img, size);
  const n = size * size;

  // Background: the palette class most border pixels are nearest to, and their mean colour.
  const border: number[] = [];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (x === 0 || y === 0 || x === size - 1 || y === size - 1) border.push(y * size + x);
    }
  }
  const borderClass = border.map((i) => nearestColor(px, 3 * i));
  const bgClass = modeOf(borderClass);
  const bgRgb = meanOf(px, border.filter((_, k) => borderClass[k] === bgClass));

  // Object pixels, and its colour from the core: the far pixels of the dominant non-background class.
  const dist = new Float32Array(n);
  const objIdx: number[] = [];
  for (let i = 0; i < n; i++) {
    dist[i] = dist3(px, 3 * i, bgRgb);
    if (dist[i] > OBJECT_MIN_DIST) objIdx.push(i);
  }
  const mask = new Float32Array(n);
  const shapeErr: Record<string, number> = {};
  for (const s of SHAPES) shapeErr[s] = 1;
  const none = {
    size,
    background: COLORS[bgClass],
    backgroundRgb: bgRgb,
    object: false,
    color: "none",
    colorRgb: bgRgb,
    mask,
    area: 0,
    cx: 0.5,
    cy: 0.5,
    shapeError: shapeErr,
    attrs: { background: COLORS[bgClass], color: "none", shape: "none", size: "small", position: "center" },
  } as SceneReading;
  if (objIdx.length === 0) return none;
  // The core is the upper part of the distance range: the 90th percentile guards against a few outliers.
  const sorted = objIdx.map((i) => dist[i]).sort((a, b) => a - b);
  const q90 = sorted[Math.floor(0.9 * (sorted.length - 1))];
  const core = objIdx.filter((i) => dist[i] >= 0.75 * q90);
  const coreClass = core.map((i) => nearestColor(px, 3 * i));
  let objClass = modeOf(coreClass, bgClass);
  if (objClass < 0) objClass = bgClass; // every core pixel is a shade of the background colour
  const objRgb = meanOf(px, core.filter((_, k) => coreClass[k] === objClass));

  // Soft mask: projection on the line from the background to the object's palette colour, with the
  // dead zone. The palette colour rather than the measured one: a small blurred object never reaches
  // its full colour, and measuring against its faded core would inflate its area.
  const full = PALETTE[COLORS[objClass]];
  const axis = [full[0] - bgRgb[0], full[1] - bgRgb[1], full[2] - bgRgb[2]];
  const axis2 = axis[0] ** 2 + axis[1] ** 2 + axis[2] ** 2;
  // Area sums the raw coverage (clamped only against outliers): blur moves coverage around but keeps
  // its sum, and zero-mean noise cancels, where the dead-zoned mask would lose a faded object's edges.
  // The centroid uses the dead-zoned mask, which ignores noise far from the object.
  const coverage = new Float32Array(n);
  let area = 0, mass = 0, sx = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    let t = 0;
    for (let c = 0; c < 3; c++) t += (px[3 * i + c] - bgRgb[c]) * axis[c];
    t = axis2 > 0 ? t / axis2 : 0;
    coverage[i] = Math.min(1.5, Math.max(-0.5, t));
    area += coverage[i];
    const m = clamp01((t - MASK_LO) / (1 - 2 * MASK_LO));
    mask[i] = m;
    mass += m;
    sx += m * ((i % size) + 0.5);
    sy += m * (Math.floor(i / size) + 0.5);
  }
  if (mass <= 0) return none;
  const cx = sx / mass / size, cy = sy / mass / size;
  area = Math.max(area, mass) / n;

  let bestShape: string = SHAPES[0];
  for (const s of SHAPES) {
    shapeErr[s] = shapeError(coverage, s, { cx, cy, area }, size);
    if (shapeErr[s] < shapeErr[bestShape]) bestShape = s;
  }
  const reading: SceneReading = {
    size,
    background: COLORS[bgClass],
    backgroundRgb: bgRgb,
    object: true,
    color: COLORS[objClass],
    colorRgb: objRgb,
    mask,
    area,
    cx,
    cy,
    shapeError: shapeErr,
    attrs: {
      background: COLORS[bgClass],
      color: COLORS[nearestColor(objRgb)],
      shape: bestShape,
      size: area >= AREA_SPLIT ? "large" : "small",
      position: nearestPosition(cx, cy),
    },
  };
  return reading;
}

function positionDistances(cx: number, cy: number): number[] {
  const u = (cx - 0.5) / POSITION_OFFSET, v = (cy - 0.5) / POSITION_OFFSET;
  return POSITIONS.map((p) => Math.hypot(u - POSITION_DIR[p][0], v - POSITION_DIR[p][1]));
}

function nearestPosition(cx: number, cy: number): SceneAttrs["position"] {
  const d = positionDistances(cx, cy);
  return POSITIONS[d.indexOf(Math.min(...d))];
}

/** 0.5 + margin/width, clamped: 1 well inside the right class, 0.5 on the boundary, 0 well outside. */
function marginScore(own: number, bestOther: number, width: number): number {
  return clamp01(0.5 + (bestOther - own) / width);
}

/** Colour score of a measured colour against a palette name (margin score, gated by distance). */
export function colorScore(rgb: ArrayLike<number>, name: string): number {
  const own = dist3(rgb, 0, PALETTE[name]);
  let other = Infinity;
  for (const c of COLORS) if (c !== name) other = Math.min(other, dist3(rgb, 0, PALETTE[c]));
  const gate = clamp01((2 * COLOR_MAX_DIST - own) / COLOR_MAX_DIST);
  return marginScore(own, other, COLOR_MARGIN_WIDTH) * gate;
}

/** Scores a reading against the prompt's attributes. */
export function scoreReading(r: SceneReading, a: SceneAttrs): ImageScore {
  const background = colorScore(r.backgroundRgb, a.background);
  let color = 0, shape = 0, size = 0, position = 0;
  if (r.object) {
    color = colorScore(r.colorRgb, a.color);
    // Error ratio against the best other shape: 0.5 when tied, and scale-free, so small 16x16 shapes
    // (whose errors are all small) score like large 32x32 ones. A ratio of SHAPE_RATIO_FULL scores 1.
    const own = r.shapeError[a.shape] ?? Infinity;
    let other = Infinity;
    for (const s of SHAPES) if (s !== a.shape) other = Math.min(other, r.shapeError[s]);
    const ratio = other / (own + other + 1e-12);
    shape = clamp01(0.5 + (0.5 * (ratio - 0.5)) / (SHAPE_RATIO_FULL - 0.5));
    // Log-area position between the nominal areas: -1 at small, 0 at the split, +1 at large.
    const rel = Math.log(r.area / AREA_SPLIT) / Math.log(AREA.large / AREA_SPLIT);
    size = clamp01(0.5 + (a.size === "large" ? rel : -rel));
    const d = positionDistances(r.cx, r.cy);
    const k = POSITIONS.indexOf(a.position);
    position = marginScore(d[k], Math.min(...d.filter((_, j) => j !== k)), 1);
  }
  const s = { background, color, shape, size, position };
  return { ...s, mean: SCENE_FIELDS.reduce((acc, f) => acc + s[f], 0) / SCENE_FIELDS.length };
}

/** Per-attribute scores in [0, 1] and their mean for one image against its structured prompt. */
export function scoreImage(img: Uint8Array | Float32Array, size: number, a: SceneAttrs): ImageScore {
  return scoreReading(readScene(img, size), a);
}
