// Module plumbing: dotted names, seeded init, state dict round trip, strict loading, freezing.
import { deepStrictEqual, equal, notDeepStrictEqual, throws } from "node:assert/strict";
import { Linear } from "../../lib/nn/layers.ts";
import { rootInit, type StateEntry } from "../../lib/nn/module.ts";
import { TextEncoder } from "../../lib/nn/text_encoder.ts";
import { gpu } from "../_helpers.ts";

const TINY = {
  vocab_size: 9,
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 2,
};

Deno.test("text encoder parameters carry CLIPTextModel names and shapes", async () => {
  const ctx = await gpu();
  const m = new TextEncoder(rootInit(ctx, 0), TINY);
  const shapes = Object.fromEntries([...m.parameters()].map(([k, t]) => [k, t.shape.join("x")]));
  equal(shapes["text_model.embeddings.token_embedding.weight"], "9x8");
  equal(shapes["text_model.embeddings.position_embedding.weight"], "16x8");
  equal(shapes["text_model.encoder.layers.0.self_attn.q_proj.weight"], "8x8");
  equal(shapes["text_model.encoder.layers.0.mlp.fc1.weight"], "16x8");
  equal(shapes["text_model.encoder.layers.0.mlp.fc2.bias"], "8");
  equal(shapes["text_model.final_layer_norm.weight"], "8");
  equal(Object.keys(shapes).length, 2 + 16 + 2);
  equal(m.numParams(), 9 * 8 + 16 * 8 + 4 * (64 + 8) + 2 * 16 + (128 + 16) + (128 + 8) + 2 * 8);
  m.dispose();
});

Deno.test("init is seeded per parameter name: reproducible, seed-dependent, kaiming-uniform bounds", async () => {
  const ctx = await gpu();
  const a = new Linear(rootInit(ctx, 5, "x.proj"), 50, 4);
  const b = new Linear(rootInit(ctx, 5, "x.proj"), 50, 4);
  const c = new Linear(rootInit(ctx, 6, "x.proj"), 50, 4);
  const [wa, wb, wc] = await Promise.all([a.weight.read(), b.weight.read(), c.weight.read()]);
  deepStrictEqual(wa, wb);
  notDeepStrictEqual(wa, wc);
  const bound = 1 / Math.sqrt(50);
  equal(wa.every((v) => Math.abs(v) <= bound), true);
  equal(Math.max(...wa.map(Math.abs)) > 0.8 * bound, true);
  notDeepStrictEqual(await a.bias!.read(), wa.slice(0, 4));
  for (const m of [a, b, c]) m.dispose();
});

Deno.test("stateDict -> loadStateDict round trip; strict loading lists every problem", async () => {
  const ctx = await gpu();
  const src = new TextEncoder(rootInit(ctx, 1), TINY), dst = new TextEncoder(rootInit(ctx, 2), TINY);
  const sd = await src.stateDict();
  const before = dst.parameters().get("text_model.encoder.layers.0.mlp.fc1.weight")!;
  dst.loadStateDict(sd);
  equal(dst.parameters().get("text_model.encoder.layers.0.mlp.fc1.weight"), before); // same tensor object
  for (const [k, e] of await dst.stateDict()) deepStrictEqual(e.data, sd.get(k)!.data);

  const broken = new Map<string, StateEntry>(sd);
  broken.delete("text_model.final_layer_norm.bias");
  broken.set("text_model.extra.weight", { shape: [1], data: new Float32Array(1) });
  broken.set("text_model.encoder.layers.0.mlp.fc1.bias", { shape: [15], data: new Float32Array(15) });
  throws(
    () => dst.loadStateDict(broken),
    (e: Error) =>
      /missing: text_model.final_layer_norm.bias/.test(e.message) &&
      /unexpected: text_model.extra.weight/.test(e.message) &&
      /fc1.bias: checkpoint \[15\] vs model \[16\]/.test(e.message),
  );
  broken.set("text_model.encoder.layers.0.mlp.fc1.bias", sd.get("text_model.encoder.layers.0.mlp.fc1.bias")!);
  const r = dst.loadStateDict(broken, false);
  deepStrictEqual([r.missing, r.unexpected], [["text_model.final_layer_norm.bias"], [
    "text_model.extra.weight",
  ]]);
  src.dispose();
  dst.dispose();
});

Deno.test("a 1x1 conv weight [O, I, 1, 1] loads into a Linear [O, I] and the reverse", async () => {
  const ctx = await gpu();
  const lin = new Linear(rootInit(ctx, 1, "proj_in"), 3, 2);
  const conv = new Linear(rootInit(ctx, 2, "proj_in"), 3, 2, { asConv1x1: true });
  const sd = await conv.stateDict();
  deepStrictEqual(sd.get("proj_in.weight")!.shape, [2, 3, 1, 1]);
  lin.loadStateDict(sd);
  deepStrictEqual(await lin.weight.read(), sd.get("proj_in.weight")!.data);
  const wrong = new Map(sd).set("proj_in.weight", { shape: [3, 2, 1, 1], data: new Float32Array(6) });
  throws(() => lin.loadStateDict(wrong), /proj_in.weight: checkpoint \[3, 2, 1, 1\] vs model \[2, 3\]/);
  lin.dispose();
  conv.dispose();
});

Deno.test("setTrainable(false) freezes every parameter", async () => {
  const ctx = await gpu();
  const m = new TextEncoder(rootInit(ctx, 0), TINY);
  m.setTrainable(false);
  equal(m.paramList().some((t) => t.requiresGrad), false);
  m.setTrainable(true);
  equal(m.paramList().every((t) => t.requiresGrad), true);
  m.dispose();
});
