// Hugging Face safetensors: u64 little-endian header length N, N bytes of JSON header
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}), then the
// byte buffer (offsets are relative to its start). Reading is as strict as the reference Rust
// implementation (every byte of the buffer belongs to exactly one tensor) and stricter where
// JSON.parse would hide a problem (duplicate keys). Every error names the file and the tensor.
import type { Host } from "../host/host.ts";
import { writeFileAtomic } from "./atomic.ts";
import { bf16ToF32, F16_MAX, f16ToF32, f32ToF16 } from "./f16.ts";
import { findDuplicateKey } from "./json.ts";

export type StDtype = "F32" | "F16" | "BF16";

export interface StTensor {
  name: string;
  /** The dtype stored in the file; `data` is always decoded to f32. */
  dtype: StDtype;
  shape: number[];
  data: Float32Array;
}

export interface StInput {
  name: string;
  shape: number[];
  data: Float32Array;
  /** Overrides the file's dtype for this tensor (e.g. exact F32 tables in an F16 checkpoint). */
  writeAs?: "F32" | "F16";
}

export interface StWriteOptions {
  dtype?: "F32" | "F16";
  metadata?: Record<string, string>;
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const METADATA = "__metadata__";
// The reference implementation refuses headers over 100 MB; a bigger length is a corrupt file.
const MAX_HEADER = 100_000_000;
const SUPPORTED: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2 };
// Valid safetensors dtypes that this toolkit does not read, so the error can say "not supported"
// rather than "unknown".
const OTHER_DTYPES = (
  "BOOL U8 I8 I16 U16 I32 U32 I64 U64 F64 F8_E4M3 F8_E5M2 F8_E8M0 F4 F6_E2M3 F6_E3M2 C64"
).split(" ");
const ENTRY_FIELDS = ["dtype", "shape", "data_offsets"];
// Bytes per element of the other whole-byte dtypes: enough to check the layout of tensors that a
// reader skips (e.g. transformers' int64 `position_ids` buffer in SD-1.5's text encoder).
const OTHER_SIZES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  I32: 4,
  U32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
  C64: 8,
};

// The typed-array views below assume the host byte order matches the file's (little-endian).
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function q(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "..." : s;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

interface Entry {
  name: string;
  dtype: StDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Validates one header entry; `fail` prefixes the file and tensor name. `skipped`: the tensor will
 * not be decoded, so any whole-byte dtype is accepted (its layout is still checked).
 */
function checkEntry(
  name: string,
  raw: unknown,
  bufLen: number,
  fail: (m: string) => never,
  skipped = false,
): Entry {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    fail(`expected an object {dtype, shape, data_offsets}, got ${q(raw)}`);
  }
  const e = raw as Record<string, unknown>;
  for (const f of ENTRY_FIELDS) if (!(f in e)) fail(`missing field "${f}"`);
  for (const f of Object.keys(e)) if (!ENTRY_FIELDS.includes(f)) fail(`unexpected field "${f}"`);
  const { dtype, shape, data_offsets: offs } = e;
  if (typeof dtype !== "string") fail(`dtype: expected a string, got ${q(dtype)}`);
  const bytesPer = SUPPORTED[dtype as StDtype] ?? (skipped ? OTHER_SIZES[dtype] : undefined);
  if (bytesPer === undefined) {
    if (OTHER_DTYPES.includes(dtype)) fail(`dtype ${dtype} is not supported (use F32, F16 or BF16)`);
    fail(`unknown dtype ${q(dtype)} (supported: F32, F16, BF16)`);
  }
  if (!Array.isArray(shape)) fail(`shape: expected an array of integers, got ${q(shape)}`);
  shape.forEach((d, i) => {
    if (!isNonNegInt(d)) fail(`shape[${i}]: expected a non-negative integer, got ${q(d)} in ${q(shape)}`);
  });
  if (!Array.isArray(offs) || offs.length !== 2) {
    fail(`data_offsets: expected [begin, end], got ${q(offs)}`);
  }
  const [begin, end] = offs;
  if (!isNonNegInt(begin) || !isNonNegInt(end)) {
    fail(`data_offsets: expected two non-negative integers, got ${q(offs)}`);
  }
  if (begin > end) fail(`data_offsets: begin ${begin} > end ${end}`);
  if (end > bufLen) fail(`data_offsets [${begin}, ${end}] past the end of the data buffer (${bufLen} bytes)`);
  const elems = shape.reduce((a: number, b: number) => a * b, 1);
  const want = elems * bytesPer;
  if (want !== end - begin) {
    fail(
      `shape ${q(shape)} x ${dtype} needs ${want} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype: dtype as StDtype, shape: [...shape], begin, end };
}

/** Checks that the entries tile [0, bufLen) exactly: no overlaps, no holes, no trailing bytes. */
function checkCoverage(entries: Entry[], bufLen: number, source: string) {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | null = null;
  for (const e of sorted) {
    if (e.begin < pos) {
      throw new SafetensorsError(
        `${source}: tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor "${prev!.name}" ` +
          `[${prev!.begin}, ${prev!.end}]`,
      );
    }
    if (e.begin > pos) {
      const after = prev ? `after tensor "${prev.name}"` : "at the start of the data buffer";
      throw new SafetensorsError(
        `${source}: tensor "${e.name}": hole of ${e.begin - pos} bytes [${pos}, ${e.begin}) ${after}; ` +
          `the data buffer must be fully covered`,
      );
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== bufLen) {
    const after = prev ? `after tensor "${prev.name}"` : "(the header has no tensors)";
    throw new SafetensorsError(
      `${source}: ${bufLen - pos} trailing bytes [${pos}, ${bufLen}) ${after} belong to no tensor`,
    );
  }
}

function checkMetadata(raw: unknown, where: string): Record<string, string> {
  if (raw === null || raw === undefined) return {}; // the reference writer may emit null
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new SafetensorsError(`${where}: expected an object of strings, got ${q(raw)}`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") throw new SafetensorsError(`${where}: "${k}": expected a string, got ${q(v)}`);
    out[k] = v;
  }
  return out;
}

function decode(bytes: Uint8Array, e: Entry): Float32Array {
  // slice() copies into a fresh, aligned buffer: offsets in the file need not be 4-byte aligned.
  const buf = bytes.slice(e.begin, e.end).buffer;
  if (e.dtype === "F32") return new Float32Array(buf);
  const half = new Uint16Array(buf);
  return e.dtype === "F16" ? f16ToF32(half) : bf16ToF32(half);
}

export interface StReadOptions {
  /** Tensors to leave out (not decoded, any dtype; the file's layout is still checked). */
  skip?: (name: string) => boolean;
}

/** Parses a whole safetensors file held in memory; `source` names it in errors. */
export function parseSafetensors(
  bytes: Uint8Array,
  source: string,
  opts: StReadOptions = {},
): { tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  if (!LITTLE_ENDIAN) throw new SafetensorsError(`${source}: big-endian hosts are not supported`);
  const fail = (m: string): never => {
    throw new SafetensorsError(`${source}: ${m}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} is absurdly large (limit ${MAX_HEADER})`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail(`header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is malformed JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(`header must be a JSON object, got ${q(header)}`);
  }
  let dup: string[] | null;
  try {
    dup = findDuplicateKey(text);
  } catch {
    return fail(`header is nested too deeply`); // stack overflow on pathological nesting
  }
  if (dup?.length === 1) fail(`tensor ${q(dup[0])}: duplicate name in the header`);
  if (dup) fail(`tensor ${q(dup[0])}: duplicate key ${dup.slice(1).map(q).join(" > ")}`);
  const bufLen = bytes.length - 8 - n;
  const data = bytes.subarray(8 + n);
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA) metadata = checkMetadata(raw, `${source}: ${METADATA}`);
    else {
      const skip = opts.skip?.(name) ?? false;
      entries.push(checkEntry(name, raw, bufLen, (m) => fail(`tensor "${name}": ${m}`), skip));
    }
  }
  checkCoverage(entries, bufLen, source);
  const tensors = new Map<string, StTensor>();
  for (const e of entries) {
    if (opts.skip?.(e.name)) continue;
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data: decode(data, e) });
  }
  return { tensors, metadata };
}

/** Reads and validates a safetensors file; tensors come back decoded to f32. */
export async function readSafetensors(
  host: Host,
  path: string,
  opts: StReadOptions = {},
): Promise<{ tensors: Map<string, StTensor>; metadata: Record<string, string> }> {
  return parseSafetensors(await host.fs.readFile(path), path, opts);
}

/** Validates the tensors to write; `source` names the destination in errors. */
function checkInputs(tensors: StInput[], source: string): StInput[] {
  const seen = new Set<string>();
  for (const t of tensors) {
    const fail = (m: string): never => {
      throw new SafetensorsError(`${source}: tensor ${q(t.name)}: ${m}`);
    };
    if (typeof t.name !== "string" || t.name === "") fail(`name must be a non-empty string`);
    if (t.name === METADATA) fail(`"${METADATA}" is reserved for metadata`);
    if (seen.has(t.name)) fail(`duplicate tensor name`);
    seen.add(t.name);
    if (!Array.isArray(t.shape)) fail(`shape: expected an array of integers, got ${q(t.shape)}`);
    t.shape.forEach((d, i) => {
      if (!isNonNegInt(d)) fail(`shape[${i}]: expected a non-negative integer, got ${q(d)}`);
    });
    if (!(t.data instanceof Float32Array)) fail(`data must be a Float32Array`);
    const elems = t.shape.reduce((a, b) => a * b, 1);
    if (elems !== t.data.length) fail(`shape ${q(t.shape)} has ${elems} elements, data has ${t.data.length}`);
  }
  // The reference writer orders tensors by name (for a single dtype); byte order of ASCII names.
  return [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** f32 -> f16, refusing finite values that would silently become inf in the checkpoint. */
function toF16Checked(t: StInput, source: string): Uint16Array {
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    // 65520 is the first value that rounds to inf.
    if (Math.abs(v) >= F16_MAX + 16 && Number.isFinite(v)) {
      throw new SafetensorsError(`${source}: tensor "${t.name}": value ${v} at index ${i} overflows F16`);
    }
  }
  return f32ToF16(t.data);
}

/** Encodes tensors (sorted by name) as safetensors bytes; `source` names the destination in errors. */
export function encodeSafetensors(
  tensors: StInput[],
  opts: StWriteOptions = {},
  source = "<memory>",
): Uint8Array {
  const dtype = opts.dtype ?? "F32";
  if (dtype !== "F32" && dtype !== "F16") {
    throw new SafetensorsError(`${source}: cannot write dtype ${q(dtype)} (use "F32" or "F16")`);
  }
  const dtypeOf = (t: StInput) => t.writeAs ?? dtype;
  for (const t of tensors) {
    if (dtypeOf(t) !== "F32" && dtypeOf(t) !== "F16") {
      throw new SafetensorsError(`${source}: tensor ${q(t.name)}: cannot write dtype ${q(t.writeAs)}`);
    }
  }
  // As the reference writer: wider dtypes first (so every tensor stays aligned), then by name.
  const byName = checkInputs(tensors, source);
  const sorted = [
    ...byName.filter((t) => dtypeOf(t) === "F32"),
    ...byName.filter((t) => dtypeOf(t) === "F16"),
  ];
  const metadata = checkMetadata(opts.metadata, `${source}: metadata`);
  // The header is built as text, not via an object: JSON.stringify would move integer-like names
  // ("0", "12") to the front, and the order in the file must match the data order.
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) parts.push(`${q(METADATA)}:${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const t of sorted) {
    const end = offset + t.data.length * SUPPORTED[dtypeOf(t)];
    const entry = { dtype: dtypeOf(t), shape: t.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify(entry)}`);
    offset = end;
  }
  let header = new TextEncoder().encode(`{${parts.join(",")}}`);
  // Pad with spaces so the data buffer starts 8-byte aligned, as the reference writer does.
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded !== header.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(header);
    header = p;
  }
  const out = new Uint8Array(8 + header.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let pos = 8 + header.length;
  for (const t of sorted) {
    const raw = dtypeOf(t) === "F32" ? t.data : toF16Checked(t, source);
    out.set(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), pos);
    pos += raw.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically (temp name + rename): a failed write leaves no trace. */
export async function writeSafetensors(
  host: Host,
  path: string,
  tensors: StInput[],
  opts: StWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(host, path, encodeSafetensors(tensors, opts, path));
}
