// Module base: parameters with dotted diffusers-style names ("down_blocks.0.resnets.0.conv1.weight"),
// seeded deterministic init, state-dict load/save. A module learns its full name at construction
// (through `Init.prefix`), so every parameter's init stream is Rng(seed).fork(fullName): the values do
// not depend on construction order or on which other modules exist.
import type { GpuContext } from "../gpu/context.ts";
import { numel, parameter, readAll, type Shape, shapeStr, type Tensor } from "../tensor/tensor.ts";
import { Rng } from "../util/rng.ts";

/** Where a module sits: context, init seed and its dotted name prefix ("" at the root). */
export interface Init {
  ctx: GpuContext;
  seed: number;
  prefix: string;
}

export function rootInit(ctx: GpuContext, seed = 0, prefix = ""): Init {
  return { ctx, seed, prefix };
}

/** The Init of a child named `name` (a string, or an index in a list such as resnets.0). */
export function at(init: Init, name: string | number): Init {
  return { ...init, prefix: init.prefix ? `${init.prefix}.${name}` : String(name) };
}

/** Host-side tensor data, as read from / written to safetensors. */
export interface StateEntry {
  shape: readonly number[];
  data: Float32Array;
}

/**
 * How a parameter starts. "uniform": U(-bound, bound), PyTorch's kaiming_uniform(a = sqrt(5)) for
 * weights and its bias init both give bound = 1 / sqrt(fan_in). "normal": N(0, std^2).
 */
export type InitSpec =
  | { kind: "uniform"; bound: number }
  | { kind: "normal"; std: number }
  | { kind: "const"; value: number };

export const fanInUniform = (fanIn: number): InitSpec => ({ kind: "uniform", bound: 1 / Math.sqrt(fanIn) });

export class Module {
  readonly ctx: GpuContext;
  readonly prefix: string;
  private readonly own = new Map<string, Tensor>();
  private readonly subs: Module[] = [];

  constructor(protected readonly init: Init) {
    this.ctx = init.ctx;
    this.prefix = init.prefix;
  }

  /** The Init for a child of this module. */
  protected at(name: string | number): Init {
    return at(this.init, name);
  }

  /** Creates and registers a parameter named `<prefix>.<local>`. */
  protected param(local: string, shape: Shape, spec: InitSpec): Tensor {
    const name = this.prefix ? `${this.prefix}.${local}` : local;
    const data = new Float32Array(numel(shape));
    if (spec.kind === "const") data.fill(spec.value);
    else {
      const rng = new Rng(this.init.seed).fork(name);
      if (spec.kind === "normal") rng.fillNormal(data, 0, spec.std);
      else for (let i = 0; i < data.length; i++) data[i] = rng.range(-spec.bound, spec.bound);
    }
    const t = parameter(this.ctx, data, shape, name);
    this.own.set(name, t);
    return t;
  }

  /** Registers a child module (its parameters already carry their full names). */
  protected sub<M extends Module>(m: M): M {
    this.subs.push(m);
    return m;
  }

  /** Every parameter, by full dotted name, in registration order. */
  parameters(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.collect(out);
    return out;
  }

  private collect(out: Map<string, Tensor>) {
    for (const [k, v] of this.own) {
      if (out.has(k)) throw new Error(`duplicate parameter name ${k}`);
      out.set(k, v);
    }
    for (const s of this.subs) s.collect(out);
  }

  /** This module and every module under it, depth first in registration order. */
  modules(): Module[] {
    return [this, ...this.subs.flatMap((m) => m.modules())];
  }

  /** Parameters as a list (for the optimizer). */
  paramList(): Tensor[] {
    return [...this.parameters().values()];
  }

  numParams(): number {
    let n = 0;
    for (const t of this.parameters().values()) n += t.size;
    return n;
  }

  /** Switches gradients on or off for every parameter (freezing a module). */
  setTrainable(on: boolean) {
    for (const t of this.parameters().values()) t.requiresGrad = on;
  }

  /**
   * Copies host tensors into the parameters (same buffers, so optimizers keep working).
   * `strict`: every parameter must be present and no extra name may appear. Shapes must match up to
   * trailing 1s (a 1x1 conv weight [O, I, 1, 1] loads into a Linear [O, I] and back), since
   * diffusers checkpoints store proj_in/proj_out either way. Throws listing every problem.
   */
  loadStateDict(
    entries: ReadonlyMap<string, StateEntry>,
    strict = true,
    /** The file the entries came from, named in the error. */
    source?: string,
  ): { missing: string[]; unexpected: string[] } {
    const params = this.parameters();
    const missing = [...params.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !params.has(k));
    const problems: string[] = [];
    for (const [name, t] of params) {
      const e = entries.get(name);
      if (!e) continue;
      if (!sameUpToTrailingOnes(e.shape, t.shape) || e.data.length !== t.size) {
        problems.push(`${name}: checkpoint ${shapeStr(e.shape)} vs model ${shapeStr(t.shape)}`);
      }
    }
    if (strict) {
      if (missing.length) problems.push(`missing: ${missing.slice(0, 8).join(", ")}${more(missing)}`);
      if (unexpected.length) {
        problems.push(`unexpected: ${unexpected.slice(0, 8).join(", ")}${more(unexpected)}`);
      }
    }
    if (problems.length) {
      throw new Error(
        `${source ? `${source}: ` : ""}loadStateDict: ${problems.length} problem(s)\n  ${
          problems.join("\n  ")
        }`,
      );
    }
    for (const [name, t] of params) {
      const e = entries.get(name);
      if (e) this.ctx.write(t.buffer, Float32Array.from(e.data));
    }
    return { missing, unexpected };
  }

  /** Reads every parameter back (one sync for all). */
  async stateDict(): Promise<Map<string, StateEntry>> {
    const params = [...this.parameters()];
    const data = await readAll(this.ctx, params.map(([, t]) => t));
    return new Map(params.map(([k, t], i) => [k, { shape: [...t.shape], data: data[i] }]));
  }

  /** Frees every parameter (and its gradient). */
  dispose() {
    for (const t of this.parameters().values()) {
      if (t.grad) {
        t.grad.persistent = false;
        t.grad.dispose();
        t.grad = null;
      }
      t.persistent = false;
      t.dispose();
    }
  }
}

function sameUpToTrailingOnes(a: readonly number[], b: readonly number[]): boolean {
  const strip = (s: readonly number[]) => {
    const r = [...s];
    while (r.length > 1 && r[r.length - 1] === 1) r.pop();
    return r;
  };
  const x = strip(a), y = strip(b);
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

function more(list: string[]): string {
  return list.length > 8 ? ` (+${list.length - 8} more)` : "";
}
