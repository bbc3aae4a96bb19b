// Float64 reference arrays: plain data + shape, no GPU types. Used by lib/ref ops and tests.

export interface Nd {
  data: Float64Array;
  shape: number[];
}

export function nd(data: ArrayLike<number>, shape: number[]): Nd {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`nd: ${data.length} values for shape [${shape}]`);
  return { data: Float64Array.from(data), shape: [...shape] };
}

export function ndZeros(shape: number[]): Nd {
  return { data: new Float64Array(shape.reduce((a, b) => a * b, 1)), shape: [...shape] };
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= shape[k];
  }
  return s;
}

/** Calls fn(linearIndex, multiIndex) for every element of `shape`. */
export function forEachIndex(shape: readonly number[], fn: (i: number, idx: number[]) => void) {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(i, idx);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

export function map(a: Nd, f: (x: number, i: number) => number): Nd {
  return { data: a.data.map(f), shape: [...a.shape] };
}

export function dot(a: Nd, b: Nd): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i] * b.data[i];
  return s;
}
