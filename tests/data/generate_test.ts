import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULTS, generate, type GenerateOptions } from "../../data/generate.ts";
import { isHeldout } from "../../lib/world/attrs.ts";
import { host } from "../_helpers.ts";

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

function opts(
  o: Partial<GenerateOptions> & Pick<GenerateOptions, "world" | "split" | "out">,
): GenerateOptions {
  return { ...DEFAULTS, size: 16, count: 24, progress: false, ...o };
}

async function readRows(path: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("same seed gives byte-identical files; another seed does not", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    for (const world of ["shapes", "moving-shapes"] as const) {
      const o = { world, split: "prefs" as const, pairs: true, captionNoise: 0.3, frames: 4, count: 12 };
      await generate(host, opts({ ...o, out: join(tmp, `${world}-a`), concurrency: 1 }));
      await generate(host, opts({ ...o, out: join(tmp, `${world}-b`), concurrency: 8 }));
      await generate(host, opts({ ...o, out: join(tmp, `${world}-c`), seed: 1 }));
      const files = await listFiles(join(tmp, `${world}-a`));
      assert.deepEqual(files, await listFiles(join(tmp, `${world}-b`)));
      assert.ok(
        files.includes("metadata.jsonl") && files.includes("sheet.png") && files.includes("heldout.json"),
      );
      for (const f of files) {
        const a = await Deno.readFile(join(tmp, `${world}-a`, f));
        assert.deepEqual(a, await Deno.readFile(join(tmp, `${world}-b`, f)), `${world}/${f} differs`);
      }
      const meta = (d: string) => Deno.readTextFile(join(tmp, d, "metadata.jsonl"));
      assert.notEqual(await meta(`${world}-a`), await meta(`${world}-c`));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("prefs exclude held-out pairs, losers differ in one field, noise has the asked share", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await generate(
      host,
      opts({ world: "shapes", split: "prefs", pairs: true, count: 200, out: join(tmp, "p") }),
    );
    const rows = await readRows(join(tmp, "p", "metadata.jsonl"));
    for (const r of rows) {
      assert.ok(
        !isHeldout(r as { color: string; shape: string }),
        `held-out pair in prefs: ${JSON.stringify(r)}`,
      );
      const loser = r.loser as Record<string, string>;
      const diff = Object.keys(loser).filter((k) => loser[k] !== r[k]);
      assert.deepEqual(diff, [r.loser_field]);
      assert.notEqual(loser.background, loser.color);
    }
    await generate(
      host,
      opts({ world: "shapes", split: "pretrain", captionNoise: 0.5, count: 200, out: join(tmp, "n") }),
    );
    const noisy = (await readRows(join(tmp, "n", "metadata.jsonl"))).filter((r) => r.noise);
    assert.ok(noisy.length > 70 && noisy.length < 130, `${noisy.length}/200 noisy at 0.5`);
    for (const r of noisy) {
      const n = r.noise as { field: string; kind: string; text_value?: string };
      if (n.kind === "wrong" && n.field.match(/color|background|shape/)) {
        assert.ok((r.text as string).includes(n.text_value!), `${r.text} lacks ${n.text_value}`);
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval is prompts only, with seeds and held-out marks", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await generate(host, opts({ world: "shapes", split: "eval", count: 300, out: tmp }));
    assert.deepEqual(await listFiles(tmp), ["dataset.json", "heldout.json", "prompts.jsonl"]);
    const rows = await readRows(join(tmp, "prompts.jsonl"));
    assert.equal(rows.length, 300);
    assert.ok(rows.every((r) => typeof r.seed === "number" && typeof r.text === "string"));
    assert.ok(rows.some((r) => r.heldout === true) && rows.some((r) => r.heldout === false));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
