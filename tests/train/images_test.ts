// Sample-grid prompts (log.sample_prompts): a list, .txt and .jsonl files, the default, the errors;
// writeGrid's caption file names each cell's prompt.
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_GRID_PROMPTS, samplePrompts, writeGrid } from "../../lib/train/images.ts";
import { host } from "../_helpers.ts";

Deno.test("log.sample_prompts: prompts, .txt and .jsonl files; default the first 8 captions; errors name the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const captions = ["a", "b", "a", "c", "d", "e", "f", "g", "h", "i"];
    assert.deepEqual(await samplePrompts(host, [], captions), ["a", "b", "c", "d", "e", "f", "g", "h"]);
    await Deno.writeTextFile(join(dir, "p.txt"), "a red circle, left\n\n  a blue square  \n");
    await Deno.writeTextFile(join(dir, "p.jsonl"), '{"text": "a green triangle", "seed": 3}\n');
    assert.deepEqual(await samplePrompts(host, ["one", join(dir, "p.txt"), join(dir, "p.jsonl")], captions), [
      "one",
      "a red circle, left",
      "a blue square",
      "a green triangle",
    ]);
    await assert.rejects(
      samplePrompts(host, [join(dir, "gone.txt")], captions),
      /log.sample_prompts: cannot read .*gone\.txt/,
    );
    await Deno.writeTextFile(join(dir, "bad.jsonl"), '{"text": "ok"}\n{"caption": "x"}\n');
    await assert.rejects(
      samplePrompts(host, [join(dir, "bad.jsonl")], captions),
      /bad\.jsonl:2: expected a JSON object with a "text"/,
    );
    const many = Array.from({ length: MAX_GRID_PROMPTS + 1 }, (_, i) => `p${i}`);
    await assert.rejects(samplePrompts(host, many, captions), /65 prompts, more than a grid shows \(64\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeGrid names each cell's prompt beside the picture (images 4 per row; clips one per row)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const size = 4, per = 3 * size * size;
    await writeGrid(host, join(dir, "step-1.png"), new Float32Array(6 * per), size, 4, [
      "a",
      "b",
      "c",
      "d",
      "e",
      "f",
    ]);
    assert.equal(
      await Deno.readTextFile(join(dir, "step-1.txt")),
      "row 1, column 1: a\nrow 1, column 2: b\nrow 1, column 3: c\nrow 1, column 4: d\nrow 2, column 1: e\nrow 2, column 2: f\n",
    );
    // Two clips of 3 frames: 6 cells, one prompt per row.
    await writeGrid(host, join(dir, "step-2.png"), new Float32Array(6 * per), size, 3, ["x", "y"]);
    assert.equal(
      await Deno.readTextFile(join(dir, "step-2.txt")),
      "row 1, column 1: x\nrow 2, column 1: y\n",
    );
    assert.ok((await Deno.stat(join(dir, "step-2.png"))).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
