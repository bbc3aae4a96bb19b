// The project's one seeded PRNG: xoshiro128** (Blackman & Vigna), 128 bits of state, u32 output.
// Fast in JS because every step is 32-bit integer math (Math.imul, >>> 0), and good enough for data,
// init, noise and sampling. Seeding and fork() go through a murmur3-style mixer so that nearby seeds
// and labels give unrelated streams.

/** murmur3 finaliser: a bijective avalanche on u32. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Derives a 4-word key from words, so that every input word influences every key word. */
function deriveKey(words: number[]): Uint32Array {
  const key = new Uint32Array(4);
  let h = 0x9e3779b9;
  for (let lane = 0; lane < 4; lane++) {
    h = mix32(h + lane * 0x632be5ab);
    for (const w of words) h = mix32((h ^ w) + 0x7f4a7c15);
    key[lane] = h;
  }
  // xoshiro must not start from the all-zero state.
  if ((key[0] | key[1] | key[2] | key[3]) === 0) key[0] = 1;
  return key;
}

function labelWords(label: string): number[] {
  const words = [label.length];
  for (let i = 0; i < label.length; i++) words.push(label.charCodeAt(i));
  return words;
}

export class Rng {
  /** The key this generator was created from; fork() derives from it, not from the current state. */
  readonly key: Uint32Array;
  #s: Uint32Array;

  /** seed: any integer in [0, 2^53), or a 4-word key from another Rng. */
  constructor(seed: number | Uint32Array) {
    if (typeof seed === "number") {
      if (!Number.isSafeInteger(seed) || seed < 0) {
        throw new Error(`Rng: seed must be a non-negative safe integer, got ${seed}`);
      }
      this.key = deriveKey([seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0]);
    } else {
      if (seed.length !== 4) throw new Error(`Rng: key must have 4 words, got ${seed.length}`);
      this.key = new Uint32Array(seed);
    }
    this.#s = new Uint32Array(this.key);
  }

  /** A uniform u32. */
  next(): number {
    const s = this.#s;
    const x = Math.imul(s[1], 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >>> 21);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.next() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Standard normal (Box-Muller; one of the pair is discarded so the state stays 4 words). */
  normal(): number {
    const u = (this.next() + 0.5) / 4294967296; // (0, 1): log(u) is finite
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fills out with standard normals, using both values of each Box-Muller pair. */
  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): typeof out {
    for (let i = 0; i < out.length; i += 2) {
      const u = (this.next() + 0.5) / 4294967296;
      const v = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      out[i] = mean + std * r * Math.cos(2 * Math.PI * v);
      if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v);
    }
    return out;
  }

  /** Uniform integer in [0, n), without modulo bias (rejection on the low remainder). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    let x = this.next();
    while (x >= limit) x = this.next();
    return x % n;
  }

  /** A uniformly chosen element. */
  pick<T>(arr: readonly T[]): T {
    if (arr.length === 0) throw new Error("Rng.pick: empty array");
    return arr[this.int(arr.length)];
  }

  /** Fisher-Yates shuffle in place; returns arr. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /**
   * An independent generator named by label. It depends only on this generator's key and the label,
   * not on how many numbers were drawn, so `rng.fork("item:12")` is the same wherever it is called
   * (which is what makes concurrent rendering deterministic). fork(12) and fork("12") are the same.
   */
  fork(label: string | number): Rng {
    return new Rng(deriveKey([...this.key, ...labelWords(String(label))]));
  }

  /** A u32 seed for tools that want a plain number (stored beside eval prompts, for example). */
  seed32(): number {
    return this.next();
  }
}
