// Hostile or broken datasets: file_name paths that leave the folder (`..`, absolute, a symlink out),
// duplicate keys, invalid UTF-8 and over-long lines are errors with file and line; warnings quote a
// short prefix of a bad value; --method dpo on data without losers names the first such row.
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { loadImageFolder } from "../../lib/data/imagefolder.ts";
import { MAX_LINE_BYTES } from "../../lib/data/metadata.ts";
import { WordTokenizer } from "../../lib/nn/tokenizer.ts";
import { train } from "../../lib/train/seppo.ts";
import { gpu, host } from "../_helpers.ts";
import { fixture, quiet, sftConfig } from "./_fixture.ts";

async function folder(): Promise<{ root: string; dir: string }> {
  const root = await Deno.makeTempDir({ prefix: "seppo-ds-" });
  const dir = join(root, "ds");
  await Deno.mkdir(join(dir, "images"), { recursive: true });
  await Deno.mkdir(join(root, "other"));
  const png = (p: string) =>
    sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 0, b: 0 } } }).png().toFile(
      p,
    );
  await png(join(dir, "images", "a.png"));
  await png(join(root, "other", "b.png")); // another dataset's image, outside `dir`
  await Deno.symlink(join(root, "other", "b.png"), join(dir, "images", "link.png"));
  return { root, dir };
}

const row = (file: string, extra = "") =>
  `{"file_name": ${JSON.stringify(file)}, "text": "a red square"${extra}}`;

Deno.test("file_name must stay inside the dataset folder: .., absolute paths and symlinks out are refused", async () => {
  const { root, dir } = await folder();
  try {
    const cases: [string, RegExp][] = [
      [
        row("../../../../../../etc/passwd"),
        /metadata\.jsonl:2: file_name "\.\.\/\.\.\/.*passwd" points outside the dataset folder/,
      ],
      [
        row("../other/b.png"),
        /metadata\.jsonl:2: file_name "\.\.\/other\/b\.png" points outside the dataset folder/,
      ],
      [
        row("/etc/passwd"),
        /metadata\.jsonl:2: file_name "\/etc\/passwd" is an absolute path; paths are relative to/,
      ],
      [
        row("images/link.png"),
        /metadata\.jsonl:2: file_name "images\/link\.png" resolves \(through a symlink\) to .*other\/b\.png, outside the dataset folder/,
      ],
      [
        row("images/a.png", ', "loser_file_name": "../other/b.png"'),
        /metadata\.jsonl:2: loser_file_name "\.\.\/other\/b\.png" points outside/,
      ],
    ];
    for (const [bad, re] of cases) {
      await Deno.writeTextFile(join(dir, "metadata.jsonl"), `${row("images/a.png")}\n${bad}\n`);
      await assert.rejects(loadImageFolder(host, dir, { size: 8 }), re);
    }
    // `..` that stays inside is fine.
    await Deno.writeTextFile(join(dir, "metadata.jsonl"), row("images/../images/a.png") + "\n");
    assert.equal((await loadImageFolder(host, dir, { size: 8 })).items.length, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("duplicate keys, invalid UTF-8 and over-long lines are errors with file and line", async () => {
  const { root, dir } = await folder();
  const meta = join(dir, "metadata.jsonl");
  try {
    const enc = new TextEncoder();
    const cat = (...parts: Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) (out.set(p, o), o += p.length);
      return out;
    };
    const cases: [Uint8Array, RegExp][] = [
      [
        enc.encode(`${row("images/a.png")}\n${row("images/a.png", ', "text": "other"')}\n`),
        /metadata\.jsonl:2: duplicate key "text"/,
      ],
      [
        cat(
          enc.encode(`${row("images/a.png")}\n{"file_name": "images/a.png", "text": "caf`),
          Uint8Array.of(0xe9, 0x22, 0x7d),
          enc.encode("\n"),
        ),
        /metadata\.jsonl:2: invalid UTF-8 \(save the file as UTF-8\): "\{\\"file_name/,
      ],
      [
        enc.encode(
          `${row("images/a.png")}\n${row("images/a.png", `, "x": "${"w".repeat(MAX_LINE_BYTES)}"`)}\n`,
        ),
        /metadata\.jsonl:2: line of \d+ bytes, over the limit of 65536 bytes per row/,
      ],
    ];
    for (const [bytes, re] of cases) {
      await Deno.writeFile(meta, bytes);
      await assert.rejects(loadImageFolder(host, dir, { size: 8 }), (e: Error) => {
        assert.match(e.message, re);
        assert.ok(e.message.length < 400, `the error quotes a short prefix (${e.message.length} chars)`);
        return true;
      });
    }
    // A BOM (Windows editors) is fine.
    await Deno.writeFile(meta, cat(Uint8Array.of(0xef, 0xbb, 0xbf), enc.encode(row("images/a.png") + "\n")));
    assert.equal((await loadImageFolder(host, dir, { size: 8 })).items[0].text, "a red square");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("warnings quote a short prefix: a huge caption word does not flood the log", () => {
  const tok = new WordTokenizer(["red", "square"], 8);
  const warned: string[] = [];
  tok.warn = (m) => warned.push(m);
  tok.encode([`${"x".repeat(1_000_000)} ${"red square ".repeat(10)}`]);
  assert.equal(warned.length, 2, warned.map((w) => w.slice(0, 80)).join("\n"));
  for (const w of warned) assert.ok(w.length < 200, `warning of ${w.length} chars: ${w.slice(0, 100)}`);
  assert.match(warned[0], /truncated|has \d+ words/);
  assert.match(warned.join("\n"), /unknown word "x{60}"\.\.\. \(1000000 characters\)/);
});

Deno.test("--method dpo on data without losers names the first row that lacks one", async () => {
  const f = await fixture(), ctx = await gpu();
  const { root, dir } = await folder();
  try {
    await Deno.writeTextFile(
      join(dir, "metadata.jsonl"),
      [row("images/a.png", ', "loser_file_name": "images/a.png"'), row("images/a.png"), row("images/a.png")]
        .join("\n"),
    );
    const c = sftConfig(f, join(root, "out"), 1);
    c.method = "dpo";
    c.data.prefs = dir;
    await assert.rejects(
      train(ctx, c, quiet),
      /ds\/metadata\.jsonl:2: no loser_file_name \(method dpo needs a paired loser on every row; 2 of 3 rows lack one/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
