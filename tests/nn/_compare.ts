// Runs a GPU module and its float64 reference on the same parameters and inputs, with the same
// random upstream gradient, and compares outputs, input gradients and every parameter gradient.
import { backward } from "../../lib/autograd/backward.ts";
import type { GpuContext } from "../../lib/gpu/context.ts";
import type { Module } from "../../lib/nn/module.ts";
import type { Nd } from "../../lib/ref/nd.ts";
import { type Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { assertClose, randNd } from "../_helpers.ts";
import { RefParams, RefTape } from "./_ref_model.ts";
import type { RV } from "../../lib/ref/unet.ts";

export interface CompareOptions {
  atol?: number;
  rtol?: number;
  /** Gradient tolerances (default 3x the forward ones). */
  gatol?: number;
  grtol?: number;
  /** Only the parameters this selects are checked (a sub-network, e.g. the VAE's encoder). */
  params?: (name: string) => boolean;
}

/** Parameters of a module read back as float64 arrays. */
export async function refValues(m: Module): Promise<Map<string, Nd>> {
  const out = new Map<string, Nd>();
  for (const [k, e] of await m.stateDict()) {
    out.set(k, { data: Float64Array.from(e.data), shape: [...e.shape] });
  }
  return out;
}

/**
 * gpuFwd gets the input tensors (requiring grad) and returns the output; refFwd gets the tape,
 * parameters and input RVs. Every parameter must be used by the reference (naming check).
 */
export async function compareModule(
  ctx: GpuContext,
  label: string,
  m: Module,
  inputs: Nd[],
  gpuFwd: (xs: Tensor[]) => Tensor,
  refFwd: (P: RefParams, xs: RV[]) => RV,
  o: CompareOptions = {},
) {
  const atol = o.atol ?? 1e-4, rtol = o.rtol ?? 1e-3;
  const gatol = o.gatol ?? 3 * atol, grtol = o.grtol ?? 3 * rtol;
  const T = new RefTape();
  const inScope = o.params ?? (() => true);
  const P = new RefParams(T, new Map([...await refValues(m)].filter(([k]) => inScope(k))));
  const xr = inputs.map((x) => T.leaf(x));
  const yr = refFwd(P, xr);
  const unused = [...P.leaves.keys()].filter((k) => !P.used.has(k));
  if (unused.length) throw new Error(`${label}: parameters the reference never used: ${unused.join(", ")}`);
  const g = randNd(yr.shape, 99);
  T.backward(yr, g);
  await ctx.scope(async () => {
    const xs = inputs.map((x) => {
      const t = tensor(ctx, Float32Array.from(x.data), x.shape);
      t.requiresGrad = true;
      return t;
    });
    const y = gpuFwd(xs);
    assertClose(await y.read(), yr.v.data, `${label} forward`, atol, rtol);
    backward(ctx, y, { grad: tensor(ctx, Float32Array.from(g.data), g.shape) });
    for (let i = 0; i < xs.length; i++) {
      assertClose(await xs[i].grad!.read(), xr[i].g!.data, `${label} d input ${i}`, gatol, grtol);
    }
    for (const [name, p] of m.parameters()) {
      if (!inScope(name)) continue;
      const want = P.leaves.get(name)!.g;
      if (!want) throw new Error(`${label}: reference has no gradient for ${name}`);
      if (!p.grad) throw new Error(`${label}: GPU has no gradient for ${name}`);
      assertClose(await p.grad.read(), want.data, `${label} d ${name}`, gatol, grtol);
    }
  });
  for (const p of m.parameters().values()) {
    if (p.grad) {
      p.grad.persistent = false;
      p.grad.dispose();
      p.grad = null;
    }
  }
}
