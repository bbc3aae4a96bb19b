// The context turns GPU problems into exceptions: WGSL compile errors with file:line:col and the
// offending line, validation errors naming the kernel, oversized dispatches, writable aliasing; and
// the pool reuses.
import assert from "node:assert/strict";
import { KernelFile, writableBindings } from "../../lib/gpu/kernel.ts";
import { sizeClass } from "../../lib/gpu/pool.ts";
import { NoAdapterError } from "../../lib/gpu/errors.ts";
import { empty } from "../../lib/tensor/tensor.ts";
import { gpu } from "../_helpers.ts";

Deno.test("a WGSL compile error names kernels/<file>.wgsl:line:col and shows the line", async () => {
  const ctx = await gpu();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/broken.wgsl`,
      "@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n" +
        "@compute @workgroup_size(1)\nfn forward() {\n  let x: f32 = 1u;\n  y[0] = x;\n}\n",
    );
    const k = new KernelFile("broken.wgsl", new URL(`file://${dir}/`));
    const t = empty(ctx, [1]);
    ctx.run(k, "forward", { buffers: [t], groups: [1, 1, 1] });
    await assert.rejects(() => ctx.sync(), (e: Error) => {
      assert.match(e.message, /kernels\/broken\.wgsl:4:\d+: error: .*f32/);
      assert.match(e.message, /let x: f32 = 1u;/);
      return true;
    });
    t.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a validation error becomes an exception naming the kernel", async () => {
  const ctx = await gpu();
  const k = new KernelFile("scale.wgsl");
  const t = empty(ctx, [4]);
  // The forward entry point needs bindings 1 and 2; binding 2 is missing.
  ctx.run(k, "forward", { buffers: [t], params: [4, 0, 0], groups: [1, 1, 1] });
  await assert.rejects(() => ctx.sync(), /scale\.wgsl#forward/);
  t.dispose();
});

Deno.test("dispatches beyond 65535 workgroups per dimension are refused with the kernel's name", async () => {
  const ctx = await gpu();
  const t = empty(ctx, [4]);
  assert.throws(
    () => ctx.run(new KernelFile("scale.wgsl"), "forward", { buffers: [t, t], groups: [70000, 1, 1] }),
    /scale\.wgsl#forward: dispatch \[70000,1,1\] exceeds 65535/,
  );
  t.dispose();
});

Deno.test("one buffer bound twice where a binding is writable is refused (browsers reject it; wgpu does not)", async () => {
  const ctx = await gpu();
  const k = new KernelFile("scale.wgsl");
  const t = empty(ctx, [4]), u = empty(ctx, [4]);
  assert.throws(
    () => ctx.run(k, "forward", { buffers: [t, t], params: [4, 0, 0], groups: [1, 1, 1] }),
    /scale\.wgsl#forward: bindings 1 and 2 are the same buffer and one is writable/,
  );
  ctx.run(k, "forward", { buffers: [t, u], params: [4, 0, 0], groups: [1, 1, 1] }); // distinct: fine
  await ctx.sync();
  t.dispose();
  u.dispose();
});

Deno.test("writableBindings reads the read_write storage bindings of a WGSL source", () => {
  const src = "@group(0) @binding(1) var<storage, read> a: array<f32>;\n" +
    "@group(0) @binding(2) var<storage, read_write> b: array<f32>;\n" +
    "@group(0) @binding(5) var<storage,read_write> c: array<f32>;\n@group(0) @binding(0) var<uniform> p: P;";
  assert.deepEqual([...writableBindings(src)], [2, 5]);
});

Deno.test("the buffer pool reuses released buffers by size class", async () => {
  const ctx = await gpu();
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(1000), 1024);
  assert.equal(sizeClass(1025), 1280);
  const a = empty(ctx, [1000]);
  const buf = a.buffer;
  a.dispose();
  const b = empty(ctx, [990]);
  assert.equal(b.buffer, buf, "same size class: the buffer comes back");
  b.dispose();
});

Deno.test("the no-adapter error says what to install", () => {
  assert.match(new NoAdapterError().message, /mesa-vulkan-drivers/);
});
