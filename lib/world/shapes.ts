// The scene model: where the object goes (layout, with jitter), its exact geometry (shared with the
// scorer's templates), its SVG, and its render to RGB bytes (the host's SVG renderer). Lengths are
// fractions of the image side until the SVG is written.

import type { Host } from "../host/host.ts";
import type { Rng } from "../util/rng.ts";
import {
  AREA,
  AREA_JITTER,
  type ClipAttrs,
  MOTION_DIR,
  MOTION_DISTANCE,
  PALETTE,
  POSITION_DIR,
  POSITION_JITTER,
  POSITION_OFFSET,
  type RGB,
  type SceneAttrs,
} from "./attrs.ts";

export type { ClipAttrs, SceneAttrs } from "./attrs.ts";

/** Where the object is in one frame: centroid (cx, cy) and area, all as fractions of the image. */
export interface Placement {
  cx: number;
  cy: number;
  area: number;
}

/** Triangle height over base: squat enough that a large triangle fits at top/left/right/bottom. */
const TRIANGLE_ASPECT = 0.75;

/** Polygon vertices (fractions) for polygon shapes, or null for a circle. Centroid at (cx, cy). */
export function shapePolygon(shape: string, p: Placement): [number, number][] | null {
  const { cx, cy, area } = p;
  switch (shape) {
    case "circle":
      return null;
    case "square": {
      const h = Math.sqrt(area) / 2;
      return [[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]];
    }
    case "triangle": {
      // Pointing up; area = base * height / 2 with height = aspect * base. The centroid sits a third
      // of the height above the base.
      const b = Math.sqrt((2 * area) / TRIANGLE_ASPECT);
      const h = TRIANGLE_ASPECT * b;
      return [[cx, cy - (2 * h) / 3], [cx + b / 2, cy + h / 3], [cx - b / 2, cy + h / 3]];
    }
    case "diamond": {
      const r = Math.sqrt(2 * area) / 2; // half-diagonal; area = d^2 / 2
      return [[cx, cy - r], [cx + r, cy], [cx, cy + r], [cx - r, cy]];
    }
    default:
      throw new Error(`unknown shape '${shape}'`);
  }
}

/** Radius (fraction) of a circle of the given area. */
export function circleRadius(area: number): number {
  return Math.sqrt(area / Math.PI);
}

/** A point-in-shape test (fractions) for one shape at one placement; used to rasterise templates. */
export function shapeTester(shape: string, p: Placement): (x: number, y: number) => boolean {
  const poly = shapePolygon(shape, p);
  if (poly === null) {
    const r2 = circleRadius(p.area) ** 2;
    return (x, y) => (x - p.cx) ** 2 + (y - p.cy) ** 2 <= r2;
  }
  // Convex polygon, vertices clockwise on screen: inside when on the inner side of every edge.
  return (x, y) => {
    for (let i = 0; i < poly.length; i++) {
      const [x0, y0] = poly[i];
      const [x1, y1] = poly[(i + 1) % poly.length];
      if ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) < 0) return false;
    }
    return true;
  };
}

function jitter(rng: Rng | null, amount: number): number {
  return rng === null ? 0 : rng.range(-amount, amount);
}

/** The placement of a still scene; rng null gives the nominal (jitter-free) placement. */
export function layoutScene(a: SceneAttrs, rng: Rng | null): Placement {
  const [dx, dy] = POSITION_DIR[a.position];
  return {
    cx: 0.5 + dx * POSITION_OFFSET + jitter(rng, POSITION_JITTER),
    cy: 0.5 + dy * POSITION_OFFSET + jitter(rng, POSITION_JITTER),
    area: AREA[a.size] * (1 + jitter(rng, AREA_JITTER)),
  };
}

/**
 * Placements of each frame of a clip: the centroid moves MOTION_DISTANCE along the motion direction,
 * at constant speed, on a path centred on the position; with growth the area changes geometrically by
 * the large/small ratio (so "small" + grow ends large). Jitter is drawn once per clip.
 */
export function layoutClip(a: ClipAttrs, frames: number, rng: Rng | null): Placement[] {
  const start = layoutScene(a, rng);
  const [mx, my] = MOTION_DIR[a.motion];
  const ratio = a.growth === "grow"
    ? AREA.large / AREA.small
    : a.growth === "shrink"
    ? AREA.small / AREA.large
    : 1;
  const out: Placement[] = [];
  for (let f = 0; f < frames; f++) {
    const t = frames > 1 ? f / (frames - 1) - 0.5 : 0; // -0.5 .. 0.5
    out.push({
      cx: start.cx + mx * MOTION_DISTANCE * t,
      cy: start.cy + my * MOTION_DISTANCE * t,
      area: start.area * ratio ** (t + 0.5),
    });
  }
  return out;
}

function hex(c: RGB): string {
  return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
}

export function colorOf(name: string): RGB {
  const c = PALETTE[name];
  if (!c) throw new Error(`unknown colour '${name}'`);
  return c;
}

/** The SVG of one frame, `size` pixels square. Numbers are fixed to 4 decimals so output is stable. */
export function sceneSvg(a: SceneAttrs, p: Placement, size: number): string {
  const f = (v: number) => (v * size).toFixed(4);
  const fill = hex(colorOf(a.color));
  const poly = shapePolygon(a.shape, p);
  const body = poly === null
    ? `<circle cx="${f(p.cx)}" cy="${f(p.cy)}" r="${f(circleRadius(p.area))}" fill="${fill}"/>`
    : `<polygon points="${poly.map(([x, y]) => `${f(x)},${f(y)}`).join(" ")}" fill="${fill}"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" ` +
    `viewBox="0 0 ${size} ${size}"><rect width="${size}" height="${size}" ` +
    `fill="${hex(colorOf(a.background))}"/>${body}</svg>`;
}

/** Rasterises an SVG (the host's renderer: librsvg through sharp under Deno; anti-aliased) to RGB
 * bytes [H, W, 3]. */
export function renderSvg(host: Host, svg: string): Promise<Uint8Array> {
  return host.images.renderSvg(svg);
}

/** RGB bytes [size, size, 3] of a scene; rng null renders the nominal placement. */
export function renderScene(host: Host, a: SceneAttrs, size: number, rng: Rng | null): Promise<Uint8Array> {
  return renderSvg(host, sceneSvg(a, layoutScene(a, rng), size));
}

/** RGB bytes [size, size, 3] of each frame of a clip. */
export function renderClip(
  host: Host,
  a: ClipAttrs,
  size: number,
  frames: number,
  rng: Rng | null,
): Promise<Uint8Array[]> {
  return Promise.all(layoutClip(a, frames, rng).map((p) => renderSvg(host, sceneSvg(a, p, size))));
}
