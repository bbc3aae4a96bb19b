// Float64 reference for lib/ops/conv2d.ts: NCHW conv2d with stride and zero padding, forward and
// vector-Jacobian product (loop form straight from the definition).
import { type Nd, ndZeros } from "./nd.ts";

export interface ConvRefOptions {
  stride?: number;
  padding?: number;
}

function geometry(x: Nd, w: Nd, o: ConvRefOptions) {
  const [B, Cin, H, W] = x.shape;
  const [Cout, Cin2, KH, KW] = w.shape;
  if (Cin !== Cin2) throw new Error(`conv2dRef: x [${x.shape}] vs w [${w.shape}]`);
  const s = o.stride ?? 1, pad = o.padding ?? Math.floor(KH / 2);
  const Ho = Math.floor((H + 2 * pad - KH) / s) + 1, Wo = Math.floor((W + 2 * pad - KW) / s) + 1;
  return { B, Cin, H, W, Cout, KH, KW, s, pad, Ho, Wo };
}

/** Calls fn(xIndex, wIndex, yIndex) for every product term of the convolution. */
function forEachTerm(x: Nd, w: Nd, o: ConvRefOptions, fn: (xi: number, wi: number, yi: number) => void) {
  const { B, Cin, H, W, Cout, KH, KW, s, pad, Ho, Wo } = geometry(x, w, o);
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Cout; co++) {
      for (let oh = 0; oh < Ho; oh++) {
        for (let ow = 0; ow < Wo; ow++) {
          const yi = ((b * Cout + co) * Ho + oh) * Wo + ow;
          for (let ci = 0; ci < Cin; ci++) {
            for (let i = 0; i < KH; i++) {
              const ih = oh * s + i - pad;
              if (ih < 0 || ih >= H) continue;
              for (let j = 0; j < KW; j++) {
                const iw = ow * s + j - pad;
                if (iw < 0 || iw >= W) continue;
                fn(((b * Cin + ci) * H + ih) * W + iw, ((co * Cin + ci) * KH + i) * KW + j, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** y[b, co, oh, ow] = bias[co] + sum w[co, ci, i, j] x[b, ci, oh*s + i - pad, ow*s + j - pad]. */
export function conv2dRef(x: Nd, w: Nd, bias: Nd | null, o: ConvRefOptions = {}): Nd {
  const { B, Cout, Ho, Wo } = geometry(x, w, o);
  const y = ndZeros([B, Cout, Ho, Wo]);
  if (bias) {
    for (let i = 0; i < y.data.length; i++) {
      y.data[i] = bias.data[Math.floor(i / (Ho * Wo)) % Cout];
    }
  }
  forEachTerm(x, w, o, (xi, wi, yi) => y.data[yi] += w.data[wi] * x.data[xi]);
  return y;
}

/** VJP of conv2dRef: [gx, gw, gbias] for upstream g [B, Cout, Ho, Wo]. */
export function conv2dRefBackward(x: Nd, w: Nd, g: Nd, o: ConvRefOptions = {}): [Nd, Nd, Nd] {
  const { Cout, Ho, Wo } = geometry(x, w, o);
  const gx = ndZeros(x.shape), gw = ndZeros(w.shape), gb = ndZeros([Cout]);
  forEachTerm(x, w, o, (xi, wi, yi) => {
    gx.data[xi] += w.data[wi] * g.data[yi];
    gw.data[wi] += x.data[xi] * g.data[yi];
  });
  for (let i = 0; i < g.data.length; i++) gb.data[Math.floor(i / (Ho * Wo)) % Cout] += g.data[i];
  return [gx, gw, gb];
}
