// Kernel-lab cases for the layer ops built beside matmul/conv2d: group norm (lib/ops/norm.ts) and
// attention (lib/ops/attention.ts), timed through their public wrappers. TensorFlow.js has neither
// op, so its side is composed from its own ops (moments/rsqrt; reshape/transpose/matMul/softmax),
// the way a TF.js user would write them.
import { backward } from "../lib/autograd/backward.ts";
import { attention } from "../lib/ops/attention.ts";
import { groupNorm } from "../lib/ops/norm.ts";
import { type Tensor, tensor } from "../lib/tensor/tensor.ts";
import type { GpuContext } from "../lib/ops/util.ts";
import { type Case, seeded, type Side, type Tf } from "./cases.ts";

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Ours: `fwd(inputs)` on fresh leaves; for forward_backward the tape runs backward with a fixed
 * upstream gradient and the first input's gradient is the checked output.
 */
function oursLayer(
  ctx: GpuContext,
  data: [Float32Array, number[]][],
  gy: Float32Array,
  grad: boolean,
  fwd: (xs: Tensor[]) => Tensor,
): Side {
  const xs = data.map(([d, s]) => {
    const t = tensor(ctx, d, s); // made outside any scope: lives until dispose()
    t.requiresGrad = grad;
    return t;
  });
  const g = tensor(ctx, gy, data[0][1]);
  const run = () => {
    for (const x of xs) x.grad = null; // the previous run's gradients went with its scope
    const y = fwd(xs);
    if (!grad) return y;
    backward(ctx, y, { grad: g });
    const gx = xs[0].grad!;
    for (const x of xs) x.grad = null;
    return gx;
  };
  return {
    run,
    output: () => ctx.scope(() => run().read()),
    dispose: () => [...xs, g].forEach((t) => t.dispose()),
  };
}

function tfLayer(
  tf: Tf,
  data: [Float32Array, number[]][],
  gy: Float32Array,
  grad: boolean,
  fwd: (...xs: Tf[]) => Tf,
): Side {
  const xs = data.map(([d, s]) => tf.tensor(d, s));
  const g = tf.tensor(gy, data[0][1]);
  const gradsOf = tf.grads(fwd);
  const run = () => (grad ? gradsOf(xs, g)[0] : fwd(...xs));
  return {
    run,
    output: async () => {
      const y = tf.tidy(run);
      const d = new Float32Array(await y.data());
      y.dispose();
      return d;
    },
    dispose: () => tf.dispose([...xs, g]),
  };
}

/** torch.nn.GroupNorm(groups, C) on x [B, C, H, W]. */
export function groupNormCases(B: number, C: number, H: number, W: number, groups: number): Case[] {
  const xs = [B, C, H, W], n = numel(xs), eps = 1e-5;
  const data: [Float32Array, number[]][] = [[seeded(n, 11), xs], [seeded(C, 12), [C]], [seeded(C, 13), [C]]];
  const gy = seeded(n, 14);
  const tfFwd = (tf: Tf) => (x: Tf, gamma: Tf, beta: Tf) => {
    const xr = tf.reshape(x, [B, groups, n / (B * groups)]);
    const { mean, variance } = tf.moments(xr, 2, true);
    const z = tf.reshape(tf.mul(tf.sub(xr, mean), tf.rsqrt(tf.add(variance, eps))), xs);
    return tf.add(tf.mul(z, tf.reshape(gamma, [1, C, 1, 1])), tf.reshape(beta, [1, C, 1, 1]));
  };
  return (["forward", "forward_backward"] as const).map((pass) => {
    const grad = pass !== "forward";
    return {
      op: "group_norm",
      shape: `${B}x${C}x${H}x${W}, ${groups} groups`,
      pass,
      flops: null,
      bytes: 4 * n * (grad ? 5 : 2),
      bound: "memory",
      ours: (ctx) => oursLayer(ctx, data, gy, grad, ([x, g, b]) => groupNorm(ctx, x, g, b, groups, eps)),
      tfjs: (tf) => tfLayer(tf, data, gy, grad, tfFwd(tf)),
    } satisfies Case;
  });
}

/** Multi-head attention: q [B, Lq, H*Dh], k, v [B, Lk, H*Dh], scale 1/sqrt(Dh). */
export function attentionCases(B: number, heads: number, Lq: number, Lk: number, Dh: number): Case[] {
  const HD = heads * Dh;
  const qs = [B, Lq, HD], ks = [B, Lk, HD];
  const data: [Float32Array, number[]][] = [[seeded(numel(qs), 21), qs], [seeded(numel(ks), 22), ks], [
    seeded(numel(ks), 23),
    ks,
  ]];
  const gy = seeded(numel(qs), 24);
  const mm = 2 * B * heads * Lq * Lk * Dh; // one of the two score/value matmuls
  const tfFwd = (tf: Tf) => (q: Tf, k: Tf, v: Tf) => {
    const split = (t: Tf, L: number) => tf.transpose(tf.reshape(t, [B, L, heads, Dh]), [0, 2, 1, 3]);
    const s = tf.mul(tf.matMul(split(q, Lq), split(k, Lk), false, true), 1 / Math.sqrt(Dh));
    const o = tf.matMul(tf.softmax(s), split(v, Lk)); // [B, H, Lq, Dh]
    return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), qs);
  };
  return (["forward", "forward_backward"] as const).map((pass) => {
    const grad = pass !== "forward";
    return {
      op: "attention",
      shape: `B${B} ${heads} heads, ${Lq} queries, ${Lk} keys, head ${Dh}`,
      pass,
      flops: grad ? 6 * mm : 2 * mm,
      bytes: 4 * (numel(qs) + 2 * numel(ks) + numel(qs)) * (grad ? 2 : 1),
      bound: "compute",
      ours: (ctx) => oursLayer(ctx, data, gy, grad, ([q, k, v]) => attention(ctx, q, k, v, heads)),
      tfjs: (tf) => tfLayer(tf, data, gy, grad, tfFwd(tf)),
    } satisfies Case;
  });
}
