// Bounded concurrency for sharp work: enough in flight to keep libvips' threads busy, few enough that
// thousands of files are not all open at once.

/** Runs fn(i) for i in [0, n) with at most `limit` in flight; results in index order. */
export async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, n)) }, worker));
  return out;
}
