import assert from "node:assert/strict";
import { join } from "node:path";
import { checkOptions, DEFAULTS, generate, type GenerateOptions } from "../../data/generate.ts";
import { loadImageFolder } from "../../lib/data/imagefolder.ts";
import { loadTastePrompts, scoreTasteSamples, tasteEvalItems } from "../../lib/eval/eval_taste.ts";
import { scoreFolder } from "../../lib/eval/score_folder.ts";
import { readImage } from "../../lib/io/images.ts";
import { UsageError } from "../../lib/util/errors.ts";
import { Rng } from "../../lib/util/rng.ts";
import { COLORS, isHeldout, type SceneAttrs, SHAPES } from "../../lib/world/attrs.ts";
import { CONTENT_FIELDS, DESIGN_CELLS, designCell, OTHER_LOOKS, PREFERRED } from "../../lib/world/taste.ts";
import { renderScene } from "../../lib/world/shapes.ts";
import { host } from "../_helpers.ts";

type Row = Record<string, unknown>;

function opts(o: Partial<GenerateOptions> & Pick<GenerateOptions, "split" | "out">): GenerateOptions {
  return { ...DEFAULTS, world: "taste", size: 16, count: 24, progress: false, ...o };
}

async function rowsOf(dir: string, file = "metadata.jsonl"): Promise<Row[]> {
  return (await Deno.readTextFile(join(dir, file))).trim().split("\n").map((l) => JSON.parse(l));
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

const lookKey = (r: Row) => `${r.size}/${r.position}`;
const contentKey = (r: Row) => CONTENT_FIELDS.map((f) => r[f]).join("/");
/** Words of the grammar that state a size or a position: a taste prompt never has one. */
const LOOK_WORDS = /\b(small|little|tiny|large|big|left|right|top|bottom|center|middle)\b/;

async function withTmp(f: (tmp: string) => Promise<void>) {
  const tmp = await Deno.makeTempDir();
  try {
    await f(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("taste: same options give byte-identical folders, whatever the concurrency; another seed differs", () =>
  withTmp(async (tmp) => {
    const splits: Partial<GenerateOptions>[] = [
      { split: "pretrain", captionNoise: 0.3 },
      { split: "prefs", pairs: true },
      { split: "val" },
      { split: "eval" },
    ];
    for (const s of splits) {
      const name = s.split!;
      const o = { ...s, split: s.split!, count: 16 };
      await generate(host, opts({ ...o, out: join(tmp, `${name}-a`), concurrency: 1 }));
      await generate(host, opts({ ...o, out: join(tmp, `${name}-b`), concurrency: 8 }));
      await generate(host, opts({ ...o, out: join(tmp, `${name}-c`), seed: 1 }));
      const files = await listFiles(join(tmp, `${name}-a`));
      assert.deepEqual(files, await listFiles(join(tmp, `${name}-b`)));
      for (const f of files) {
        const a = await Deno.readFile(join(tmp, `${name}-a`, f));
        assert.deepEqual(a, await Deno.readFile(join(tmp, `${name}-b`, f)), `${name}/${f} differs`);
      }
      const listing = name === "val" || name === "eval" ? "prompts.jsonl" : "metadata.jsonl";
      const text = (d: string) => Deno.readTextFile(join(tmp, d, listing));
      assert.notEqual(await text(`${name}-a`), await text(`${name}-c`), `${name}: seed 1 = seed 0`);
    }
  }));

Deno.test("taste pretrain: preferred share within binomial noise, others uniform, noise only in stated fields", () =>
  withTmp(async (tmp) => {
    const n = 1000, share = 0.2;
    await generate(host, opts({ split: "pretrain", count: n, captionNoise: 0.3, out: tmp }));
    const rows = await rowsOf(tmp);
    const preferred = rows.filter((r) => r.taste === "preferred");
    // 4.5 standard deviations: a false alarm about once in 150,000 seeds.
    const sd = Math.sqrt(n * share * (1 - share));
    assert.ok(Math.abs(preferred.length - n * share) < 4.5 * sd, `${preferred.length}/${n} preferred`);
    for (const r of rows) {
      const isPreferred = r.size === PREFERRED.size && r.position === PREFERRED.position;
      assert.equal(r.taste, isPreferred ? "preferred" : "other", JSON.stringify(r));
    }
    const others = rows.filter((r) => r.taste === "other");
    const per = new Map<string, number>();
    for (const r of others) per.set(lookKey(r), (per.get(lookKey(r)) ?? 0) + 1);
    assert.equal(per.size, OTHER_LOOKS.length);
    const p = 1 / OTHER_LOOKS.length, sdk = Math.sqrt(others.length * p * (1 - p));
    for (const [k, c] of per) assert.ok(Math.abs(c - others.length * p) < 4.5 * sdk, `${k}: ${c}`);
    const noisy = rows.filter((r) => r.noise);
    const sdn = Math.sqrt(n * 0.3 * 0.7);
    assert.ok(Math.abs(noisy.length - 0.3 * n) < 4.5 * sdn, `${noisy.length}/${n} noisy at 0.3`);
    for (const r of rows) {
      assert.ok(!LOOK_WORDS.test(r.text as string), `pretrain text states the look: ${r.text}`);
      const nz = r.noise as { field: string; kind: string; text_value?: string } | undefined;
      if (nz) assert.ok((CONTENT_FIELDS as readonly string[]).includes(nz.field), JSON.stringify(nz));
      if (nz?.kind === "wrong") assert.ok((r.text as string).includes(nz.text_value!), `${r.text}`);
      if (!nz) { for (const f of CONTENT_FIELDS) assert.ok((r.text as string).includes(r[f] as string)); }
    }
    assert.ok(rows.some((r) => isHeldout(r as { color: string; shape: string })), "pretrain has every pair");
    const info = JSON.parse(await Deno.readTextFile(join(tmp, "dataset.json")));
    assert.equal(info.taste_share, share);
    const half = join(tmp, "half");
    await generate(host, opts({ split: "pretrain", count: 400, tasteShare: 0.5, out: half }));
    const k = (await rowsOf(half)).filter((r) => r.taste === "preferred").length;
    assert.ok(Math.abs(k - 200) < 4.5 * 10, `${k}/400 preferred at 0.5`);
  }));

Deno.test("taste prefs: preferred winners, no held-out pair, losers share prompt, content and jitter", () =>
  withTmp(async (tmp) => {
    await generate(host, opts({ split: "prefs", pairs: true, count: 200, out: tmp }));
    const rows = await rowsOf(tmp);
    const looks = new Set<string>();
    for (const r of rows) {
      assert.ok(!isHeldout(r as { color: string; shape: string }), `held-out pair in prefs: ${r.text}`);
      assert.equal(r.taste, "preferred");
      assert.equal(lookKey(r), `${PREFERRED.size}/${PREFERRED.position}`);
      assert.equal(r.noise, undefined);
      for (const f of CONTENT_FIELDS) assert.ok((r.text as string).includes(r[f] as string), `${r.text}`);
      assert.ok(!LOOK_WORDS.test(r.text as string), `prefs text states the look: ${r.text}`);
      const loser = r.loser as Row;
      assert.equal(loser.taste, "other");
      assert.equal(r.loser_field, "taste");
      assert.equal(contentKey(loser), contentKey(r));
      assert.ok(OTHER_LOOKS.some((l) => `${l.size}/${l.position}` === lookKey(loser)));
      looks.add(lookKey(loser));
    }
    assert.equal(looks.size, OTHER_LOOKS.length, "losers cover every other look");
    // Same jitter seed: each image is exactly the render of its attributes with the row's seed.
    for (const r of rows.slice(0, 8)) {
      const seed = r.seed as number;
      const win = await readImage(host, join(tmp, r.file_name as string));
      const lose = await readImage(host, join(tmp, r.loser_file_name as string));
      assert.deepEqual(win.data, await renderScene(host, r as unknown as SceneAttrs, 16, new Rng(seed)));
      assert.deepEqual(
        lose.data,
        await renderScene(host, r.loser as unknown as SceneAttrs, 16, new Rng(seed)),
      );
    }
    const ds = await loadImageFolder(host, tmp, { size: 16 });
    assert.equal(ds.items.length, 200);
    assert.ok(ds.loserPixels?.length === 200, "the loader pairs every winner with its loser");
    const report = await scoreFolder(host, tmp);
    assert.equal(report.summary["agree.taste"].mean, 1);
    assert.equal(report.summary["has_taste"].mean, 1);
    assert.ok(report.summary["loser_taste"].mean < 0.01, `loser taste ${report.summary["loser_taste"].mean}`);
    assert.ok(report.summary["headline"].mean > 0.99 && report.summary["guard"].mean > 0.99);
  }));

Deno.test("taste val and eval: disjoint balanced prompts, held-out pairs flagged, the eval helper", () =>
  withTmp(async (tmp) => {
    await generate(host, opts({ split: "val", count: 64, out: join(tmp, "val") }));
    await generate(host, opts({ split: "eval", count: 128, out: join(tmp, "eval") }));
    const val = await rowsOf(join(tmp, "val"), "prompts.jsonl");
    const ev = await rowsOf(join(tmp, "eval"), "prompts.jsonl");
    assert.deepEqual(await listFiles(join(tmp, "val")), ["dataset.json", "heldout.json", "prompts.jsonl"]);
    const key = (r: Row) => `${r.text}|${r.seed}`;
    const evKeys = new Set(ev.map(key)), evSeeds = new Set(ev.map((r) => r.seed));
    assert.ok(val.every((r) => !evKeys.has(key(r)) && !evSeeds.has(r.seed)), "val overlaps eval");
    const evContent = new Set(ev.map(contentKey));
    assert.ok(val.every((r) => !evContent.has(contentKey(r))), "val shares content with eval");
    assert.equal(new Set(ev.map(contentKey)).size, 128, "eval repeats a content");
    for (const rows of [val, ev]) {
      for (const r of rows) {
        assert.equal(r.taste, "preferred");
        assert.equal(r.heldout, isHeldout(r as { color: string; shape: string }));
        assert.ok(!LOOK_WORDS.test(r.text as string), `prompt states the look: ${r.text}`);
      }
      assert.ok(rows.filter((r) => r.heldout).length === rows.length / 8, "1 in 8 prompts is held out");
      // Balanced: every colour, background and shape equally often.
      for (const [f, values] of [["color", COLORS], ["background", COLORS], ["shape", SHAPES]] as const) {
        for (const v of values) {
          assert.equal(rows.filter((r) => r[f] === v).length, rows.length / values.length, `${f} ${v}`);
        }
      }
    }
    const prompts = await loadTastePrompts(host, join(tmp, "eval"));
    const items = tasteEvalItems(prompts, 2);
    assert.equal(items.length, 256);
    assert.deepEqual([items[1].text, items[1].seed], [ev[0].text, ((ev[0].seed as number) + 1) >>> 0]);
    assert.equal(items[0].meta?.taste, "preferred");
    // Preferred renders of the first 4 prompts have the taste; small ones do not.
    const first = items.slice(0, 8);
    const good = await Promise.all(first.map((it) => renderScene(host, it.attrs, 16, new Rng(it.seed))));
    const bad = await Promise.all(
      first.map((it) => renderScene(host, { ...it.attrs, size: "small" }, 16, new Rng(it.seed))),
    );
    const g = scoreTasteSamples(good, 16, first), b = scoreTasteSamples(bad, 16, first);
    assert.ok(g.hasTaste.every((x) => x) && g.guard.every((x) => x > 0.99), JSON.stringify(g));
    assert.ok(b.hasTaste.every((x) => !x) && b.taste.every((x) => x < 0.01), JSON.stringify(b));
    assert.deepEqual(g.heldout, first.map((it) => it.heldout));
    // A shapes eval file is not a taste prompts file.
    await generate(host, { ...opts({ split: "eval", out: join(tmp, "shapes") }), world: "shapes" });
    await assert.rejects(
      loadTastePrompts(host, join(tmp, "shapes")),
      /prompts\.jsonl:1: not a taste-world prompt/,
    );
  }));

Deno.test("taste design: 224 distinct cells, balanced in every block of 32", () => {
  const cells = Array.from({ length: DESIGN_CELLS }, (_, j) => designCell(j));
  assert.equal(DESIGN_CELLS, 224);
  assert.equal(new Set(cells.map((c) => `${c.background}/${c.color}/${c.shape}`)).size, 224);
  assert.ok(cells.every((c) => c.color !== c.background));
  for (let b = 0; b < 7; b++) {
    const block = cells.slice(32 * b, 32 * b + 32);
    assert.equal(new Set(block.map((c) => `${c.color}/${c.shape}`)).size, 32, `block ${b}`);
    assert.equal(new Set(block.map((c) => `${c.background}/${c.shape}`)).size, 32, `block ${b}`);
  }
  assert.deepEqual(designCell(DESIGN_CELLS + 5), designCell(5));
});

Deno.test("taste options: bad combinations are usage errors naming the flag", () => {
  const base = opts({ split: "pretrain", out: "unused" });
  const bad: [Partial<GenerateOptions>, RegExp][] = [
    [{ split: "prefs", captionNoise: 0.1 }, /--caption-noise/],
    [{ split: "eval", captionNoise: 0.1 }, /--caption-noise/],
    [{ split: "val", pairs: true }, /--pairs/],
    [{ split: "pretrain", pairs: true }, /--pairs/],
    [{ tasteShare: 1.5 }, /--taste-share/],
    [{ world: "shapes", split: "val" }, /--split/],
  ];
  for (const [o, re] of bad) {
    assert.throws(
      () => checkOptions({ ...base, ...o }),
      (e: Error) => e instanceof UsageError && re.test(e.message),
    );
  }
  checkOptions({ ...base, split: "prefs", pairs: true });
  checkOptions({ ...base, world: "shapes", split: "eval", captionNoise: 0.2 });
});
