// A buffer pool: storage buffers are recycled by size class instead of created and destroyed per op.
// Safe because every GPU command is encoded in order; uploads flush pending work first (context.ts).

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** Rounds a byte size up to a size class: multiples of 1/8 of the enclosing power of two (>= 256 B). */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  const pow = 2 ** Math.ceil(Math.log2(b));
  const step = Math.max(256, pow / 8);
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Bytes currently handed out and bytes parked in the pool. */
  inUse = 0;
  parked = 0;
  created = 0;
  reused = 0;

  constructor(private device: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.parked -= size;
      this.reused++;
    } else {
      buf = this.device.createBuffer({ size, usage: USAGE });
      this.created++;
    }
    this.inUse += size;
    return buf;
  }

  release(buf: GPUBuffer) {
    const size = buf.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, list = []);
    list.push(buf);
    this.inUse -= size;
    this.parked += size;
  }

  /** Destroys every parked buffer (e.g. after a phase that used a lot of memory). */
  trim() {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.parked = 0;
  }
}
