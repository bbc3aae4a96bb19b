// The README's quick start is what CI runs: two commands (demo, test), and .ci/run's TEST_CMD is the
// README's test command, verbatim. The backend label names backend and adapter.
import assert from "node:assert/strict";
import { backendLabel } from "../../lib/gpu/backend.ts";

const root = new URL("../../", import.meta.url);

function quickStart(readme: string): string[] {
  const at = readme.indexOf("## Quick start");
  assert.ok(at >= 0, "README.md has no '## Quick start' section");
  const block = readme.slice(at).match(/```sh\n([\s\S]*?)```/);
  assert.ok(block, "README.md: the quick start has no ```sh block");
  return block[1].split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter((l) => l);
}

Deno.test("README quick start is two commands, demo and test, and .ci/run runs the test one verbatim", async () => {
  const cmds = quickStart(await Deno.readTextFile(new URL("README.md", root)));
  assert.equal(cmds.length, 2, `quick start should be 2 commands, got ${JSON.stringify(cmds)}`);
  assert.match(cmds[0], / task demo$/);
  assert.match(cmds[1], / task test$/);
  const ci = await Deno.readTextFile(new URL(".ci/run", root));
  const m = ci.match(/^TEST_CMD='([^']*)'$/m);
  assert.ok(m, ".ci/run has no TEST_CMD='...' line");
  assert.equal(m[1], cmds[1], ".ci/run's TEST_CMD differs from the README's test command");
  assert.match(ci, /bash -c "\$TEST_CMD"/, ".ci/run does not run TEST_CMD");
  // Both commands run the setup check first (deno.json), so a fresh machine needs nothing else.
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  for (const t of ["demo", "test"]) {
    assert.match(
      tasks[t],
      /^deno run [^&]*tasks\/setup\.ts --check && /,
      `task ${t} does not run setup first`,
    );
  }
});

Deno.test("backend label names backend and adapter unambiguously", () => {
  const name = "llvmpipe (LLVM 15.0.6, 256 bits)";
  assert.equal(
    backendLabel({ backend: "vulkan", reason: "" }, name, true),
    "Vulkan / llvmpipe (lavapipe) (LLVM 15.0.6, 256 bits), software",
  );
  assert.equal(
    backendLabel({ backend: "gl", reason: "" }, name, true),
    "GL / llvmpipe (GL) (LLVM 15.0.6, 256 bits), software",
  );
  assert.equal(backendLabel({ backend: "vulkan", reason: "" }, "NVIDIA H200", false), "Vulkan / NVIDIA H200");
});
