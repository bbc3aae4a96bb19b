import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { Rng } from "../../lib/util/rng.ts";
import { loadImageFolder } from "../../lib/data/imagefolder.ts";
import { DEFAULTS, generate } from "../../data/generate.ts";
import { scoreFolder } from "../../lib/eval/score_folder.ts";
import { host } from "../_helpers.ts";

const ATTRS = { background: "blue", color: "red", shape: "circle", size: "large", position: "center" };
const RED_ON_BLUE = { width: 20, height: 12, channels: 3 as const, background: { r: 30, g: 60, b: 220 } };

/** Writes one file per image mode the loader must accept; returns their names. */
async function writeModes(dir: string): Promise<string[]> {
  await Deno.mkdir(join(dir, "images"), { recursive: true });
  const base = () => sharp({ create: RED_ON_BLUE });
  const files: [string, Promise<unknown>][] = [
    ["rgb.png", base().png().toFile(join(dir, "images/rgb.png"))],
    ["grey.png", base().toColourspace("b-w").png().toFile(join(dir, "images/grey.png"))],
    ["rgba.png", base().ensureAlpha(0.5).png().toFile(join(dir, "images/rgba.png"))],
    ["deep.png", base().toColourspace("rgb16").png().toFile(join(dir, "images/deep.png"))],
    ["palette.png", base().png({ palette: true }).toFile(join(dir, "images/palette.png"))],
    ["photo.jpg", base().jpeg().toFile(join(dir, "images/photo.jpg"))],
    ["lossy.webp", base().webp().toFile(join(dir, "images/lossy.webp"))],
  ];
  await Promise.all(files.map(([, p]) => p));
  return files.map(([n]) => n);
}

async function writeMeta(dir: string, lines: string[]) {
  await Deno.writeTextFile(join(dir, "metadata.jsonl"), lines.join("\n") + "\n");
}

function row(file: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ file_name: `images/${file}`, text: `text of ${file}`, ...ATTRS, ...extra });
}

Deno.test("every image mode loads to [B,3,H,W] in [-1,1] at the asked size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const names = await writeModes(dir);
    await writeMeta(dir, names.map((n) => row(n)));
    // The awkward modes really are what their names say.
    const meta = (f: string) => sharp(join(dir, "images", f)).metadata();
    assert.equal((await meta("deep.png")).depth, "ushort");
    assert.equal((await meta("grey.png")).channels, 1);
    assert.equal((await meta("rgba.png")).channels, 4);
    assert.equal((await meta("palette.png")).isPalette, true);
    const ds = await loadImageFolder(host, dir, { size: 8 });
    const batches = [...ds.batches(names.length, new Rng(1))];
    assert.equal(batches.length, 1);
    const b = batches[0];
    assert.equal(b.images.length, names.length * 3 * 8 * 8);
    assert.ok(b.images.every((v) => v >= -1 && v <= 1));
    for (const [k, i] of b.indices.entries()) {
      assert.equal(b.texts[k], ds.items[i].text);
      // The plain background colour survives every mode: R low, B high (grey: all equal).
      const r = b.images[k * 192], bl = b.images[k * 192 + 128];
      if (names[i] === "grey.png") assert.ok(Math.abs(r - bl) < 0.02, names[i]);
      else assert.ok(r < -0.6 && bl > 0.6, `${names[i]}: r ${r} b ${bl}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("batches are seeded shuffles with losers beside winners", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await generate(host, {
      ...DEFAULTS,
      world: "shapes",
      split: "prefs",
      pairs: true,
      count: 10,
      size: 16,
      out: dir,
      progress: false,
    });
    const ds = await loadImageFolder(host, dir, { size: 16 });
    const order = (seed: number) => [...ds.batches(3, new Rng(seed))].flatMap((b) => b.indices);
    assert.deepEqual(order(4), order(4));
    assert.notDeepEqual(order(4), order(5));
    assert.equal(order(4).length, 9); // dropLast: 3 full batches of 3
    assert.equal([...ds.batches(3, new Rng(4), { dropLast: false })].flatMap((b) => b.indices).length, 10);
    const b = ds.batches(2, new Rng(1)).next().value!;
    assert.equal(b.losers!.length, b.images.length);
    assert.notDeepEqual(b.losers, b.images);
    const clips = await Deno.makeTempDir();
    try {
      await generate(host, {
        ...DEFAULTS,
        world: "moving-shapes",
        split: "pretrain",
        count: 3,
        size: 16,
        frames: 4,
        out: clips,
        progress: false,
      });
      const cd = await loadImageFolder(host, clips, { size: 16, frames: 4 });
      assert.equal(cd.batches(3, new Rng(1)).next().value!.images.length, 3 * 4 * 3 * 16 * 16);
      await assert.rejects(
        loadImageFolder(host, clips, { size: 16, frames: 5 }),
        /metadata.jsonl:1: .*4 frames, expected 5/,
      );
    } finally {
      await Deno.remove(clips, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input names the file, the line and the value", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeModes(dir);
    await Deno.writeTextFile(join(dir, "images/broken.png"), "not a png");
    const cases: [string[], RegExp][] = [
      [[row("rgb.png"), row("gone.png")], /metadata\.jsonl:2: file "images\/gone\.png" not found/],
      [[row("rgb.png"), '{"file_name": "images/rgb.png", "text": '], /metadata\.jsonl:2: malformed JSON/],
      [[row("rgb.png", { shape: undefined })], /metadata\.jsonl:1: missing attribute 'shape'/],
      [[row("rgb.png", { color: "teal" })], /metadata\.jsonl:1: attribute 'color' is "teal"/],
      [[row("rgb.png", { text: undefined })], /metadata\.jsonl:1: missing field 'text'/],
      [[row("rgb.png", { text: "  " })], /metadata\.jsonl:1: field 'text' must be a non-empty string/],
      [[row("rgb.png"), row("broken.png")], /metadata\.jsonl:2: .*broken\.png: unreadable image/],
      [["[1, 2]"], /metadata\.jsonl:1: expected a JSON object/],
    ];
    for (const [lines, re] of cases) {
      await writeMeta(dir, lines);
      await assert.rejects(loadImageFolder(host, dir, { size: 8 }), re);
    }
    await Deno.remove(join(dir, "metadata.jsonl"));
    await assert.rejects(
      loadImageFolder(host, dir, { size: 8 }),
      /metadata\.jsonl: not found, and .*images\/broken\.png has no caption file images\/broken\.txt/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A Hugging Face-style folder of the user's own pictures: no world attributes anywhere. */
async function plainFolder(dir: string, withMetadata: boolean) {
  await Deno.mkdir(join(dir, "images"), { recursive: true });
  const pic = (r: number, g: number) => sharp({ create: { ...RED_ON_BLUE, background: { r, g, b: 40 } } });
  await pic(200, 30).png().toFile(join(dir, "images/a.png"));
  await pic(30, 200).jpeg().toFile(join(dir, "images/b.jpg"));
  await pic(120, 120).png().toFile(join(dir, "images/c.png"));
  await Deno.writeTextFile(join(dir, "images/b.txt"), "a green  picture\n");
  if (withMetadata) {
    await writeMeta(dir, [
      JSON.stringify({ file_name: "images/a.png", text: "a red picture" }),
      JSON.stringify({ file_name: "images/b.jpg" }), // caption from images/b.txt
      JSON.stringify({ file_name: "images/c.png", text: "a grey picture" }),
    ]);
  } else {
    await Deno.writeTextFile(join(dir, "images/a.txt"), "a red picture");
    await Deno.writeTextFile(join(dir, "images/c.txt"), "a grey picture");
  }
}

Deno.test("plain imagefolders: file_name + text rows, .txt caption sidecars, no metadata.jsonl; the scorer says it cannot score them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const withMetadata of [true, false]) {
      const d = join(dir, String(withMetadata));
      await plainFolder(d, withMetadata);
      const ds = await loadImageFolder(host, d, { size: 8 });
      assert.deepEqual(ds.items.map((r) => [r.file_name, r.text, r.attrs]), [
        ["images/a.png", "a red picture", null],
        ["images/b.jpg", "a green picture", null],
        ["images/c.png", "a grey picture", null],
      ]);
      const b = ds.batches(3, new Rng(0)).next().value!;
      assert.equal(b.images.length, 3 * 3 * 8 * 8);
      assert.deepEqual(b.attrs, [null, null, null]);
      await assert.rejects(
        scoreFolder(host, d),
        withMetadata
          ? /metadata\.jsonl:1: no world attributes \(background, color, shape, size, position\): the scorer scores images of the synthetic worlds/
          : /images\/a\.png: no world attributes .*training on it needs only file_name and text/,
      );
    }
    // A row with neither text nor a sidecar says both.
    await Deno.remove(join(dir, "true/images/b.txt"));
    await assert.rejects(
      loadImageFolder(host, join(dir, "true"), { size: 8 }),
      /metadata\.jsonl:2: missing field 'text' \(and no caption file images\/b\.txt beside the image\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
