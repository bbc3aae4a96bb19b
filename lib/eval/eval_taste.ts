// Taste-world evaluation helpers (docs/DATA.md): the val and eval prompts, the sample items (exactly
// eval_image.ts evalItems, plus the target taste in their metadata so a written sample folder scores
// with the taste columns), and per-sample taste scores in sample order. The shapes path
// (eval_image.ts) is unchanged.

import { join } from "node:path";
import { loadPrompts, parseJsonl, type PromptRow } from "../data/metadata.ts";
import type { SceneAttrs } from "../world/attrs.ts";
import { parseTaste, PREFERRED } from "../world/taste.ts";
import { evalItems } from "./eval_image.ts";
import { scoreTaste, type TasteAttrScores, type TasteScore } from "./score_taste.ts";
import type { Host } from "../host/host.ts";

/**
 * Reads a taste world's prompts.jsonl (val or eval split; a directory or the file). Every row must be
 * a taste-world prompt: `taste: "preferred"` with the preferred size and position as its target.
 */
export async function loadTastePrompts(host: Host, pathOrDir: string): Promise<PromptRow[]> {
  const path = pathOrDir.endsWith(".jsonl") ? pathOrDir : join(pathOrDir, "prompts.jsonl");
  for (const { line, obj } of parseJsonl(await host.fs.readTextFile(path), path)) {
    const at = `${path}:${line}`;
    const taste = parseTaste(obj, at);
    if (taste !== "preferred") {
      throw new Error(`${at}: not a taste-world prompt (field 'taste' is ${JSON.stringify(obj.taste)})`);
    }
    if (obj.size !== PREFERRED.size || obj.position !== PREFERRED.position) {
      throw new Error(
        `${at}: a taste prompt targets size ${PREFERRED.size}, position ${PREFERRED.position} ` +
          `(got ${JSON.stringify(obj.size)}, ${JSON.stringify(obj.position)})`,
      );
    }
  }
  return loadPrompts(host, path);
}

export type TasteEvalItem = ReturnType<typeof evalItems>[number];

/** The sample items, prompt-major and seed-minor, as evalItems; meta also carries the target taste. */
export function tasteEvalItems(prompts: PromptRow[], seeds: number): TasteEvalItem[] {
  return evalItems(prompts, seeds).map((it) => ({ ...it, meta: { ...it.meta, taste: "preferred" } }));
}

/** One sample's scores against its item's content (see score_taste.ts). */
export function scoreTasteItem(
  img: Uint8Array | Float32Array,
  size: number,
  item: { attrs: SceneAttrs },
): TasteScore {
  return scoreTaste(img, size, item.attrs);
}

/** Per-sample scores in item order, as arrays (for paired statistics against another model). */
export interface TasteSampleScores {
  taste: number[];
  hasTaste: boolean[];
  guard: number[];
  headline: number[];
  perAttr: Record<keyof TasteAttrScores, number[]>;
  heldout: boolean[];
}

/** Scores images[i] against items[i]; images as RGB bytes [H, W, 3] or planar f32 [3, H, W]. */
export function scoreTasteSamples(
  images: readonly (Uint8Array | Float32Array | { data: Uint8Array })[],
  size: number,
  items: readonly { attrs: SceneAttrs; heldout: boolean }[],
): TasteSampleScores {
  if (images.length !== items.length) {
    throw new Error(`scoreTasteSamples: ${images.length} images for ${items.length} items`);
  }
  const out: TasteSampleScores = {
    taste: [],
    hasTaste: [],
    guard: [],
    headline: [],
    perAttr: { background: [], color: [], shape: [], size: [], position: [] },
    heldout: [],
  };
  images.forEach((img, i) => {
    const px = "data" in img ? img.data : img;
    const s = scoreTasteItem(px, size, items[i]);
    out.taste.push(s.taste);
    out.hasTaste.push(s.hasTaste);
    out.guard.push(s.guard);
    out.headline.push(s.headline);
    for (const k of Object.keys(out.perAttr) as (keyof TasteAttrScores)[]) out.perAttr[k].push(s.perAttr[k]);
    out.heldout.push(items[i].heldout);
  });
  return out;
}
