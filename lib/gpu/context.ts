// The one explicit context: device, kernels and pipelines, buffer pool, command encoding, tape and
// tensor scopes, and the host it runs on (files, images, kernel sources: lib/host/host.ts). Every op
// takes it as its first argument; there is no module-level device.
import { BufferPool } from "./pool.ts";
import { type CompiledModule, compileModule, type KernelFile, pipelineKey } from "./kernel.ts";
import { GpuError, NoAdapterError } from "./errors.ts";
import { Profiler } from "./profiler.ts";
import { type BackendChoice, backendLabel } from "./backend.ts";
import type { Host } from "../host/host.ts";
import { Tape } from "../autograd/tape.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** Largest workgroup count per dimension WebGPU guarantees; bigger dispatches fold into y. */
export const MAX_GROUPS = 65535;
const UNIFORM_SLOT = 256;
const UNIFORM_CHUNK = 64 * 1024;

export interface ContextOptions {
  powerPreference?: GPUPowerPreference;
  /** Bracket every dispatch with GPU timestamps (bench only; needs "timestamp-query"). */
  profile?: boolean;
}

/** A storage binding: a tensor (its storage buffer) or a raw buffer. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; window?: { offset: number; size: number } };

export interface Dispatch {
  /** Storage buffers for @binding(1), @binding(2), ...; `null` skips a binding number. */
  buffers: (Binding | null)[];
  /** Uniform params: u32 words (use `f32bits` for floats), bound at @binding(paramsBinding ?? 0). */
  params?: ArrayLike<number>;
  paramsBinding?: number;
  /** Workgroup counts [x, y, z]. */
  groups: [number, number, number];
  overrides?: Record<string, number>;
  /** Extra detail for the profiler (e.g. a shape), appended to "file#entry". */
  label?: string;
  /** Multiply-adds x 2 this dispatch does (GEMM-like kernels), counted in stats.flops for the bench. */
  flops?: number;
}

const f32word = new Float32Array(1);
const u32word = new Uint32Array(f32word.buffer);
/** The bit pattern of an f32, to place floats among u32 uniform words. */
export function f32bits(x: number): number {
  f32word[0] = x;
  return u32word[0];
}

/** Splits `n` workgroups into [x, y, 1] with x <= 65535; kernels rebuild the linear id from both. */
export function groups1d(n: number): [number, number, number] {
  if (n <= MAX_GROUPS) return [Math.max(1, n), 1, 1];
  const y = Math.ceil(n / MAX_GROUPS);
  if (y > MAX_GROUPS) throw new Error(`dispatch of ${n} workgroups exceeds ${MAX_GROUPS}^2`);
  return [Math.ceil(n / y), y, 1];
}

interface UniformChunk {
  buffer: GPUBuffer;
  shadow: Uint32Array<ArrayBuffer>;
}

export class GpuContext {
  readonly pool: BufferPool;
  readonly tape: Tape = new Tape();
  readonly limits: GPUSupportedLimits;
  profiler: Profiler | null = null;
  /**
   * Packed layouts of persistent weights (conv2d's and gemm's uniform windows), kept while weights are
   * frozen (`withFrozenWeights`: a sampling loop); null otherwise, and then every call packs anew.
   */
  packCache: Map<Tensor, Map<string, Tensor>> | null = null;

  private modules = new Map<string, CompiledModule>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private chunks: UniformChunk[] = [];
  private chunkIndex = 0;
  private chunkOffset = 0;
  private kernelsInFlight: string[] = [];
  private pendingErrors: Promise<string | null>[] = [];
  private errors: Error[] = [];
  private lost: string | null = null;
  private gradOff = 0;
  private scopes: Set<Tensor>[] = [];
  /** Counts for tests and the bench (flops: what dispatches declared, see Dispatch.flops). */
  stats = { dispatches: 0, submits: 0, syncs: 0, flops: 0 };

  private constructor(
    /** Files, images, the process: what lib/ needs from Deno or a page. */
    readonly host: Host,
    readonly device: GPUDevice,
    readonly adapterInfo: GPUAdapterInfo,
    readonly features: ReadonlySet<string>,
    readonly backend: BackendChoice,
  ) {
    this.pool = new BufferPool(device);
    this.limits = device.limits;
    device.lost.then((info) => {
      this.lost = `${info.reason}: ${info.message}`;
    });
    device.addEventListener("uncapturederror", (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.errors.push(new GpuError("uncaptured", err.message, this.kernelsInFlight));
    });
  }

  /** Acquires an adapter and a device with the largest limits the adapter offers, on `host`. */
  static async create(host: Host, opts: ContextOptions = {}): Promise<GpuContext> {
    if (!("gpu" in navigator)) throw new NoAdapterError();
    const backend = host.chooseBackend();
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: opts.powerPreference });
    if (!adapter) throw new NoAdapterError(backend);
    const requiredLimits: Record<string, number> = {};
    for (const k of LIMIT_KEYS) {
      const v = (adapter.limits as unknown as Record<string, number>)[k];
      if (typeof v === "number") requiredLimits[k] = v;
    }
    const want: GPUFeatureName[] = [];
    if (adapter.features.has("timestamp-query")) want.push("timestamp-query");
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: want });
    const ctx = new GpuContext(host, device, adapter.info, new Set(device.features), backend);
    if (opts.profile && ctx.features.has("timestamp-query")) ctx.profiler = new Profiler(device);
    return ctx;
  }

  get adapterName(): string {
    const i = this.adapterInfo;
    return [i.description, i.vendor, i.architecture].filter((s) => s).join(" / ") || "unknown adapter";
  }

  /** Backend and adapter, e.g. "Vulkan / llvmpipe (lavapipe) (LLVM 15.0.6, 256 bits) / 65541, software". */
  get label(): string {
    return backendLabel(this.backend, this.adapterName, this.isSoftware);
  }

  get isSoftware(): boolean {
    return this.adapterInfo.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(this.adapterName);
  }

  // ---- kernels -------------------------------------------------------------------------------

  pipeline(kernel: KernelFile, entry: string, overrides?: Record<string, number>): GPUComputePipeline {
    const key = pipelineKey(kernel, entry, overrides);
    let p = this.pipelines.get(key);
    if (p) return p;
    let mod = this.modules.get(kernel.file);
    if (!mod) {
      this.device.pushErrorScope("validation");
      mod = compileModule(this.device, kernel, this.host.kernelSource(kernel));
      this.modules.set(kernel.file, mod);
      const check = mod.check;
      // The scope keeps the raw error from going "uncaptured"; the formatted message wins.
      this.pendingErrors.push(
        this.device.popErrorScope().then(async (e) => (await check) ?? e?.message ?? null),
      );
    }
    this.device.pushErrorScope("validation");
    p = this.device.createComputePipeline({
      label: key,
      layout: "auto",
      compute: { module: mod.module, entryPoint: entry, constants: overrides },
    });
    const check = mod.check;
    this.pendingErrors.push(
      this.device.popErrorScope().then(async (e) => {
        if (!e || (await check)) return null; // a compile error is reported once, by the module
        return `${key}: ${e.message}`;
      }),
    );
    this.pipelines.set(key, p);
    return p;
  }

  /**
   * Refuses a dispatch that binds one buffer twice where either binding is writable: WebGPU forbids it
   * (browsers reject the bind group; wgpu under Deno accepts it, and the kernel's result then depends on
   * the order its threads run in).
   */
  private checkAliasing(kernel: KernelFile, entry: string, entries: GPUBindGroupEntry[]) {
    const writable = this.modules.get(kernel.file)!.writable;
    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) {
        const a = entries[i], b = entries[j];
        if (!(writable.has(a.binding) || writable.has(b.binding))) continue;
        const ba = (a.resource as GPUBufferBinding).buffer, bb = (b.resource as GPUBufferBinding).buffer;
        if (ba && ba === bb) {
          throw new Error(
            `${kernel.file}#${entry}: bindings ${a.binding} and ${b.binding} are the same buffer and one is ` +
              "writable (WebGPU forbids writable aliasing)",
          );
        }
      }
    }
  }

  /** Encodes one compute dispatch into the pending command buffer (no submission). */
  run(kernel: KernelFile, entry: string, d: Dispatch) {
    if (this.lost) throw new GpuError("device lost", this.lost, this.kernelsInFlight);
    const [gx, gy, gz] = d.groups;
    if (gx > MAX_GROUPS || gy > MAX_GROUPS || gz > MAX_GROUPS) {
      throw new Error(`${kernel.file}#${entry}: dispatch [${d.groups}] exceeds ${MAX_GROUPS} per dimension`);
    }
    if (gx === 0 || gy === 0 || gz === 0) return;
    this.encoderNow(); // opens the error scopes before anything below can fail
    const pipeline = this.pipeline(kernel, entry, d.overrides);
    const entries: GPUBindGroupEntry[] = [];
    if (d.params) entries.push({ binding: d.paramsBinding ?? 0, resource: this.uniform(d.params) });
    d.buffers.forEach((b, i) => {
      if (!b) return;
      const resource = "buffer" in b ? { buffer: b.buffer, ...b.window } : { buffer: b };
      entries.push({ binding: i + 1, resource });
    });
    this.checkAliasing(kernel, entry, entries);
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const label = `${kernel.file.slice(8)}#${entry}${d.label ? ` ${d.label}` : ""}`;
    let pass = this.pass;
    if (this.profiler) {
      this.endPass();
      pass = this.encoderNow().beginComputePass({ timestampWrites: this.profiler.next(label) });
      this.pass = pass;
    } else if (!pass) {
      pass = this.pass = this.encoderNow().beginComputePass();
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(gx, gy, gz);
    if (this.profiler) this.endPass();
    this.kernelsInFlight.push(label);
    this.stats.dispatches++;
    this.stats.flops += d.flops ?? 0;
  }

  /** Encodes a buffer-to-buffer copy (ordered with the dispatches around it). */
  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number) {
    this.endPass();
    this.encoderNow().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Writes host data into a buffer, after all work encoded so far (flushes first to keep order). */
  write(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0) {
    this.flush();
    this.device.queue.writeBuffer(
      dst,
      dstOffset,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Submits the pending command buffer (no wait). */
  flush() {
    if (!this.encoder) return;
    this.endPass();
    if (this.profiler) this.profiler.resolve(this.encoder);
    for (let i = 0; i <= this.chunkIndex && i < this.chunks.length; i++) {
      const c = this.chunks[i];
      const words = i < this.chunkIndex ? c.shadow.length : this.chunkOffset / 4;
      if (words) this.device.queue.writeBuffer(c.buffer, 0, c.shadow, 0, words);
    }
    const cmd = this.encoder.finish();
    this.encoder = null;
    this.chunkIndex = 0;
    this.chunkOffset = 0;
    const kernels = this.kernelsInFlight;
    this.kernelsInFlight = [];
    this.device.queue.submit([cmd]);
    this.stats.submits++;
    for (const filter of ["validation", "out-of-memory"] as const) {
      this.pendingErrors.push(
        this.device.popErrorScope().then((e) => e ? new GpuError(filter, e.message, kernels).message : null),
      );
    }
  }

  /** Submits, waits for the GPU, and throws any error from compilation, validation or device loss. */
  async sync() {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.stats.syncs++;
    await this.throwErrors();
  }

  /** Throws the first pending GPU error, if any (compile errors name kernels/<file>.wgsl:line:col). */
  async throwErrors() {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    // Compile and scoped errors first: they carry file:line or the kernel names.
    const scoped = (await Promise.all(pending)).filter((m) => m !== null).map((m) => new Error(m));
    this.errors = [...scoped, ...this.errors];
    if (this.lost) this.errors.push(new GpuError("device lost", this.lost, []));
    if (this.errors.length) {
      const first = this.errors[0];
      this.errors = [];
      throw first;
    }
  }

  /** Reads `bytes` from a buffer back to the host: one submission and one wait. */
  async readBuffer(src: GPUBuffer, bytes: number, srcOffset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    return (await this.readAll([{ buffer: src, bytes: size, offset: srcOffset }], [0], size)).slice(0, bytes);
  }

  /**
   * Reads several buffers back with one submission and one wait (a host sync costs ~11 ms on the
   * software adapter, so checkpoints read all their tensors through this).
   */
  async readBuffers(list: { buffer: GPUBuffer; bytes: number }[]): Promise<ArrayBuffer[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const r of list) {
      offsets.push(total);
      total += Math.ceil(r.bytes / 4) * 4;
    }
    const all = await this.readAll(list, offsets, total);
    return list.map((r, i) => all.slice(offsets[i], offsets[i] + r.bytes));
  }

  private async readAll(
    list: { buffer: GPUBuffer; bytes: number; offset?: number }[],
    offsets: number[],
    total: number,
  ) {
    const staging = this.device.createBuffer({
      size: Math.max(total, 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    list.forEach((r, i) => {
      const size = Math.ceil(r.bytes / 4) * 4;
      if (size) this.copyBuffer(r.buffer, r.offset ?? 0, staging, offsets[i], size);
    });
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const out = staging.getMappedRange().slice(0);
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
      this.stats.syncs++;
      await this.throwErrors();
    }
  }

  // ---- autograd switches and tensor scopes -------------------------------------------------

  get gradEnabled(): boolean {
    return this.gradOff === 0;
  }

  /**
   * Runs `fn` promising that no weight changes inside it (a sampling loop: the model is called again and
   * again with the same weights), so packed weight layouts are made once and kept until it ends.
   */
  async withFrozenWeights<T>(fn: () => Promise<T>): Promise<T> {
    if (this.packCache) return await fn();
    const cache = this.packCache = new Map();
    try {
      return await fn();
    } finally {
      this.packCache = null;
      for (const packs of cache.values()) {
        for (const t of packs.values()) {
          t.persistent = false;
          t.dispose();
        }
      }
    }
  }

  /** Runs `fn` with gradient recording off. */
  noGrad<T>(fn: () => T): T {
    this.gradOff++;
    try {
      return fn();
    } finally {
      this.gradOff--;
    }
  }

  /** Registers a new tensor with the innermost scope (called by the Tensor constructor). */
  track(t: Tensor) {
    this.scopes[this.scopes.length - 1]?.add(t);
  }

  untrack(t: Tensor) {
    for (const s of this.scopes) s.delete(t);
  }

  /**
   * Runs `fn`; afterwards disposes every tensor created inside that is not persistent and not
   * part of the result (a tensor, or an array/object of tensors). Like tf.tidy.
   */
  async scope<T>(fn: () => Promise<T> | T): Promise<T> {
    const set = new Set<Tensor>();
    this.scopes.push(set);
    let result: T;
    try {
      result = await fn();
    } finally {
      this.scopes.pop();
    }
    const keep = new Set<Tensor>();
    collectTensors(result, keep);
    const outer = this.scopes[this.scopes.length - 1];
    for (const t of set) {
      if (keep.has(t) || t.persistent) {
        outer?.add(t);
        continue;
      }
      t.dispose();
    }
    return result;
  }

  private uniform(params: ArrayLike<number>): GPUBufferBinding {
    const bytes = Math.ceil(Math.max(params.length * 4, 16) / 16) * 16;
    if (bytes > UNIFORM_SLOT) throw new Error(`uniform params of ${bytes} bytes exceed ${UNIFORM_SLOT}`);
    if (this.chunkOffset + UNIFORM_SLOT > UNIFORM_CHUNK) {
      this.chunkIndex++;
      this.chunkOffset = 0;
    }
    if (this.chunkIndex >= this.chunks.length) {
      this.chunks.push({
        buffer: this.device.createBuffer({
          size: UNIFORM_CHUNK,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
        shadow: new Uint32Array(UNIFORM_CHUNK / 4),
      });
    }
    const chunk = this.chunks[this.chunkIndex];
    const off = this.chunkOffset;
    chunk.shadow.set(params, off / 4);
    this.chunkOffset += UNIFORM_SLOT;
    return { buffer: chunk.buffer, offset: off, size: bytes };
  }

  private encoderNow(): GPUCommandEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope("out-of-memory");
      this.device.pushErrorScope("validation");
      this.encoder = this.device.createCommandEncoder();
    }
    return this.encoder;
  }

  private endPass() {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  destroy() {
    this.flush();
    this.pool.trim();
    this.profiler?.destroy();
    for (const c of this.chunks) c.buffer.destroy();
    this.device.destroy();
  }
}

function collectTensors(x: unknown, out: Set<Tensor>) {
  if (!x || typeof x !== "object") return;
  if ("storage" in x && "shape" in x) {
    out.add(x as Tensor);
    return;
  }
  if (Array.isArray(x)) { for (const v of x) collectTensors(v, out); }
  else if (Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collectTensors(v, out);
  }
}

const LIMIT_KEYS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxBindingsPerBindGroup",
  "maxUniformBufferBindingSize",
];
