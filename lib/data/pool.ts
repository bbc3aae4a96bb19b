// Bounded concurrency for sharp work: enough in flight to keep libvips' threads busy, few enough that
// thousands of files are not all open at once.

/**
 * Runs fn(i) for i in [0, n) with at most `limit` in flight; results in index order. On failure no
 * new items start, and the error of the lowest failing index is thrown: items start in index order,
 * so every lower index has run by then, and the message does not depend on timing.
 */
export async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  const errors = new Map<number, unknown>();
  let next = 0;
  const worker = async () => {
    while (next < n && errors.size === 0) {
      const i = next++;
      try {
        out[i] = await fn(i);
      } catch (e) {
        errors.set(i, e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, n)) }, worker));
  if (errors.size) throw errors.get(Math.min(...errors.keys()));
  return out;
}
