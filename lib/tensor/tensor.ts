// Tensor: an f32 array on the GPU with a shape. Storage is reference-counted so that views
// (reshape) share a buffer; `dispose()` hands the buffer back to the pool when the last view goes.
import type { GpuContext } from "../gpu/context.ts";
import type { TapeNode } from "../autograd/tape.ts";

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

export class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
}

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  requiresGrad = false;
  /** Accumulated gradient (leaf tensors: parameters and inputs that require grad). */
  grad: Tensor | null = null;
  /** Persistent tensors (parameters, optimizer state) survive scopes and backward clean-up. */
  persistent = false;
  /** The tape node that produced this tensor, when recorded. */
  creator: TapeNode | null = null;
  name = "";
  private disposed = false;

  constructor(readonly ctx: GpuContext, readonly shape: Shape, readonly storage: Storage) {
    this.size = numel(shape);
    if (this.size * 4 > storage.bytes) {
      throw new Error(`tensor ${shapeStr(shape)} needs ${this.size * 4} bytes, storage has ${storage.bytes}`);
    }
    ctx.track(this);
  }

  get buffer(): GPUBuffer {
    if (this.disposed) throw new Error(`use of disposed tensor ${this.describe()}`);
    return this.storage.buffer;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  describe(): string {
    return `${this.name || "#" + this.id}${shapeStr(this.shape)}`;
  }

  /** Marks the tensor persistent (kept by scopes and by backward's clean-up). */
  keep(): this {
    this.persistent = true;
    this.ctx.untrack(this);
    return this;
  }

  /** A new tensor of another shape over the same storage (no copy). */
  view(shape: Shape): Tensor {
    const n = numel(shape);
    if (n !== this.size) throw new Error(`cannot view ${this.describe()} as ${shapeStr(shape)}`);
    this.storage.refs++;
    return new Tensor(this.ctx, shape, this.storage);
  }

  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    this.creator = null;
    if (this.grad && !this.grad.persistent) this.grad.dispose();
    if (--this.storage.refs === 0) this.ctx.pool.release(this.storage.buffer);
    this.ctx.untrack(this);
  }

  /** Reads the values back (one GPU sync). */
  async read(): Promise<Float32Array> {
    return new Float32Array(await this.ctx.readBuffer(this.buffer, this.size * 4));
  }

  /** Reads a scalar tensor back. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() on ${this.describe()}: not a scalar`);
    return (await this.read())[0];
  }
}

/** Reads several tensors back with one GPU sync. */
export async function readAll(ctx: GpuContext, list: Tensor[]): Promise<Float32Array[]> {
  const bufs = await ctx.readBuffers(list.map((t) => ({ buffer: t.buffer, bytes: t.size * 4 })));
  return bufs.map((b) => new Float32Array(b));
}

/** An uninitialised tensor from the pool (contents are whatever the buffer held). */
export function empty(ctx: GpuContext, shape: Shape, room = 0): Tensor {
  const bytes = Math.max(4, numel(shape) * 4);
  return new Tensor(ctx, shape, new Storage(ctx.pool.acquire(Math.max(bytes, room)), bytes));
}

/** Uploads host data as a new tensor (`room`: at least this many bytes of buffer; `what`: for errors). */
export function tensor(
  ctx: GpuContext,
  data: ArrayLike<number>,
  shape: Shape,
  room = 0,
  what = "tensor()",
): Tensor {
  if (data.length !== numel(shape)) {
    throw new Error(`${what}: ${data.length} values do not fill shape ${shapeStr(shape)}`);
  }
  const t = empty(ctx, shape, room);
  if (data.length) ctx.write(t.buffer, Float32Array.from(data));
  return t;
}

/** A tensor filled with one value. */
export function full(ctx: GpuContext, shape: Shape, value: number): Tensor {
  return tensor(ctx, new Float32Array(numel(shape)).fill(value), shape);
}

export function zeros(ctx: GpuContext, shape: Shape): Tensor {
  return full(ctx, shape, 0);
}

/**
 * A weight's buffer (a parameter of 2 or more dimensions) holds whole 64 KiB uniform windows, so a
 * Linear's forward GEMM can bind the weight in place instead of packing it (lib/ops/matmul.ts
 * gemmUniform). The floats past the weight are read only for columns that are never stored.
 */
export const WEIGHT_WINDOW_BYTES = 65536;

/** A trainable parameter: persistent, requires grad, named. */
export function parameter(ctx: GpuContext, data: ArrayLike<number>, shape: Shape, name = ""): Tensor {
  const bytes = Math.max(4, numel(shape) * 4);
  const room = shape.length >= 2 ? Math.ceil(bytes / WEIGHT_WINDOW_BYTES) * WEIGHT_WINDOW_BYTES : 0;
  const t = tensor(ctx, data, shape, room, `parameter ${name}`).keep();
  t.requiresGrad = true;
  t.name = name;
  return t;
}
