// safetensors: round trips (F32 exact, F16 against a float64 round-to-nearest-even model), hand-made
// BF16 and mixed-dtype files, metadata, malformed files (each error must name the file and the
// tensor or field), and writes that fail without leaving a partial or temporary file.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../../lib/io/safetensors.ts";
import { f16ToF32, f32ToF16, fromF16Bits, toF16Bits } from "../../lib/io/f16.ts";
import { writeFileAtomic } from "../../lib/io/atomic.ts";
import { host } from "../_helpers.ts";

/** A safetensors file from a header (object or raw text), data bytes and an optional forged length. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(), n?: bigint): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function bytesOf(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Float64 model of f32 -> f16: round to nearest even at the f16 ulp of |x|'s binade. */
function f16Model(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -14); // subnormals share the ulp of 2^-14
  const ulp = 2 ** (e - 10);
  const q = a / ulp; // exact: a is an f32, ulp a power of two
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  const v = r * ulp;
  return Math.sign(x) * (v >= 65520 ? Infinity : v);
}

async function tmpDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "seppo-st-" });
}

Deno.test("F32 round trip is exact, sorted by name, header padded to 8 bytes", async () => {
  const dir = await tmpDir();
  const path = join(dir, "w.safetensors");
  const tensors = [
    { name: "up_blocks.1.attn.to_q.weight", shape: [3, 2], data: Float32Array.of(1, -2, 3.5, 1e-30, 7, -0) },
    {
      name: "down_blocks.0.resnets.0.conv1.weight",
      shape: [2, 1, 1, 2],
      data: Float32Array.of(0.1, 0.2, 0.3, 0.4),
    },
    { name: "10", shape: [], data: Float32Array.of(42) },
    { name: "empty", shape: [0, 4], data: new Float32Array(0) },
  ];
  await writeSafetensors(host, path, tensors);
  const bytes = await Deno.readFile(path);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.match(header, /^\{.*\} *$/);
  const keys = [...header.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
  assert.deepEqual(keys, [
    "10",
    "down_blocks.0.resnets.0.conv1.weight",
    "empty",
    "up_blocks.1.attn.to_q.weight",
  ]);
  const { tensors: got, metadata } = await readSafetensors(host, path);
  assert.deepEqual(metadata, {});
  assert.equal(got.size, 4);
  for (const t of tensors) {
    const g = got.get(t.name)!;
    assert.equal(g.dtype, "F32");
    assert.deepEqual(g.shape, t.shape);
    assert.deepEqual(bytesOf(g.data), bytesOf(t.data), t.name); // bitwise, so -0 stays -0
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("F16 round trip matches float64 round-to-nearest-even, with subnormals, ties, inf, nan", () => {
  const special = [
    0,
    -0,
    1,
    -1,
    65504,
    -65504,
    65519.99,
    2 ** -14,
    2 ** -24,
    2 ** -25,
    2 ** -25 * 1.0001,
    3 * 2 ** -26,
    2 ** -26,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    1 + 2 ** -11 + 2 ** -20,
    2049,
    2051,
    0.1,
    1 / 3,
    1e-8,
    Infinity,
    -Infinity,
  ]; // deno-fmt-ignore
  const xs: number[] = [...special];
  let s = 12345;
  for (let i = 0; i < 20000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const mant = 1 + (s >>> 8) / 2 ** 24;
    xs.push((s & 1 ? -1 : 1) * mant * 2 ** ((s % 44) - 28)); // 2^-28 .. 2^15: zero, subnormal, normal, inf
  }
  const src = Float32Array.from(xs);
  const enc = encodeSafetensors([{ name: "x", shape: [src.length], data: src }], { dtype: "F16" }, "mem.st");
  const got = parseSafetensors(enc, "mem.st").tensors.get("x")!;
  assert.equal(got.dtype, "F16");
  let bad = 0;
  for (let i = 0; i < src.length; i++) {
    const want = f16Model(src[i]);
    if (!Object.is(got.data[i], want)) {
      if (bad++ < 5) console.error(`x=${src[i]}: got ${got.data[i]}, want ${want}`);
    }
  }
  assert.equal(bad, 0);
  const nan = f32ToF16(Float32Array.of(NaN, -NaN));
  assert.ok(Number.isNaN(fromF16Bits(nan[0])) && Number.isNaN(fromF16Bits(nan[1])));
  // A nan whose payload sits only in the low 13 bits must not collapse into inf.
  const lowNan = new Float32Array(new Uint32Array([0x7f800001]).buffer);
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(lowNan))[0]));
});

Deno.test("every f16 bit pattern survives f16 -> f32 -> f16", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = f32ToF16(f16ToF32(all));
  for (let i = 0; i < 65536; i++) {
    const isNan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    if (isNan) assert.ok(Number.isNaN(fromF16Bits(back[i])), `nan ${i.toString(16)}`);
    else assert.equal(back[i], i, `bits 0x${i.toString(16)}`);
  }
  assert.equal(fromF16Bits(0x0001), 2 ** -24);
  assert.equal(fromF16Bits(0x03ff), 1023 * 2 ** -24);
  assert.equal(toF16Bits(65520), 0x7c00); // the first value that rounds to inf
});

Deno.test("BF16 and mixed dtypes are read from hand-made bytes, including unaligned offsets", () => {
  // bf16: 1.0, -2.0, 3.140625, inf, nan ; f16: 0.5, 65504, 2^-24 ; f32: 1.25 (at offset 16, then 18)
  const bf = Uint16Array.of(0x3f80, 0xc000, 0x4049, 0x7f80, 0x7fc0);
  const h = Uint16Array.of(0x3800, 0x7bff, 0x0001);
  const f = Float32Array.of(1.25);
  const data = new Uint8Array(10 + 6 + 4);
  data.set(bytesOf(bf), 0);
  data.set(bytesOf(h), 10);
  data.set(bytesOf(f), 16);
  const file = craft({
    "__metadata__": { format: "pt" },
    "a.bf": { dtype: "BF16", shape: [5], data_offsets: [0, 10] },
    "b.half": { dtype: "F16", shape: [1, 3], data_offsets: [10, 16] },
    "c.full": { dtype: "F32", shape: [1], data_offsets: [16, 20] },
  }, data);
  const { tensors, metadata } = parseSafetensors(file, "hand.safetensors");
  assert.deepEqual(metadata, { format: "pt" });
  const a = tensors.get("a.bf")!;
  assert.equal(a.dtype, "BF16");
  assert.deepEqual([...a.data.subarray(0, 4)], [1, -2, 3.140625, Infinity]);
  assert.ok(Number.isNaN(a.data[4]));
  assert.deepEqual([...tensors.get("b.half")!.data], [0.5, 65504, 2 ** -24]);
  assert.deepEqual(tensors.get("b.half")!.shape, [1, 3]);
  assert.deepEqual([...tensors.get("c.full")!.data], [1.25]);
});

Deno.test("skip: an I64 buffer (transformers' position_ids) is left out, its layout still checked", () => {
  const ids = new BigInt64Array([0n, 1n, 2n]);
  const w = Float32Array.of(1.5, -2);
  const data = new Uint8Array(24 + 8);
  data.set(new Uint8Array(ids.buffer), 0);
  data.set(bytesOf(w), 24);
  const header = {
    "text_model.embeddings.position_ids": { dtype: "I64", shape: [1, 3], data_offsets: [0, 24] },
    "w": { dtype: "F32", shape: [2], data_offsets: [24, 32] },
  };
  const skip = (n: string) => n.endsWith("position_ids");
  assert.throws(() => parseSafetensors(craft(header, data), "te.safetensors"), /dtype I64 is not supported/);
  const { tensors } = parseSafetensors(craft(header, data), "te.safetensors", { skip });
  assert.deepEqual([...tensors.keys()], ["w"]);
  assert.deepEqual([...tensors.get("w")!.data], [1.5, -2]);
  const bad = {
    ...header,
    "text_model.embeddings.position_ids": { dtype: "I64", shape: [1, 2], data_offsets: [0, 24] },
  };
  assert.throws(
    () => parseSafetensors(craft(bad, data), "te.safetensors", { skip }),
    /te.safetensors: tensor "text_model.embeddings.position_ids": shape \[1,2\] x I64 needs 16 bytes/,
  );
});

Deno.test("metadata round trips; non-string metadata values are refused on write", () => {
  const meta = { format: "pt", config: JSON.stringify({ lr: 1e-4, name: "ünï" }), empty: "" };
  const t = [{ name: "w", shape: [2], data: Float32Array.of(1, 2) }];
  const enc = encodeSafetensors(t, { dtype: "F16", metadata: meta });
  assert.deepEqual(parseSafetensors(enc, "m.st").metadata, meta);
  const bad = { format: "pt", step: 3 } as unknown as Record<string, string>;
  assert.throws(() => encodeSafetensors(t, { metadata: bad }, "out/w.safetensors"), (e: Error) => {
    assert.match(e.message, /^out\/w\.safetensors: metadata: "step": expected a string, got 3$/);
    return true;
  });
});

const F32_2 = bytesOf(Float32Array.of(1, 2));
const ok = (offs: number[], dtype = "F32", shape: unknown = [1]) => ({ dtype, shape, data_offsets: offs });

// Each case: the file bytes and the fragments its error message must contain (besides the file name).
const malformed: [string, Uint8Array, string[]][] = [
  ["shorter than 8 bytes", new Uint8Array(5), ["5 bytes, shorter than the 8-byte header length"]],
  ["header length past EOF", craft({}, new Uint8Array(), 500n), [
    "header length 500 runs past the end of the file",
  ]],
  ["absurd header length", craft({}, new Uint8Array(), 1n << 62n), ["absurdly large"]],
  ["malformed JSON", craft('{"w": {"dtype": "F32",'), ["header is malformed JSON"]],
  ["invalid UTF-8", craft("{}").map((b, i) => (i === 9 ? 0xff : b)), ["not valid UTF-8"]],
  ["header not an object", craft([1, 2]), ["header must be a JSON object, got [1,2]"]],
  ["entry not an object", craft({ w: 3 }), ['tensor "w"', "expected an object"]],
  ["missing dtype", craft({ w: { shape: [1], data_offsets: [0, 4] } }, F32_2.slice(0, 4)), [
    'tensor "w"',
    'missing field "dtype"',
  ]],
  ["missing data_offsets", craft({ w: { dtype: "F32", shape: [1] } }), ['tensor "w"', '"data_offsets"']],
  ["unexpected field", craft({ w: { ...ok([0, 4]), data_offset: 1 } }, F32_2.slice(0, 4)), [
    'tensor "w"',
    'unexpected field "data_offset"',
  ]],
  ["dtype not a string", craft({ w: ok([0, 4], 7 as unknown as string) }), [
    'tensor "w"',
    "dtype: expected a string",
  ]],
  ["unsupported dtype", craft({ "w.ids": ok([0, 8], "I64") }, F32_2), [
    'tensor "w.ids"',
    "I64 is not supported",
  ]],
  ["unknown dtype", craft({ w: ok([0, 4], "F33") }, F32_2.slice(0, 4)), [
    'tensor "w"',
    'unknown dtype "F33"',
  ]],
  ["shape not an array", craft({ w: ok([0, 4], "F32", "1x1") }), [
    'tensor "w"',
    "shape: expected an array",
    '"1x1"',
  ]],
  ["negative dim", craft({ w: ok([0, 4], "F32", [2, -1]) }), ['tensor "w"', "shape[1]", "got -1 in [2,-1]"]],
  ["non-integer dim", craft({ w: ok([0, 4], "F32", [1.5]) }), ['tensor "w"', "shape[0]", "got 1.5"]],
  ["offsets not a pair", craft({ w: ok([0]) }), [
    'tensor "w"',
    "data_offsets: expected [begin, end], got [0]",
  ]],
  ["negative offset", craft({ w: ok([-4, 4]) }), ['tensor "w"', "non-negative integers, got [-4,4]"]],
  ["offsets out of range", craft({ w: ok([0, 12], "F32", [3]) }, F32_2), [
    'tensor "w"',
    "[0, 12] past the end of the data buffer (8 bytes)",
  ]],
  ["begin > end", craft({ w: ok([8, 4]) }, F32_2), ['tensor "w"', "begin 8 > end 4"]],
  ["size mismatch", craft({ w: ok([0, 8], "F32", [3]) }, F32_2), [
    'tensor "w"',
    "shape [3] x F32 needs 12 bytes, data_offsets [0, 8] hold 8",
  ]],
  ["overlap", craft({ a: ok([0, 8], "F32", [2]), b: ok([4, 8]) }, F32_2), [
    'tensor "b"',
    'overlap tensor "a" [0, 8]',
  ]],
  ["hole", craft({ a: ok([0, 4]), b: ok([8, 12]) }, new Uint8Array(12)), [
    'tensor "b"',
    'hole of 4 bytes [4, 8) after tensor "a"',
  ]],
  ["trailing bytes", craft({ a: ok([0, 4]) }, F32_2), ['4 trailing bytes [4, 8) after tensor "a"']],
  [
    "duplicate name",
    craft('{"w":' + JSON.stringify(ok([0, 4])) + ',"w":' + JSON.stringify(ok([4, 8])) + "}", F32_2),
    [
      'tensor "w": duplicate name',
    ],
  ],
  [
    "duplicate field",
    craft('{"w":{"dtype":"F16","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', F32_2.slice(0, 4)),
    [
      'tensor "w": duplicate key "dtype"',
    ],
  ],
  ["metadata not a map", craft({ __metadata__: ["pt"] }), ["__metadata__: expected an object of strings"]],
  ["metadata value not a string", craft({ __metadata__: { step: 3 } }), [
    '__metadata__: "step": expected a string, got 3',
  ]],
];

Deno.test(`malformed files (${malformed.length} cases) are refused, naming the file and the tensor/field`, async () => {
  const dir = await tmpDir();
  const path = join(dir, "bad.safetensors");
  for (const [label, bytes, fragments] of malformed) {
    await Deno.writeFile(path, bytes);
    await assert.rejects(readSafetensors(host, path), (e: Error) => {
      assert.ok(e.message.startsWith(`${path}: `), `${label}: ${e.message}`);
      for (const f of fragments) assert.ok(e.message.includes(f), `${label}: "${f}" not in: ${e.message}`);
      return true;
    }, label);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a failed write keeps the previous file and leaves no partial or temp file", async () => {
  const dir = await tmpDir();
  const path = join(dir, "w.safetensors");
  const good = [{ name: "w", shape: [2], data: Float32Array.of(1, 2) }];
  await writeSafetensors(host, path, good);
  const before = await Deno.readFile(path);
  const cases: [string, () => Promise<void>, string][] = [
    [
      "size",
      () => writeSafetensors(host, path, [{ name: "w", shape: [3], data: Float32Array.of(1, 2) }]),
      "has 3 elements",
    ],
    ["dup", () => writeSafetensors(host, path, [good[0], good[0]]), 'tensor "w": duplicate tensor name'],
    [
      "dim",
      () => writeSafetensors(host, path, [{ name: "w", shape: [-2], data: new Float32Array(0) }]),
      "shape[0]",
    ],
    [
      "f16 overflow",
      () =>
        writeSafetensors(host, path, [{ name: "big", shape: [2], data: Float32Array.of(1, 1e6) }], {
          dtype: "F16",
        }),
      'tensor "big": value 1000000 at index 1 overflows F16',
    ],
  ]; // deno-fmt-ignore
  for (const [label, run, fragment] of cases) {
    await assert.rejects(run(), (e: Error) => {
      assert.ok(e.message.startsWith(path) && e.message.includes(fragment), `${label}: ${e.message}`);
      return true;
    });
    assert.deepEqual(await Deno.readFile(path), before, label);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["w.safetensors"], label);
  }
  // A failure at the rename itself (the target is a non-empty folder) must remove the temp file.
  const blocked = join(dir, "blocked.safetensors");
  await Deno.mkdir(blocked);
  await Deno.writeFile(join(blocked, "x"), new Uint8Array(1));
  await assert.rejects(
    writeSafetensors(host, blocked, good),
    (e: Error) => e.message.startsWith(`${blocked}: write failed`),
  );
  await assert.rejects(
    writeFileAtomic(host, join(dir, "no", "such", "dir.txt"), "x"),
    /no\/such\/dir\.txt: write failed/,
  );
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(names, ["blocked.safetensors", "w.safetensors"]);
  await Deno.remove(dir, { recursive: true });
});
