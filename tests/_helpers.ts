// Shared test helpers: one GPU context per test file, seeded host data, tolerance checks that
// print the worst elements, and float64 finite-difference checks of lib/ref backward rules.
import { GpuContext } from "../lib/gpu/context.ts";
import { denoHost } from "../lib/host/deno.ts";
import type { Host } from "../lib/host/host.ts";
import type { Nd } from "../lib/ref/nd.ts";
import { type Tensor, tensor } from "../lib/tensor/tensor.ts";

/** The Deno host the tests run on (the context's too). */
export const host: Host = denoHost();

let shared: Promise<GpuContext> | null = null;
/** One context per test process (adapter acquisition is slow on the software adapter). */
export function gpu(): Promise<GpuContext> {
  shared ??= GpuContext.create(host);
  return shared;
}

/** Deterministic host data (a tiny LCG; tests do not need lib/util/rng). */
export function seeded(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}

export function randNd(shape: number[], seed: number, lo = -1, hi = 1): Nd {
  return { data: seeded(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape: [...shape] };
}

export function upload(ctx: GpuContext, a: Nd, requiresGrad = false): Tensor {
  const t = tensor(ctx, Float32Array.from(a.data), a.shape);
  t.requiresGrad = requiresGrad;
  return t;
}

/** Worst error seen per label across the run (reported by tests that print a summary). */
export const worstErrors = new Map<string, number>();

/** Asserts |got - want| <= atol + rtol*|want| elementwise; on failure lists the worst elements. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  label: string,
  atol = 1e-5,
  rtol = 1e-4,
) {
  if (got.length !== want.length) throw new Error(`${label}: length ${got.length} != ${want.length}`);
  const bad: { i: number; g: number; w: number; e: number }[] = [];
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    const excess = e - (atol + rtol * Math.abs(want[i]));
    if (!(excess <= 0)) bad.push({ i, g: got[i], w: want[i], e });
    if (e > worst || Number.isNaN(e)) worst = Number.isNaN(e) ? Infinity : e;
  }
  worstErrors.set(label, Math.max(worstErrors.get(label) ?? 0, worst));
  // SEPPO_ERR_LOG=FILE collects the worst error of every comparison (for reports on tolerances).
  const logFile = Deno.env.get("SEPPO_ERR_LOG");
  if (logFile) {
    Deno.writeTextFileSync(logFile, JSON.stringify({ label, worst, atol, rtol }) + "\n", { append: true });
  }
  if (bad.length) {
    bad.sort((a, b) => b.e - a.e || (Number.isNaN(a.e) ? -1 : 1));
    const rows = bad.slice(0, 6).map((b) =>
      `  [${b.i}] got ${b.g} want ${b.w} (err ${b.e.toExponential(2)})`
    );
    throw new Error(
      `${label}: ${bad.length}/${got.length} elements outside atol=${atol} rtol=${rtol}\n${rows.join("\n")}`,
    );
  }
}

/**
 * Checks a float64 VJP against central finite differences along a random direction:
 * <g, (f(x + h v) - f(x - h v)) / 2h> == sum_i <vjp_i, v_i>.
 */
export function checkVjp(
  label: string,
  inputs: Nd[],
  f: (xs: Nd[]) => Nd,
  vjp: (xs: Nd[], g: Nd) => Nd[],
  seed = 7,
  h = 1e-6,
  tol = 1e-6,
) {
  const y = f(inputs);
  const g = randNd(y.shape, seed);
  const dirs = inputs.map((x, k) => randNd(x.shape, seed + 101 * (k + 1)));
  const shift = (s: number) =>
    inputs.map((x, k) => ({ shape: x.shape, data: x.data.map((v, i) => v + s * h * dirs[k].data[i]) }));
  const yp = f(shift(1)), ym = f(shift(-1));
  let fd = 0;
  for (let i = 0; i < g.data.length; i++) fd += g.data[i] * (yp.data[i] - ym.data[i]) / (2 * h);
  const grads = vjp(inputs, g);
  let an = 0;
  grads.forEach((gr, k) => gr.data.forEach((v, i) => an += v * dirs[k].data[i]));
  const err = Math.abs(fd - an) / Math.max(1, Math.abs(fd), Math.abs(an));
  if (!(err <= tol)) {
    throw new Error(`${label}: finite difference ${fd} vs VJP ${an} (rel err ${err.toExponential(2)})`);
  }
}
