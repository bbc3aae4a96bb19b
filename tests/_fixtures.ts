// The diffusers-made reference fixtures in ../shared/fixtures/ (read-only; CI has them at the same
// place): paths, their JSON and safetensors goldens, and a comparison that states its tolerance.
import { fileURLToPath } from "node:url";
import { readSafetensors, type StTensor } from "../lib/io/safetensors.ts";
import { assertClose, host } from "./_helpers.ts";

/** ../shared/fixtures/<name> relative to the repository root (this file is in tests/). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../../shared/fixtures/${name}`, import.meta.url));
}

export const TINY_SD = fixture("tiny-sd");
export const TINY_SD_MOTION = fixture("tiny-sd-motion");

export async function goldenJson<T = Record<string, unknown>>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

const cache = new Map<string, Promise<Map<string, StTensor>>>();
/** A golden safetensors file's tensors (read once per test process). */
export function goldenTensors(path: string): Promise<Map<string, StTensor>> {
  let p = cache.get(path);
  if (!p) cache.set(path, p = readSafetensors(host, path).then((r) => r.tensors));
  return p;
}

export async function golden(path: string, name: string): Promise<StTensor> {
  const t = (await goldenTensors(path)).get(name);
  if (!t) throw new Error(`${path}: no tensor ${name}`);
  return t;
}

/** Our tolerance: this many times the float32 noise floor diffusers itself shows (noise_floor.json). */
export const FLOOR_FACTOR = 10;

/** noise_floor.json's max |float32 - float64| of one golden tensor. */
export async function noiseFloor(dir: string, group: string | null, name: string): Promise<number> {
  const all = await goldenJson<Record<string, Record<string, { max_abs_diff: number }>>>(
    `${dir}/golden/noise_floor.json`,
  );
  const entry = group
    ? all[group]?.[name]
    : (all as unknown as Record<string, { max_abs_diff: number }>)[name];
  if (!entry) throw new Error(`${dir}/golden/noise_floor.json: no entry ${group ?? ""}/${name}`);
  return entry.max_abs_diff;
}

/**
 * Compares with a golden's float64 run (`<name>_f64`, or `grad_f64.` for `grad.`) within
 * FLOOR_FACTOR x the recorded float32 noise floor of that tensor (atol, rtol 0), so our float32
 * result is held to 10x the error diffusers' own float32 run has. Returns the worst error and the floor.
 */
export async function assertGolden(
  file: string,
  floor: { dir: string; group: string | null; name?: string },
  name: string,
  got: ArrayLike<number>,
): Promise<{ worst: number; floor: number }> {
  const f64 = name.startsWith("grad.") ? name.replace(/^grad\./, "grad_f64.") : `${name}_f64`;
  const tensors = await goldenTensors(file);
  const want = tensors.get(f64) ?? tensors.get(name);
  if (!want) throw new Error(`${file}: no tensor ${name}`);
  const fl = await noiseFloor(floor.dir, floor.group, floor.name ?? name);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want.data[i]));
  console.log(
    `  ${want.name}: worst |ours - golden| ${worst.toExponential(2)}, floor ${fl.toExponential(2)} ` +
      `(${(worst / fl).toFixed(2)}x; limit ${FLOOR_FACTOR}x)`,
  );
  assertClose(got, want.data, `${name} vs ${want.name}`, FLOOR_FACTOR * fl, 0);
  return { worst, floor: fl };
}
