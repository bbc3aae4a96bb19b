// Linear, Transformer2DModel (linear and 1x1-conv projections, key mask) and the text encoder against
// float64 compositions: outputs, input gradients and every parameter gradient.
import { Transformer2DModel } from "../../lib/nn/attention.ts";
import { Linear } from "../../lib/nn/layers.ts";
import { rootInit } from "../../lib/nn/module.ts";
import { TextEncoder } from "../../lib/nn/text_encoder.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { checkVjp, gpu, randNd } from "../_helpers.ts";
import { conv2dF64, conv2dF64Backward } from "../../lib/ref/unet.ts";
import { compareModule } from "./_compare.ts";
import { refLinear, refTextEncoder, refTransformer2D } from "./_ref_model.ts";

Deno.test("Linear on [B, L, in] with bias, vs float64", async () => {
  const ctx = await gpu();
  const m = new Linear(rootInit(ctx, 1, "lin"), 5, 3);
  await compareModule(
    ctx,
    "linear",
    m,
    [randNd([2, 3, 5], 1)],
    ([x]) => m.forward(ctx, x),
    (P, [x]) => refLinear(P, "lin", x),
  );
  m.dispose();
});

for (const linearProjection of [true, false]) {
  Deno.test(`Transformer2DModel (${linearProjection ? "linear" : "1x1 conv"} projections, key mask) vs float64`, async () => {
    const ctx = await gpu();
    const [B, C, H, W, Lk, crossDim, heads, groups] = [2, 8, 3, 2, 5, 6, 2, 4];
    const m = new Transformer2DModel(rootInit(ctx, 7, "attentions.0"), C, {
      heads,
      dimHead: C / heads,
      crossDim,
      groups,
      linearProjection,
    });
    if (!linearProjection && m.proj_in.weight.shape.length !== 4) {
      throw new Error("proj_in should be [O, I, 1, 1]");
    }
    const mask = { data: Float64Array.from([1, 1, 1, 0, 0, 1, 1, 0, 0, 0]), shape: [B, Lk] };
    const maskT = tensor(ctx, Float32Array.from(mask.data), [B, Lk]);
    await compareModule(
      ctx,
      "transformer2d",
      m,
      [randNd([B, C, H, W], 2), randNd([B, Lk, crossDim], 3)],
      ([x, c]) => m.forward(ctx, x, c, maskT),
      (P, [x, c]) => refTransformer2D(P, "attentions.0", x, c, heads, groups, mask),
    );
    maskT.dispose();
    m.dispose();
  });
}

Deno.test("text encoder (one-hot embedding, causal layers, final norm) vs float64", async () => {
  const ctx = await gpu();
  const cfg = {
    vocab_size: 11,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    max_position_embeddings: 7,
  };
  const m = new TextEncoder(rootInit(ctx, 3), cfg);
  const ids = [[1, 5, 9, 2, 0, 0], [1, 2, 0, 0, 0, 0], [1, 10, 4, 4, 3, 2]];
  await compareModule(
    ctx,
    "text encoder",
    m,
    [],
    () => m.forward(ctx, ids),
    (P) => refTextEncoder(P, ids, { layers: 2, heads: 2, eps: 1e-5 }),
  );
  m.dispose();
});

Deno.test("float64 conv used by the references passes finite differences (stride 1 and 2)", () => {
  for (const [stride, padding, k] of [[1, 1, 3], [2, 1, 3], [1, 0, 1]]) {
    checkVjp(
      `conv2dF64 s${stride} p${padding} k${k}`,
      [randNd([2, 3, 5, 4], 1), randNd([4, 3, k, k], 2), randNd([4], 3)],
      ([x, w, b]) => conv2dF64(x, w, b, stride, padding),
      ([x, w], g) => conv2dF64Backward(x, w, stride, padding, g),
    );
  }
});
