// Float64 references for the UNet layer ops (lib/ops/{norm,softmax,geglu,attention,upsample,
// embedding}.ts), one to one: forward and vector-Jacobian product. Written for clarity, not speed.
import { erf } from "./ops.ts";
import { type Nd, ndZeros } from "./nd.ts";

// ---- group norm / layer norm ---------------------------------------------------------------------

/** Per-(batch, group) statistics of group norm. */
interface NormRows {
  mean: Float64Array;
  rstd: Float64Array;
}

/** x: [B, C, ...spatial]; gamma, beta: [C]. Statistics per (batch, group of C/groups channels). */
export function groupNormRef(x: Nd, gamma: Nd, beta: Nd, groups: number, eps: number): Nd {
  const { B, C, S, Cg } = gnDims(x, groups);
  const st = gnStats(x, groups, eps);
  const y = ndZeros(x.shape);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const r = b * groups + Math.floor(c / Cg);
      for (let s = 0; s < S; s++) {
        const i = (b * C + c) * S + s;
        y.data[i] = (x.data[i] - st.mean[r]) * st.rstd[r] * gamma.data[c] + beta.data[c];
      }
    }
  }
  return y;
}

/** VJP of groupNormRef: [gx, ggamma, gbeta]. */
export function groupNormRefBackward(
  x: Nd,
  gamma: Nd,
  _beta: Nd,
  groups: number,
  eps: number,
  gy: Nd,
): [Nd, Nd, Nd] {
  const { B, C, S, Cg } = gnDims(x, groups);
  const st = gnStats(x, groups, eps);
  const gx = ndZeros(x.shape), gg = ndZeros([C]), gb = ndZeros([C]);
  const n = Cg * S;
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < groups; g++) {
      const r = b * groups + g;
      // gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = gy * gamma
      let m1 = 0, m2 = 0;
      for (let c = g * Cg; c < (g + 1) * Cg; c++) {
        for (let s = 0; s < S; s++) {
          const i = (b * C + c) * S + s;
          const xh = (x.data[i] - st.mean[r]) * st.rstd[r];
          const d = gy.data[i] * gamma.data[c];
          m1 += d / n;
          m2 += d * xh / n;
          gg.data[c] += gy.data[i] * xh;
          gb.data[c] += gy.data[i];
        }
      }
      for (let c = g * Cg; c < (g + 1) * Cg; c++) {
        for (let s = 0; s < S; s++) {
          const i = (b * C + c) * S + s;
          const xh = (x.data[i] - st.mean[r]) * st.rstd[r];
          gx.data[i] = st.rstd[r] * (gy.data[i] * gamma.data[c] - m1 - xh * m2);
        }
      }
    }
  }
  return [gx, gg, gb];
}

function gnDims(x: Nd, groups: number) {
  const B = x.shape[0], C = x.shape[1];
  const S = x.data.length / (B * C);
  if (C % groups) throw new Error(`groupNormRef: ${C} channels not divisible by ${groups} groups`);
  return { B, C, S, Cg: C / groups };
}

function gnStats(x: Nd, groups: number, eps: number): NormRows {
  const { B, Cg, S } = gnDims(x, groups);
  const n = Cg * S;
  const mean = new Float64Array(B * groups), rstd = new Float64Array(B * groups);
  for (let r = 0; r < B * groups; r++) {
    // groups are contiguous runs of Cg * S elements in [B, C, S]
    let m = 0, v = 0;
    for (let k = 0; k < n; k++) m += x.data[r * n + k];
    m /= n;
    for (let k = 0; k < n; k++) v += (x.data[r * n + k] - m) ** 2;
    mean[r] = m;
    rstd[r] = 1 / Math.sqrt(v / n + eps);
  }
  return { mean, rstd };
}

/** x: [..., D]; gamma, beta: [D]. Biased variance, like torch.nn.LayerNorm. */
export function layerNormRef(x: Nd, gamma: Nd, beta: Nd, eps: number): Nd {
  const D = x.shape.at(-1)!, R = x.data.length / D;
  const y = ndZeros(x.shape);
  for (let r = 0; r < R; r++) {
    const { m, rs } = lnRow(x, r, D, eps);
    for (let d = 0; d < D; d++) {
      y.data[r * D + d] = (x.data[r * D + d] - m) * rs * gamma.data[d] + beta.data[d];
    }
  }
  return y;
}

export function layerNormRefBackward(x: Nd, gamma: Nd, _beta: Nd, eps: number, gy: Nd): [Nd, Nd, Nd] {
  const D = x.shape.at(-1)!, R = x.data.length / D;
  const gx = ndZeros(x.shape), gg = ndZeros([D]), gb = ndZeros([D]);
  for (let r = 0; r < R; r++) {
    const { m, rs } = lnRow(x, r, D, eps);
    let m1 = 0, m2 = 0;
    for (let d = 0; d < D; d++) {
      const i = r * D + d, xh = (x.data[i] - m) * rs, dx = gy.data[i] * gamma.data[d];
      m1 += dx / D;
      m2 += dx * xh / D;
      gg.data[d] += gy.data[i] * xh;
      gb.data[d] += gy.data[i];
    }
    for (let d = 0; d < D; d++) {
      const i = r * D + d, xh = (x.data[i] - m) * rs;
      gx.data[i] = rs * (gy.data[i] * gamma.data[d] - m1 - xh * m2);
    }
  }
  return [gx, gg, gb];
}

function lnRow(x: Nd, r: number, D: number, eps: number) {
  let m = 0, v = 0;
  for (let d = 0; d < D; d++) m += x.data[r * D + d];
  m /= D;
  for (let d = 0; d < D; d++) v += (x.data[r * D + d] - m) ** 2;
  return { m, rs: 1 / Math.sqrt(v / D + eps) };
}

// ---- softmax ------------------------------------------------------------------------------------

/** Softmax over the last axis; entries with allowed(row, j) false get probability 0 (all-masked rows: 0). */
export function softmaxRef(x: Nd, allowed?: (row: number, j: number) => boolean, scale = 1): Nd {
  const N = x.shape.at(-1)!, R = x.data.length / N;
  const y = ndZeros(x.shape);
  for (let r = 0; r < R; r++) {
    let mx = -Infinity;
    for (let j = 0; j < N; j++) if (!allowed || allowed(r, j)) mx = Math.max(mx, scale * x.data[r * N + j]);
    if (mx === -Infinity) continue;
    let s = 0;
    for (let j = 0; j < N; j++) {
      if (allowed && !allowed(r, j)) continue;
      s += y.data[r * N + j] = Math.exp(scale * x.data[r * N + j] - mx);
    }
    for (let j = 0; j < N; j++) y.data[r * N + j] /= s;
  }
  return y;
}

/** VJP of softmaxRef given its output y: gx = scale * y * (gy - sum(gy * y)). */
export function softmaxRefBackward(y: Nd, gy: Nd, scale = 1): Nd {
  const N = y.shape.at(-1)!, R = y.data.length / N;
  const gx = ndZeros(y.shape);
  for (let r = 0; r < R; r++) {
    let dot = 0;
    for (let j = 0; j < N; j++) dot += gy.data[r * N + j] * y.data[r * N + j];
    for (let j = 0; j < N; j++) {
      gx.data[r * N + j] = scale * y.data[r * N + j] * (gy.data[r * N + j] - dot);
    }
  }
  return gx;
}

// ---- GEGLU --------------------------------------------------------------------------------------

const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
const dgelu = (v: number) =>
  0.5 * (1 + erf(v / Math.SQRT2)) + v * Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);

/** x: [..., 2D] -> [..., D]: hidden * gelu(gate) with hidden, gate = x.chunk(2, -1). */
export function gegluRef(x: Nd): Nd {
  const D2 = x.shape.at(-1)!, D = D2 / 2, R = x.data.length / D2;
  const y = ndZeros([...x.shape.slice(0, -1), D]);
  for (let r = 0; r < R; r++) {
    for (let d = 0; d < D; d++) y.data[r * D + d] = x.data[r * D2 + d] * gelu(x.data[r * D2 + D + d]);
  }
  return y;
}

export function gegluRefBackward(x: Nd, gy: Nd): Nd {
  const D2 = x.shape.at(-1)!, D = D2 / 2, R = x.data.length / D2;
  const gx = ndZeros(x.shape);
  for (let r = 0; r < R; r++) {
    for (let d = 0; d < D; d++) {
      const h = x.data[r * D2 + d], g = x.data[r * D2 + D + d], go = gy.data[r * D + d];
      gx.data[r * D2 + d] = go * gelu(g);
      gx.data[r * D2 + D + d] = go * h * dgelu(g);
    }
  }
  return gx;
}

// ---- attention ----------------------------------------------------------------------------------

export interface AttentionRefOptions {
  /** [B, Lk] values, 1 = attend, 0 = masked. */
  keyMask?: Nd;
  /** Query i attends keys j <= i (top-left aligned, as torch's is_causal). */
  causal?: boolean;
}

/**
 * q: [B, Lq, H*Dh], k, v: [B, Lk, H*Dh] -> [B, Lq, H*Dh]; softmax(q k^T / sqrt(Dh)) v per head.
 * Also returns the probabilities P: [B, H, Lq, Lk] for the backward.
 */
export function attentionRefFull(q: Nd, k: Nd, v: Nd, heads: number, opts: AttentionRefOptions = {}) {
  const [B, Lq, HD] = q.shape, Lk = k.shape[1], Dh = HD / heads;
  const scale = 1 / Math.sqrt(Dh);
  const allowed = (b: number, i: number, j: number) =>
    (!opts.keyMask || opts.keyMask.data[b * Lk + j] >= 0.5) && (!opts.causal || j <= i);
  const s = ndZeros([B, heads, Lq, Lk]);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Lq; i++) {
        for (let j = 0; j < Lk; j++) {
          let acc = 0;
          for (let d = 0; d < Dh; d++) {
            acc += q.data[(b * Lq + i) * HD + h * Dh + d] * k.data[(b * Lk + j) * HD + h * Dh + d];
          }
          s.data[((b * heads + h) * Lq + i) * Lk + j] = acc;
        }
      }
    }
  }
  const rowsPerB = heads * Lq;
  const p = softmaxRef(
    s,
    (row, j) => allowed(Math.floor(row / rowsPerB), row % Lq, j),
    scale,
  );
  const o = ndZeros([B, Lq, HD]);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Lq; i++) {
        for (let j = 0; j < Lk; j++) {
          const pij = p.data[((b * heads + h) * Lq + i) * Lk + j];
          if (!pij) continue;
          for (let d = 0; d < Dh; d++) {
            o.data[(b * Lq + i) * HD + h * Dh + d] += pij * v.data[(b * Lk + j) * HD + h * Dh + d];
          }
        }
      }
    }
  }
  return { o, p };
}

export function attentionRef(q: Nd, k: Nd, v: Nd, heads: number, opts: AttentionRefOptions = {}): Nd {
  return attentionRefFull(q, k, v, heads, opts).o;
}

/** VJP of attentionRef: [gq, gk, gv]. */
export function attentionRefBackward(
  q: Nd,
  k: Nd,
  v: Nd,
  heads: number,
  go: Nd,
  opts: AttentionRefOptions = {},
): [Nd, Nd, Nd] {
  const [B, Lq, HD] = q.shape, Lk = k.shape[1], Dh = HD / heads;
  const scale = 1 / Math.sqrt(Dh);
  const { p } = attentionRefFull(q, k, v, heads, opts);
  const gq = ndZeros(q.shape), gk = ndZeros(k.shape), gv = ndZeros(v.shape);
  const gp = ndZeros(p.shape);
  const qi = (b: number, i: number, h: number, d: number) => (b * Lq + i) * HD + h * Dh + d;
  const ki = (b: number, j: number, h: number, d: number) => (b * Lk + j) * HD + h * Dh + d;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Lq; i++) {
        for (let j = 0; j < Lk; j++) {
          const pi = ((b * heads + h) * Lq + i) * Lk + j;
          let acc = 0;
          for (let d = 0; d < Dh; d++) {
            acc += go.data[qi(b, i, h, d)] * v.data[ki(b, j, h, d)];
            gv.data[ki(b, j, h, d)] += p.data[pi] * go.data[qi(b, i, h, d)];
          }
          gp.data[pi] = acc;
        }
      }
    }
  }
  const gs = softmaxRefBackward(p, gp, scale);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Lq; i++) {
        for (let j = 0; j < Lk; j++) {
          const g = gs.data[((b * heads + h) * Lq + i) * Lk + j];
          for (let d = 0; d < Dh; d++) {
            gq.data[qi(b, i, h, d)] += g * k.data[ki(b, j, h, d)];
            gk.data[ki(b, j, h, d)] += g * q.data[qi(b, i, h, d)];
          }
        }
      }
    }
  }
  return [gq, gk, gv];
}

// ---- upsample -----------------------------------------------------------------------------------

/** Nearest-neighbour 2x: [B, C, H, W] -> [B, C, 2H, 2W]. */
export function upsampleNearest2xRef(x: Nd): Nd {
  const [B, C, H, W] = x.shape;
  const y = ndZeros([B, C, 2 * H, 2 * W]);
  for (let bc = 0; bc < B * C; bc++) {
    for (let i = 0; i < 2 * H; i++) {
      for (let j = 0; j < 2 * W; j++) {
        y.data[(bc * 2 * H + i) * 2 * W + j] = x.data[(bc * H + (i >> 1)) * W + (j >> 1)];
      }
    }
  }
  return y;
}

/** Backward: each input pixel receives the sum of its 2x2 output block. */
export function upsampleNearest2xRefBackward(x: Nd, gy: Nd): Nd {
  const [B, C, H, W] = x.shape;
  const gx = ndZeros(x.shape);
  for (let bc = 0; bc < B * C; bc++) {
    for (let i = 0; i < 2 * H; i++) {
      for (let j = 0; j < 2 * W; j++) {
        gx.data[(bc * H + (i >> 1)) * W + (j >> 1)] += gy.data[(bc * 2 * H + i) * 2 * W + j];
      }
    }
  }
  return gx;
}

// ---- timestep embedding -------------------------------------------------------------------------

export interface TimestepEmbeddingOptions {
  flipSinToCos?: boolean;
  freqShift?: number;
  maxPeriod?: number;
}

/** diffusers' get_timestep_embedding: [B] -> [B, dim] (cat[sin, cos], or [cos, sin] when flipped). */
export function timestepEmbeddingRef(
  timesteps: ArrayLike<number>,
  dim: number,
  opts: TimestepEmbeddingOptions = {},
): Nd {
  const { flipSinToCos = false, freqShift = 1, maxPeriod = 10000 } = opts;
  const half = Math.floor(dim / 2), B = timesteps.length;
  const out = ndZeros([B, dim]);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < half; k++) {
      const arg = timesteps[b] * Math.exp(-Math.log(maxPeriod) * k / (half - freqShift));
      const first = flipSinToCos ? Math.cos(arg) : Math.sin(arg);
      const second = flipSinToCos ? Math.sin(arg) : Math.cos(arg);
      out.data[b * dim + k] = first;
      out.data[b * dim + half + k] = second;
    }
  }
  return out;
}
