// Float64 compositions of the lib/ref ops with reverse-mode differentiation: a tiny tape over Nd
// values whose op wrappers call the one-to-one references (forward and VJP). Module-level
// references (resnet block, transformer, UNet, text encoder) are built from these in tests, so
// the GPU modules' outputs and parameter gradients are checked against exact float64 math.
import { type Nd, ndZeros } from "./nd.ts";
import {
  binaryRef,
  binaryRefBackward,
  concatRef,
  matmulRef,
  matmulRefBackward,
  permuteRef,
  scaleRef,
  sliceRef,
  sumRef,
  sumRefBackward,
  unaryRef,
  unaryRefBackward,
} from "./ops.ts";
import {
  attentionRef,
  attentionRefBackward,
  type AttentionRefOptions,
  gegluRef,
  gegluRefBackward,
  groupNormRef,
  groupNormRefBackward,
  layerNormRef,
  layerNormRefBackward,
  softmaxRef,
  softmaxRefBackward,
  upsampleNearest2xRef,
  upsampleNearest2xRefBackward,
} from "./layers.ts";

/** A value on the float64 tape; `g` holds its gradient after backward(). */
export class RV {
  g: Nd | null = null;
  constructor(readonly v: Nd, readonly id: number) {}
  get shape(): number[] {
    return this.v.shape;
  }
}

type Vjp = (g: Nd) => (Nd | null)[];

export class RefTape {
  private nodes: { out: RV; ins: RV[]; vjp: Vjp }[] = [];
  private next = 0;

  /** An input or parameter. */
  leaf(v: Nd): RV {
    return new RV(v, this.next++);
  }

  op(ins: RV[], out: Nd, vjp: Vjp): RV {
    const r = new RV(out, this.next++);
    this.nodes.push({ out: r, ins, vjp });
    return r;
  }

  /** Reverse pass from `out` with upstream gradient g; fills `.g` of every value reached. */
  backward(out: RV, g: Nd) {
    out.g = g;
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (!n.out.g) continue;
      n.vjp(n.out.g).forEach((gi, k) => {
        if (!gi) return;
        const inp = n.ins[k];
        if (!inp.g) inp.g = { data: Float64Array.from(gi.data), shape: [...inp.v.shape] };
        else for (let j = 0; j < gi.data.length; j++) inp.g.data[j] += gi.data[j];
      });
    }
  }

  // ---- elementwise and shape ops ----------------------------------------------------------------

  add(a: RV, b: RV): RV {
    return this.op([a, b], binaryRef("add", a.v, b.v), (g) => binaryRefBackward("add", a.v, b.v, g));
  }

  mul(a: RV, b: RV): RV {
    return this.op([a, b], binaryRef("mul", a.v, b.v), (g) => binaryRefBackward("mul", a.v, b.v, g));
  }

  scale(x: RV, alpha: number): RV {
    return this.op([x], scaleRef(x.v, alpha), (g) => [scaleRef(g, alpha)]);
  }

  /** Sum over `axes`, keeping them as size 1 when keepDims. */
  sum(x: RV, axes: number[], keepDims = false): RV {
    return this.op([x], sumRef(x.v, axes, keepDims), (g) => [sumRefBackward(x.v, axes, g)]);
  }

  /** Softmax over the last axis (no mask). */
  softmax(x: RV): RV {
    const y = softmaxRef(x.v);
    return this.op([x], y, (g) => [softmaxRefBackward(y, g)]);
  }

  unary(op: string, x: RV): RV {
    return this.op([x], unaryRef(op, x.v), (g) => [unaryRefBackward(op, x.v, g)]);
  }

  reshape(x: RV, shape: number[]): RV {
    return this.op(
      [x],
      { data: x.v.data, shape: [...shape] },
      (g) => [{ data: g.data, shape: [...x.v.shape] }],
    );
  }

  permute(x: RV, perm: number[]): RV {
    const inv = perm.map((_, i) => perm.indexOf(i));
    return this.op([x], permuteRef(x.v, perm), (g) => [permuteRef(g, inv)]);
  }

  slice(x: RV, axis: number, start: number, end: number): RV {
    return this.op([x], sliceRef(x.v, axis, start, end), (g) => {
      const gx = ndZeros(x.v.shape);
      const parts = [];
      if (start > 0) parts.push(sliceRef(gx, axis, 0, start));
      parts.push(g);
      if (end < x.v.shape[axis]) parts.push(sliceRef(gx, axis, end, x.v.shape[axis]));
      return [concatRef(parts, axis)];
    });
  }

  concat(xs: RV[], axis: number): RV {
    const starts: number[] = [];
    let at = 0;
    for (const x of xs) (starts.push(at), at += x.v.shape[axis]);
    return this.op(
      xs,
      concatRef(xs.map((x) => x.v), axis),
      (g) => xs.map((x, i) => sliceRef(g, axis, starts[i], starts[i] + x.v.shape[axis])),
    );
  }

  // ---- layers -------------------------------------------------------------------------------------

  matmul(a: RV, b: RV, ta = false, tb = false): RV {
    return this.op([a, b], matmulRef(a.v, b.v, ta, tb), (g) => matmulRefBackward(a.v, b.v, g, ta, tb));
  }

  /** x: [..., in], w: [out, in] (trailing 1x1 dims allowed), b: [out] | null -> [..., out]. */
  linear(x: RV, w: RV, b: RV | null): RV {
    const [O, I] = w.v.shape;
    const w2 = w.v.shape.length === 2 ? w : this.reshape(w, [O, I]);
    const x2 = this.reshape(x, [x.v.data.length / I, I]);
    let y = this.matmul(x2, w2, false, true);
    if (b) y = this.add(y, b);
    return this.reshape(y, [...x.v.shape.slice(0, -1), O]);
  }

  groupNorm(x: RV, gamma: RV, beta: RV, groups: number, eps: number): RV {
    return this.op(
      [x, gamma, beta],
      groupNormRef(x.v, gamma.v, beta.v, groups, eps),
      (g) => groupNormRefBackward(x.v, gamma.v, beta.v, groups, eps, g),
    );
  }

  layerNorm(x: RV, gamma: RV, beta: RV, eps: number): RV {
    return this.op(
      [x, gamma, beta],
      layerNormRef(x.v, gamma.v, beta.v, eps),
      (g) => layerNormRefBackward(x.v, gamma.v, beta.v, eps, g),
    );
  }

  /** q: [B, Lq, H*Dh], k, v: [B, Lk, H*Dh]; opts.keyMask [B, Lk] is a constant. */
  attention(q: RV, k: RV, v: RV, heads: number, opts: AttentionRefOptions = {}): RV {
    return this.op(
      [q, k, v],
      attentionRef(q.v, k.v, v.v, heads, opts),
      (g) => attentionRefBackward(q.v, k.v, v.v, heads, g, opts),
    );
  }

  geglu(x: RV): RV {
    return this.op([x], gegluRef(x.v), (g) => [gegluRefBackward(x.v, g)]);
  }

  upsample2x(x: RV): RV {
    return this.op([x], upsampleNearest2xRef(x.v), (g) => [upsampleNearest2xRefBackward(x.v, g)]);
  }

  /** x: [B, C, H, W], w: [O, C, k, k], b: [O] | null -> [B, O, Ho, Wo] (torch.nn.functional.conv2d). */
  conv2d(x: RV, w: RV, b: RV | null, stride: number, padding: number): RV {
    const ins = b ? [x, w, b] : [x, w];
    return this.op(ins, conv2dF64(x.v, w.v, b?.v ?? null, stride, padding), (g) => {
      const [gx, gw, gb] = conv2dF64Backward(x.v, w.v, stride, padding, g);
      return b ? [gx, gw, gb] : [gx, gw];
    });
  }
}

// Direct-loop float64 convolution for the compositions above. (Interim: lib/ops/conv2d.ts's own
// one-to-one reference should replace these two functions once it lands.)
function convDims(x: Nd, w: Nd, stride: number, padding: number) {
  const [B, C, H, W] = x.shape, [O, , k] = w.shape;
  const Ho = Math.floor((H + 2 * padding - k) / stride) + 1,
    Wo = Math.floor((W + 2 * padding - k) / stride) + 1;
  return { B, C, H, W, O, k, Ho, Wo };
}

/** Calls fn(xIndex, wIndex, yIndex) for every multiply of the convolution. */
function forEachTap(
  x: Nd,
  w: Nd,
  stride: number,
  padding: number,
  fn: (xi: number, wi: number, yi: number) => void,
) {
  const { B, C, H, W, O, k, Ho, Wo } = convDims(x, w, stride, padding);
  for (let n = 0; n < B; n++) {
    for (let o = 0; o < O; o++) {
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) {
          const yi = ((n * O + o) * Ho + i) * Wo + j;
          for (let c = 0; c < C; c++) {
            for (let u = 0; u < k; u++) {
              const yy = i * stride + u - padding;
              if (yy < 0 || yy >= H) continue;
              for (let v = 0; v < k; v++) {
                const xx = j * stride + v - padding;
                if (xx < 0 || xx >= W) continue;
                fn(((n * C + c) * H + yy) * W + xx, ((o * C + c) * k + u) * k + v, yi);
              }
            }
          }
        }
      }
    }
  }
}

export function conv2dF64(x: Nd, w: Nd, b: Nd | null, stride: number, padding: number): Nd {
  const { B, O, Ho, Wo } = convDims(x, w, stride, padding);
  const y = ndZeros([B, O, Ho, Wo]);
  if (b) { for (let i = 0; i < y.data.length; i++) y.data[i] = b.data[Math.floor(i / (Ho * Wo)) % O]; }
  forEachTap(x, w, stride, padding, (xi, wi, yi) => y.data[yi] += x.data[xi] * w.data[wi]);
  return y;
}

/** VJP of conv2dF64: [gx, gw, gb]. */
export function conv2dF64Backward(x: Nd, w: Nd, stride: number, padding: number, g: Nd): [Nd, Nd, Nd] {
  const { O, Ho, Wo } = convDims(x, w, stride, padding);
  const gx = ndZeros(x.shape), gw = ndZeros(w.shape), gb = ndZeros([O]);
  for (let i = 0; i < g.data.length; i++) gb.data[Math.floor(i / (Ho * Wo)) % O] += g.data[i];
  forEachTap(x, w, stride, padding, (xi, wi, yi) => {
    gx.data[xi] += g.data[yi] * w.data[wi];
    gw.data[wi] += g.data[yi] * x.data[xi];
  });
  return [gx, gw, gb];
}
