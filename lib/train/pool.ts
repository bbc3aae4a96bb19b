// The checkpoint pool of SEPPO.md: theta_0 plus a snapshot of the policy every `interval`
// optimizer updates, at most `size` entries (beyond that the oldest entry other than theta_0 is
// dropped, a *choice*). Snapshots live on the GPU while they fit in `gpuBudgetBytes`, else on disk
// (safetensors) and are loaded on demand. Reference selection is a pure, seeded function.
import type { GpuContext } from "../gpu/context.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { encodeSafetensors, readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { empty, readAll, type Tensor } from "../tensor/tensor.ts";

export type Weights = Map<string, Tensor>;
export type RefStrategy = "initial" | "latest" | "uniform";

export interface PoolOptions {
  size: number;
  interval: number;
  gpuBudgetBytes?: number;
  /** Where entries spill to (and where `save` writes); required once the GPU budget is exceeded. */
  dir?: string;
}

export interface PoolEntry {
  id: number;
  /** Optimizer update at which this snapshot was taken (0 for theta_0). */
  update: number;
  weights: Weights | null;
  file: string | null;
}

const mix = (x: number) => {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
};

/**
 * Which pool entry serves as reference model at optimizer update `update`: a pure function of
 * (strategy, pool length, seed, update), so runs and resumes are reproducible.
 */
export function selectReference(
  strategy: RefStrategy,
  poolLength: number,
  seed: number,
  update: number,
): number {
  if (poolLength < 1) throw new Error("selectReference: empty pool");
  if (strategy === "initial") return 0;
  if (strategy === "latest") return poolLength - 1;
  return mix(mix(seed >>> 0) ^ mix(update + 0x9e3779b9)) % poolLength;
}

function bytesOf(w: Weights): number {
  let n = 0;
  for (const t of w.values()) n += t.size * 4;
  return n;
}

/** GPU copy of a weight set into fresh persistent tensors. */
export function cloneWeights(ctx: GpuContext, w: Weights): Weights {
  const out: Weights = new Map();
  for (const [name, t] of w) {
    const c = empty(ctx, t.shape).keep();
    ctx.copyBuffer(t.buffer, 0, c.buffer, 0, t.size * 4);
    out.set(name, c);
  }
  return out;
}

/** GPU copy of `src` into the same-named tensors of `dst` (shapes must match). */
export function copyWeights(ctx: GpuContext, src: Weights, dst: Weights) {
  for (const [name, t] of dst) {
    const s = src.get(name);
    if (!s || s.size !== t.size) {
      throw new Error(`copyWeights: ${name} missing or of another size in the source`);
    }
    ctx.copyBuffer(s.buffer, 0, t.buffer, 0, t.size * 4);
  }
}

/** Named host copies of a weight set (one GPU sync). */
async function weightList(ctx: GpuContext, w: Weights) {
  const entries = [...w];
  const data = await readAll(ctx, entries.map(([, t]) => t));
  return entries.map(([name, t], i) => ({ name, shape: [...t.shape], data: data[i] }));
}

function freeWeights(w: Weights) {
  for (const t of w.values()) {
    t.persistent = false;
    t.dispose();
  }
}

export class CheckpointPool {
  entries: PoolEntry[] = [];
  private nextId = 0;

  constructor(private ctx: GpuContext, readonly opts: PoolOptions) {
    if (!(opts.size >= 1) || !Number.isInteger(opts.size)) {
      throw new Error(`pool.size: expected an integer >= 1, got ${opts.size}`);
    }
    if (!(opts.interval >= 1) || !Number.isInteger(opts.interval)) {
      throw new Error(`pool.interval: expected an integer >= 1, got ${opts.interval}`);
    }
  }

  get length(): number {
    return this.entries.length;
  }

  /** Adds a snapshot of `w` taken at optimizer update `update`, evicting per SEPPO.md. */
  async add(update: number, w: Weights): Promise<PoolEntry> {
    const entry: PoolEntry = { id: this.nextId++, update, weights: cloneWeights(this.ctx, w), file: null };
    this.entries.push(entry);
    if (this.entries.length > this.opts.size) {
      // Drop the oldest entry other than theta_0 (index 0); with size 1 theta_0 itself is replaced.
      const victim = this.entries.splice(this.opts.size === 1 ? 0 : 1, 1)[0];
      if (victim.weights) freeWeights(victim.weights);
      if (victim.file) await this.ctx.host.fs.remove(victim.file).catch(() => {});
    }
    await this.enforceBudget();
    return entry;
  }

  /** Snapshots when `update` is a multiple of the interval. */
  async maybeSnapshot(update: number, w: Weights): Promise<boolean> {
    if (update <= 0 || update % this.opts.interval !== 0) return false;
    await this.add(update, w);
    return true;
  }

  /** Copies entry `index` into `dst` (a model's weights), loading it from disk when spilled. */
  async loadInto(index: number, dst: Weights): Promise<void> {
    const e = this.entries[index];
    if (!e) throw new Error(`pool: no entry ${index} (pool has ${this.entries.length})`);
    if (e.weights) return copyWeights(this.ctx, e.weights, dst);
    const { tensors } = await readSafetensors(this.ctx.host, e.file!);
    for (const [name, t] of dst) {
      const s = tensors.get(name);
      if (!s || s.data.length !== t.size) {
        throw new Error(`pool: ${e.file}: tensor ${name} missing or of another size`);
      }
      this.ctx.write(t.buffer, s.data);
    }
  }

  /** Spills the newest GPU entries (never theta_0) to disk while over the GPU budget. */
  private async enforceBudget() {
    const budget = this.opts.gpuBudgetBytes ?? Infinity;
    let used = this.entries.reduce((a, e) => a + (e.weights ? bytesOf(e.weights) : 0), 0);
    for (let i = this.entries.length - 1; i >= 1 && used > budget; i--) {
      const e = this.entries[i];
      if (!e.weights) continue;
      if (!this.opts.dir) {
        throw new Error("pool: over its GPU budget and no directory to spill to (pool.dir)");
      }
      used -= bytesOf(e.weights);
      await this.writeEntry(e);
      freeWeights(e.weights);
      e.weights = null;
    }
  }

  private async writeEntry(e: PoolEntry) {
    await this.ctx.host.fs.mkdir(this.opts.dir!, { recursive: true });
    const file = `${this.opts.dir}/entry-${e.id}.safetensors`;
    const list = await weightList(this.ctx, e.weights!);
    await writeSafetensors(this.ctx.host, file, list, {
      metadata: { update: String(e.update), id: String(e.id) },
    });
    e.file = file;
  }

  /**
   * The pool as files (`<prefix>pool.json`, `<prefix>entry-<id>.safetensors`), for writing inside a
   * checkpoint folder so that weights, optimizer and pool are saved atomically together.
   */
  async files(prefix = "pool/"): Promise<Record<string, Uint8Array>> {
    const out: Record<string, Uint8Array> = {};
    for (const e of this.entries) {
      const name = `entry-${e.id}.safetensors`;
      if (e.weights) {
        const list = await weightList(this.ctx, e.weights);
        out[prefix + name] = encodeSafetensors(list, {
          metadata: { update: String(e.update), id: String(e.id) },
        });
      } else out[prefix + name] = await this.ctx.host.fs.readFile(e.file!);
    }
    out[prefix + "pool.json"] = new TextEncoder().encode(JSON.stringify({
      nextId: this.nextId,
      entries: this.entries.map((e) => ({ id: e.id, update: e.update, file: `entry-${e.id}.safetensors` })),
    }));
    return out;
  }

  /** Persists the pool into `opts.dir` (entries + pool.json) so that a resume restores it. */
  async save() {
    if (!this.opts.dir) throw new Error("pool.save: no pool directory");
    for (const e of this.entries) if (!e.file) await this.writeEntry(e);
    const live = new Set(this.entries.map((e) => `entry-${e.id}.safetensors`));
    for await (const f of this.ctx.host.fs.readDir(this.opts.dir)) {
      if (f.name.startsWith("entry-") && !live.has(f.name)) {
        await this.ctx.host.fs.remove(`${this.opts.dir}/${f.name}`);
      }
    }
    await writeJsonAtomic(this.ctx.host, `${this.opts.dir}/pool.json`, {
      nextId: this.nextId,
      entries: this.entries.map((e) => ({ id: e.id, update: e.update, file: `entry-${e.id}.safetensors` })),
    });
  }

  /** Restores a saved pool; entries come back on the GPU within the budget. */
  static async restore(
    ctx: GpuContext,
    opts: PoolOptions,
    like: Weights,
    from = opts.dir,
  ): Promise<CheckpointPool> {
    if (!from) throw new Error("pool.restore: no directory to restore from");
    const path = `${from}/pool.json`;
    let meta: { nextId: number; entries: { id: number; update: number; file: string }[] };
    try {
      meta = JSON.parse(await ctx.host.fs.readTextFile(path));
    } catch (e) {
      throw new Error(`pool: cannot read ${path}: ${(e as Error).message}`);
    }
    const pool = new CheckpointPool(ctx, opts);
    pool.nextId = meta.nextId;
    for (const m of meta.entries) {
      const file = `${from}/${m.file}`;
      const entry: PoolEntry = { id: m.id, update: m.update, weights: null, file };
      const w: Weights = new Map();
      for (const [name, t] of like) w.set(name, empty(ctx, t.shape).keep());
      pool.entries.push(entry);
      await pool.loadInto(pool.entries.length - 1, w);
      entry.weights = w;
      entry.file = null; // the source folder may be a checkpoint that gets pruned later
    }
    await pool.enforceBudget();
    return pool;
  }

  dispose() {
    for (const e of this.entries) if (e.weights) freeWeights(e.weights);
    this.entries = [];
  }
}
