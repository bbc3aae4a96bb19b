// docs/LIBRARY.md's example, exactly as written there, runs in its own process from the repository
// root: it imports mod.ts, loads models/base-shapes-16, samples an image and takes a training step.
import assert from "node:assert/strict";
import { ROOT } from "./_task.ts";

Deno.test("docs/LIBRARY.md: the example runs (import mod.ts, load the shipped model, sample, train a step)", async () => {
  const doc = await Deno.readTextFile(`${ROOT}docs/LIBRARY.md`);
  const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, "docs/LIBRARY.md should have one ```ts example");
  assert.match(blocks[0], /from "\.\/mod\.ts"/);
  const dir = await Deno.makeTempDir({ prefix: "seppo-library-" });
  const file = `${dir}/example.ts`;
  // The same code; only the import points at this checkout's mod.ts from the temporary folder.
  await Deno.writeTextFile(
    file,
    blocks[0].replace('"./mod.ts"', JSON.stringify(new URL("mod.ts", `file://${ROOT}`).href)),
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--config", `${ROOT}deno.json`, "-R", "-W", "-E", "-S", "--allow-ffi", file],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /loss \d+\.\d{4}; wrote out\/library-sample\.png/);
    const png = await Deno.readFile(`${ROOT}out/library-sample.png`);
    assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(""), "PNG");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`${ROOT}out/library-sample.png`).catch(() => {});
  }
});
