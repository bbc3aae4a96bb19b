// Timestamp profiling: when the adapter has "timestamp-query", each dispatch can be bracketed by
// GPU timestamps (compute pass timestampWrites); the bench reads them back per kernel label.

export interface KernelTiming {
  label: string;
  ms: number;
}

export class Profiler {
  private querySet: GPUQuerySet;
  private resolveBuf: GPUBuffer;
  private readBuf: GPUBuffer;
  private labels: string[] = [];
  readonly capacity: number;

  constructor(private device: GPUDevice, capacity = 2048) {
    this.capacity = capacity;
    this.querySet = device.createQuerySet({ type: "timestamp", count: capacity * 2 });
    this.resolveBuf = device.createBuffer({
      size: capacity * 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.readBuf = device.createBuffer({
      size: capacity * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Timestamp writes for the next pass, or undefined when full. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.labels.length;
    if (i >= this.capacity) return undefined;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Encodes the resolve; call before submitting the last encoder of a profiled region. */
  resolve(encoder: GPUCommandEncoder) {
    const n = this.labels.length;
    if (!n) return;
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, n * 16);
  }

  /** Reads the timings back (after the resolve was submitted) and resets. */
  async read(): Promise<KernelTiming[]> {
    const n = this.labels.length;
    if (!n) return [];
    await this.readBuf.mapAsync(GPUMapMode.READ, 0, n * 16);
    const t = new BigInt64Array(this.readBuf.getMappedRange(0, n * 16).slice(0));
    this.readBuf.unmap();
    const out = this.labels.map((label, i) => ({ label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
    this.labels = [];
    return out;
  }

  destroy() {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.readBuf.destroy();
  }
}
