// Float64 references for lib/ops, one to one: forward and vector-Jacobian product (backward).
import { forEachIndex, map, type Nd, nd, ndZeros, strides } from "./nd.ts";

// ---- unary -------------------------------------------------------------------------------------

/** erf to ~1e-14: Maclaurin series for |x| < 3, continued fraction for erfc beyond. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a, sum = a;
    for (let n = 1; n < 80; n++) {
      term *= -a * a / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * sum * 2 / Math.sqrt(Math.PI);
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (a + f);
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f);
  return Math.sign(x) * (1 - erfc);
}

const sig = (v: number) => 1 / (1 + Math.exp(-v));

export const UNARY_REF: Record<string, { f: (v: number) => number; df: (v: number) => number }> = {
  silu: { f: (v) => v * sig(v), df: (v) => sig(v) * (1 + v * (1 - sig(v))) },
  gelu: {
    f: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
    df: (v) => 0.5 * (1 + erf(v / Math.SQRT2)) + v * Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI),
  },
  exp: { f: Math.exp, df: Math.exp },
  log: { f: Math.log, df: (v) => 1 / v },
  sqrt: { f: Math.sqrt, df: (v) => 0.5 / Math.sqrt(v) },
  tanh: { f: Math.tanh, df: (v) => 1 - Math.tanh(v) ** 2 },
  sigmoid: { f: sig, df: (v) => sig(v) * (1 - sig(v)) },
  relu: { f: (v) => Math.max(v, 0), df: (v) => (v > 0 ? 1 : 0) },
  square: { f: (v) => v * v, df: (v) => 2 * v },
  quick_gelu: {
    f: (v) => v * sig(1.702 * v),
    df: (v) => sig(1.702 * v) * (1 + 1.702 * v * (1 - sig(1.702 * v))),
  },
};

export function unaryRef(op: string, x: Nd): Nd {
  return map(x, UNARY_REF[op].f);
}

export function unaryRefBackward(op: string, x: Nd, gy: Nd): Nd {
  return map(x, (v, i) => gy.data[i] * UNARY_REF[op].df(v));
}

// ---- broadcasting binary ----------------------------------------------------------------------

export function broadcastShape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, k) => {
    const da = a[a.length - r + k] ?? 1, db = b[b.length - r + k] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`no broadcast [${a}] [${b}]`);
    return Math.max(da, db);
  });
}

function bIndex(shape: number[], target: number[], idx: number[]): number {
  const off = target.length - shape.length;
  const st = strides(shape);
  let i = 0;
  for (let k = 0; k < shape.length; k++) if (shape[k] !== 1) i += idx[k + off] * st[k];
  return i;
}

const BIN: Record<string, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
};

export function binaryRef(op: string, a: Nd, b: Nd): Nd {
  const shape = broadcastShape(a.shape, b.shape);
  const out = ndZeros(shape);
  forEachIndex(shape, (i, idx) => {
    out.data[i] = BIN[op](a.data[bIndex(a.shape, shape, idx)], b.data[bIndex(b.shape, shape, idx)]);
  });
  return out;
}

export function binaryRefBackward(op: string, a: Nd, b: Nd, g: Nd): [Nd, Nd] {
  const ga = ndZeros(a.shape), gb = ndZeros(b.shape);
  forEachIndex(g.shape, (i, idx) => {
    const ia = bIndex(a.shape, g.shape, idx), ib = bIndex(b.shape, g.shape, idx);
    const x = a.data[ia], y = b.data[ib], gi = g.data[i];
    if (op === "add") (ga.data[ia] += gi, gb.data[ib] += gi);
    else if (op === "sub") (ga.data[ia] += gi, gb.data[ib] -= gi);
    else if (op === "mul") (ga.data[ia] += gi * y, gb.data[ib] += gi * x);
    else (ga.data[ia] += gi / y, gb.data[ib] -= gi * x / (y * y));
  });
  return [ga, gb];
}

export function scaleRef(x: Nd, alpha: number, beta = 0): Nd {
  return map(x, (v) => alpha * v + beta);
}

// ---- reductions --------------------------------------------------------------------------------

export function sumRef(x: Nd, axes: number[], keepDims = false): Nd {
  const kshape = x.shape.map((d, k) => (axes.includes(k) ? 1 : d));
  const out = ndZeros(kshape);
  const ks = strides(kshape);
  forEachIndex(x.shape, (i, idx) => {
    let o = 0;
    for (let k = 0; k < idx.length; k++) if (!axes.includes(k)) o += idx[k] * ks[k];
    out.data[o] += x.data[i];
  });
  if (!keepDims) out.shape = x.shape.filter((_, k) => !axes.includes(k));
  return out;
}

/** Backward of sum: broadcast g (reduced shape) back over the reduced axes. */
export function sumRefBackward(x: Nd, axes: number[], g: Nd): Nd {
  const kshape = x.shape.map((d, k) => (axes.includes(k) ? 1 : d));
  const ks = strides(kshape);
  const out = ndZeros(x.shape);
  forEachIndex(x.shape, (i, idx) => {
    let o = 0;
    for (let k = 0; k < idx.length; k++) if (!axes.includes(k)) o += idx[k] * ks[k];
    out.data[i] = g.data[o];
  });
  return out;
}

export function mseRowsRef(a: Nd, b: Nd): Nd {
  const B = a.shape[0], n = a.data.length / B;
  const out = ndZeros([B]);
  for (let i = 0; i < a.data.length; i++) out.data[Math.floor(i / n)] += (a.data[i] - b.data[i]) ** 2 / n;
  return out;
}

export function mseRowsRefBackward(a: Nd, b: Nd, g: Nd): [Nd, Nd] {
  const B = a.shape[0], n = a.data.length / B;
  const ga = map(a, (v, i) => 2 * (v - b.data[i]) / n * g.data[Math.floor(i / n)]);
  return [ga, map(ga, (v) => -v)];
}

// ---- data movement -----------------------------------------------------------------------------

export function permuteRef(x: Nd, perm: number[]): Nd {
  const shape = perm.map((p) => x.shape[p]);
  const xs = strides(x.shape);
  const out = ndZeros(shape);
  forEachIndex(shape, (i, idx) => {
    let s = 0;
    for (let k = 0; k < perm.length; k++) s += idx[k] * xs[perm[k]];
    out.data[i] = x.data[s];
  });
  return out;
}

export function sliceRef(x: Nd, axis: number, start: number, end: number): Nd {
  const shape = x.shape.map((d, k) => (k === axis ? end - start : d));
  const xs = strides(x.shape);
  const out = ndZeros(shape);
  forEachIndex(shape, (i, idx) => {
    let s = 0;
    for (let k = 0; k < idx.length; k++) s += (k === axis ? idx[k] + start : idx[k]) * xs[k];
    out.data[i] = x.data[s];
  });
  return out;
}

export function concatRef(xs: Nd[], axis: number): Nd {
  const shape = xs[0].shape.map((d, k) => (k === axis ? xs.reduce((a, t) => a + t.shape[axis], 0) : d));
  const out = ndZeros(shape);
  const os = strides(shape);
  let at = 0;
  for (const t of xs) {
    forEachIndex(t.shape, (i, idx) => {
      let o = 0;
      for (let k = 0; k < idx.length; k++) o += (k === axis ? idx[k] + at : idx[k]) * os[k];
      out.data[o] = t.data[i];
    });
    at += t.shape[axis];
  }
  return out;
}

// ---- matmul ------------------------------------------------------------------------------------

/** Batched op(A) @ op(B) with batch broadcast of a batch-1 side (shapes as lib/ops/matmul). */
export function matmulRef(a: Nd, b: Nd, ta = false, tb = false): Nd {
  const ar = a.shape.at(-2)!, ac = a.shape.at(-1)!, br = b.shape.at(-2)!, bc = b.shape.at(-1)!;
  const ba = a.data.length / (ar * ac), bb = b.data.length / (br * bc);
  const M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  const batch = Math.max(ba, bb);
  const lead = (ba >= bb ? a : b).shape.slice(0, -2);
  const out = ndZeros([...lead, M, N]);
  for (let z = 0; z < batch; z++) {
    const ao = ba === 1 ? 0 : z * M * K, bo = bb === 1 ? 0 : z * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let t = 0; t < K; t++) {
          const av = ta ? a.data[ao + t * M + i] : a.data[ao + i * K + t];
          const bv = tb ? b.data[bo + j * K + t] : b.data[bo + t * N + j];
          s += av * bv;
        }
        out.data[(z * M + i) * N + j] = s;
      }
    }
  }
  return out;
}

/** VJP of matmulRef, by the definition <g, dC> = <gA, dA> + <gB, dB> (loop form, no shortcuts). */
export function matmulRefBackward(a: Nd, b: Nd, g: Nd, ta = false, tb = false): [Nd, Nd] {
  const ar = a.shape.at(-2)!, ac = a.shape.at(-1)!, br = b.shape.at(-2)!, bc = b.shape.at(-1)!;
  const ba = a.data.length / (ar * ac), bb = b.data.length / (br * bc);
  const M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  const batch = Math.max(ba, bb);
  const ga = ndZeros(a.shape), gb = ndZeros(b.shape);
  for (let z = 0; z < batch; z++) {
    const ao = ba === 1 ? 0 : z * M * K, bo = bb === 1 ? 0 : z * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const gv = g.data[(z * M + i) * N + j];
        for (let t = 0; t < K; t++) {
          const ia = ta ? ao + t * M + i : ao + i * K + t;
          const ib = tb ? bo + j * K + t : bo + t * N + j;
          ga.data[ia] += gv * b.data[ib];
          gb.data[ib] += gv * a.data[ia];
        }
      }
    }
  }
  return [ga, gb];
}

/** lib/ops/matmul.ts linear: x [R, in] @ w[out, in]^T + bias [out] + residual [R, out] (either may be null). */
export function linearRef(x: Nd, w: Nd, bias: Nd | null, residual: Nd | null): Nd {
  const O = w.shape[0], I = x.shape[1];
  const y = matmulRef(x, { data: w.data, shape: [O, I] }, false, true);
  y.data.forEach((v, i) => y.data[i] = v + (bias ? bias.data[i % O] : 0) + (residual ? residual.data[i] : 0));
  return y;
}

/** VJP of linearRef: [gx, gw, gbias (column sums), gresidual (= g)]. */
export function linearRefBackward(x: Nd, w: Nd, g: Nd): [Nd, Nd, Nd, Nd] {
  const O = w.shape[0], I = x.shape[1];
  const [gx, gw] = matmulRefBackward(x, { data: w.data, shape: [O, I] }, g, false, true);
  const gb = ndZeros([O]);
  g.data.forEach((v, i) => gb.data[i % O] += v);
  return [gx, { data: gw.data, shape: [...w.shape] }, gb, {
    data: Float64Array.from(g.data),
    shape: [...g.shape],
  }];
}

// ---- optimizer ---------------------------------------------------------------------------------

export interface AdamWRefState {
  m: Float64Array;
  v: Float64Array;
  step: number;
}

/** One AdamW step on a list of parameters with global-norm clipping (mirrors lib/train/adamw.ts). */
export function adamwRef(
  params: Float64Array[],
  grads: Float64Array[],
  state: AdamWRefState[],
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number },
): number {
  let total = 0;
  for (const g of grads) for (const x of g) total += x * x;
  const norm = Math.sqrt(total);
  const coef = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (norm + 1e-6)) : 1;
  params.forEach((p, k) => {
    const s = state[k];
    s.step++;
    const bc1 = 1 - o.beta1 ** s.step, bc2 = 1 - o.beta2 ** s.step;
    for (let i = 0; i < p.length; i++) {
      const g = grads[k][i] * coef;
      s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * g;
      s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * g * g;
      p[i] = p[i] * (1 - o.lr * o.weightDecay) - o.lr * (s.m[i] / bc1) / (Math.sqrt(s.v[i] / bc2) + o.eps);
    }
  });
  return norm;
}

export { nd };
