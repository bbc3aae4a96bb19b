// Group norm and layer norm (kernels/norm.wgsl), affine, with gradients for x, gamma and beta.
import { f32bits, groups1d, MAX_GROUPS } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, shapeStr, type Tensor } from "../tensor/tensor.ts";
import { elementGroups, type GpuContext, record } from "./util.ts";

const kernel = new KernelFile("norm.wgsl");
const WG = 64;
const CHUNK = 64;
const overrides = { WG, CHUNK };
/** Group norm's elementwise passes: elements per invocation (the per-channel loads happen once for them). */
const GN_EPT = 8;
/**
 * Layer-norm rows up to this length get one thread each (no barriers), longer ones a workgroup.
 * Measured on llvmpipe: 1.5-2x faster per thread at [2048, 320] and [512, 1280], slower at 4096.
 */
export const LN_ROW_MAX = 2048;

/** Chunks for a reduction of `rows` rows of n elements: at most GN_CHUNK_MAX per invocation, about
 * GN_THREADS invocations in flight, at least GN_CHUNK_MIN elements each. */
function chunking(rows: number, n: number): { chunk: number; nChunks: number } {
  const want = Math.max(
    Math.ceil(n / GN_CHUNK_MAX),
    Math.min(Math.ceil(GN_THREADS / rows), Math.ceil(n / GN_CHUNK_MIN)),
    1,
  );
  const chunk = Math.ceil(n / want);
  return { chunk, nChunks: Math.ceil(n / chunk) };
}
const GN_CHUNK_MIN = 256, GN_CHUNK_MAX = 4096, GN_THREADS = 512;

/**
 * Group norm as torch.nn.GroupNorm: x [B, C, ...spatial] (any trailing axes, none included),
 * gamma, beta [C]; statistics per (batch, group of C / groups channels), biased variance.
 * silu = true returns silu(groupNorm(x)) with the activation fused (forward and backward).
 */
export function groupNorm(
  ctx: GpuContext,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  groups: number,
  eps: number,
  silu = false,
): Tensor {
  if (x.shape.length < 2) throw new Error(`groupNorm: ${x.describe()} needs [B, C, ...]`);
  const [B, C] = x.shape;
  const S = x.size / (B * C);
  if (!(groups >= 1 && C % groups === 0)) {
    throw new Error(`groupNorm: ${C} channels of ${x.describe()} not divisible into ${groups} groups`);
  }
  checkAffine("groupNorm", gamma, beta, C);
  if (Math.ceil(S / WG) > MAX_GROUPS || B > MAX_GROUPS || C > MAX_GROUPS) {
    throw new Error(`groupNorm: ${x.describe()} exceeds the dispatch grid (${MAX_GROUPS} per dimension)`);
  }
  const ov = { ...overrides, SILU: silu ? 1 : 0 };
  // the elementwise passes: EPT elements per invocation, workgroups no wider than a channel's S / EPT
  const wgElem = Math.min(WG, Math.max(8, 2 ** Math.ceil(Math.log2(Math.ceil(S / GN_EPT)))));
  const grid: [number, number, number] = [Math.ceil(S / (wgElem * GN_EPT)), C, B];
  const ovElem = { ...ov, EPT: GN_EPT, WG: wgElem };
  const R = B * groups, n = (C / groups) * S;
  const st = chunking(R, n);
  const params = [B, C, S, groups, f32bits(eps), st.nChunks, st.chunk, 0];
  const stats = empty(ctx, [R, 2]);
  const y = empty(ctx, x.shape);
  const cstats = st.nChunks > 1 ? empty(ctx, [R * st.nChunks, 2]) : null;
  ctx.run(kernel, "gnStats", {
    buffers: [x, null, null, null, stats, null, null, cstats ?? y], // y: unused there
    params,
    groups: groups1d(elementGroups(R * st.nChunks, WG)),
    overrides: ov,
  });
  if (cstats) {
    ctx.run(kernel, "gnStatsCombine", {
      buffers: [null, null, null, null, stats, null, null, cstats],
      params,
      groups: groups1d(elementGroups(R, WG)),
      overrides: ov,
    });
    cstats.dispose();
  }
  ctx.run(kernel, "gnForward", {
    buffers: [x, gamma, beta, y, stats],
    params,
    groups: grid,
    overrides: ovElem,
  });
  const out = record(ctx, silu ? "groupNormSilu" : "groupNorm", [x, gamma, beta], y, (gy, prior) => {
    const bk = chunking(B * C, S);
    const bparams = [B, C, S, groups, f32bits(eps), bk.nChunks, bk.chunk, 0];
    const part = empty(ctx, [B * C * bk.nChunks, 2]);
    const aux = empty(ctx, [R, 2]);
    const gx = empty(ctx, x.shape), gg = empty(ctx, [C]), gb = empty(ctx, [C]);
    ctx.run(kernel, "gnBackwardChunk", {
      buffers: [x, gamma, beta, null, stats, gy, null, part],
      params: bparams,
      groups: groups1d(elementGroups(B * C * bk.nChunks, WG)),
      overrides: ov,
    });
    ctx.run(kernel, "gnBackwardGroup", {
      buffers: [null, gamma, null, null, null, null, null, part, gg, gb, aux],
      params: bparams,
      groups: groups1d(elementGroups(C + R, WG)),
      overrides: ov,
    });
    const sofar = prior?.grads[0] ?? null; // x's gradient so far, added in the same pass
    ctx.run(kernel, "gnBackwardInput", {
      buffers: [x, gamma, beta, null, stats, gy, gx, null, null, null, aux, sofar ?? x],
      params: bparams,
      groups: grid,
      overrides: { ...ovElem, PRIOR: sofar ? 1 : 0 },
    });
    if (sofar) prior!.used[0] = true;
    part.dispose();
    aux.dispose();
    stats.dispose();
    return [gx, gg, gb];
  });
  // Without a tape node nothing will read the statistics again.
  if (!out.creator) stats.dispose();
  return out;
}

/** Layer norm over the last axis as torch.nn.LayerNorm: x [..., D], gamma, beta [D]. */
export function layerNorm(ctx: GpuContext, x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  if (x.shape.length < 1) throw new Error(`layerNorm: ${x.describe()} needs [..., D]`);
  const D = x.shape[x.shape.length - 1];
  const R = x.size / D;
  checkAffine("layerNorm", gamma, beta, D);
  const nChunks = Math.ceil(R / CHUNK);
  if (D / WG >= MAX_GROUPS || nChunks >= MAX_GROUPS) {
    throw new Error(`layerNorm: ${x.describe()} exceeds the per-invocation loop cap`);
  }
  const params = [1, D, R, 1, f32bits(eps), nChunks, 0, 0];
  const stats = empty(ctx, [R, 2]);
  const y = empty(ctx, x.shape);
  const rowwise = D <= LN_ROW_MAX;
  const rowGroups = groups1d(rowwise ? elementGroups(R, WG) : R);
  ctx.run(kernel, rowwise ? "lnForwardRow" : "lnForward", {
    buffers: [x, gamma, beta, y, stats],
    params,
    groups: rowGroups,
    overrides,
  });
  const out = record(ctx, "layerNorm", [x, gamma, beta], y, (gy, prior) => {
    const gx = x.requiresGrad ? empty(ctx, x.shape) : null;
    if (gx) {
      // x's gradient so far (the residual stream's), added by the row kernel in the same pass
      const sofar = rowwise ? prior?.grads[0] ?? null : null;
      ctx.run(kernel, rowwise ? "lnBackwardRow" : "lnBackward", {
        buffers: [x, gamma, null, null, stats, gy, gx, null, null, null, null, rowwise ? sofar ?? x : null],
        params,
        groups: rowGroups,
        overrides: { ...overrides, PRIOR: sofar ? 1 : 0 },
      });
      if (sofar) prior!.used[0] = true;
    }
    let gg: Tensor | null = null, gb: Tensor | null = null;
    if (gamma.requiresGrad || beta.requiresGrad) {
      const part = empty(ctx, [nChunks, D, 2]);
      gg = empty(ctx, [D]);
      gb = empty(ctx, [D]);
      ctx.run(kernel, "lnBackwardParams", {
        buffers: [x, null, null, null, stats, gy, null, part],
        params,
        groups: [Math.ceil(D / WG), nChunks, 1],
        overrides,
      });
      ctx.run(kernel, "lnBackwardReduce", {
        buffers: [null, null, null, null, null, null, null, part, gg, gb],
        params,
        groups: [Math.ceil(D / WG), 1, 1],
        overrides,
      });
      part.dispose();
    }
    stats.dispose();
    return [gx, gg, gb];
  });
  if (!out.creator) stats.dispose();
  return out;
}

function checkAffine(op: string, gamma: Tensor, beta: Tensor, n: number) {
  if (gamma.size !== n || beta.size !== n) {
    throw new Error(`${op}: gamma ${gamma.describe()} and beta ${beta.describe()} must be ${shapeStr([n])}`);
  }
}
