// A CLIP-text-like encoder (transformers' CLIPTextModel names): token + position embeddings, pre-norm
// layers with causal self-attention and an MLP, final layer norm. Token lookup is one-hot @ table,
// which is exact and gives the table's gradient through matmul (WGSL has no f32 atomic scatter-add).
import type { GpuContext } from "../gpu/context.ts";
import { attention } from "../ops/attention.ts";
import { add } from "../ops/binary.ts";
import { reshape, slice } from "../ops/copy.ts";
import { matmul } from "../ops/matmul.ts";
import { gelu } from "../ops/unary.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { LayerNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";

/** transformers' CLIPTextConfig keys (the subset modelled). */
export interface TextEncoderConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  layer_norm_eps: number;
  hidden_act: "gelu";
}

export const TINY_TEXT: TextEncoderConfig = {
  vocab_size: 64,
  hidden_size: 64,
  intermediate_size: 256,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  max_position_embeddings: 16,
  layer_norm_eps: 1e-5,
  hidden_act: "gelu",
};

export function textEncoderConfig(
  raw: Record<string, unknown> = {},
  where = "text encoder config",
): TextEncoderConfig {
  const c: Record<string, unknown> = { ...TINY_TEXT };
  for (const [k, v] of Object.entries(raw)) {
    if (k in TINY_TEXT) c[k] = v;
    else if (
      !k.startsWith("_") &&
      !["architectures", "model_type", "torch_dtype", "transformers_version"].includes(k)
    ) {
      throw new Error(`${where}: unknown key ${k} = ${JSON.stringify(v)}`);
    }
  }
  const t = c as unknown as TextEncoderConfig;
  const bad = (k: keyof TextEncoderConfig, why: string): never => {
    throw new Error(`${where}: ${k} = ${JSON.stringify(t[k])} ${why}`);
  };
  for (
    const k of [
      "vocab_size",
      "hidden_size",
      "intermediate_size",
      "num_hidden_layers",
      "num_attention_heads",
      "max_position_embeddings",
    ] as const
  ) if (!Number.isInteger(t[k]) || t[k] < 1) bad(k, "must be a positive integer");
  if (t.hidden_size % t.num_attention_heads) {
    bad("num_attention_heads", `does not divide hidden_size ${t.hidden_size}`);
  }
  if (t.hidden_act !== "gelu") bad("hidden_act", "is not gelu");
  if (!(t.layer_norm_eps > 0)) bad("layer_norm_eps", "must be > 0");
  return t;
}

class EncoderLayer extends Module {
  readonly layer_norm1: LayerNorm;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly out_proj: Linear;
  readonly layer_norm2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(init: Init, readonly c: TextEncoderConfig) {
    super(init);
    const D = c.hidden_size;
    this.layer_norm1 = this.sub(new LayerNorm(this.at("layer_norm1"), D, c.layer_norm_eps));
    this.q_proj = this.sub(new Linear(this.at("self_attn.q_proj"), D, D));
    this.k_proj = this.sub(new Linear(this.at("self_attn.k_proj"), D, D));
    this.v_proj = this.sub(new Linear(this.at("self_attn.v_proj"), D, D));
    this.out_proj = this.sub(new Linear(this.at("self_attn.out_proj"), D, D));
    this.layer_norm2 = this.sub(new LayerNorm(this.at("layer_norm2"), D, c.layer_norm_eps));
    this.fc1 = this.sub(new Linear(this.at("mlp.fc1"), D, c.intermediate_size));
    this.fc2 = this.sub(new Linear(this.at("mlp.fc2"), c.intermediate_size, D));
  }

  /** x: [B, L, D] -> [B, L, D]; causal self-attention (a token sees itself and earlier tokens). */
  forward(ctx: GpuContext, x: Tensor): Tensor {
    const n = this.layer_norm1.forward(ctx, x);
    const q = this.q_proj.forward(ctx, n), k = this.k_proj.forward(ctx, n), v = this.v_proj.forward(ctx, n);
    const a = attention(ctx, q, k, v, this.c.num_attention_heads, { causal: true });
    const h = this.out_proj.forward(ctx, a, x); // residual adds in the GEMM epilogues
    return this.fc2.forward(ctx, gelu(ctx, this.fc1.forward(ctx, this.layer_norm2.forward(ctx, h))), h);
  }
}

export class TextEncoder extends Module {
  readonly config: TextEncoderConfig;
  readonly tokenEmbedding: Tensor;
  readonly positionEmbedding: Tensor;
  readonly layers: EncoderLayer[];
  readonly final_layer_norm: LayerNorm;

  /** Parameters live under "text_model." as in CLIPTextModel. */
  constructor(init: Init, config: Partial<TextEncoderConfig> | Record<string, unknown> = {}) {
    super(init);
    const c = this.config = textEncoderConfig(config as Record<string, unknown>);
    this.tokenEmbedding =
      this.sub(new Table(this.at("text_model.embeddings.token_embedding"), c.vocab_size, c.hidden_size))
        .weight;
    this.positionEmbedding = this.sub(
      new Table(
        this.at("text_model.embeddings.position_embedding"),
        c.max_position_embeddings,
        c.hidden_size,
      ),
    ).weight;
    this.layers = Array.from(
      { length: c.num_hidden_layers },
      (_, i) => this.sub(new EncoderLayer(this.at(`text_model.encoder.layers.${i}`), c)),
    );
    this.final_layer_norm = this.sub(
      new LayerNorm(this.at("text_model.final_layer_norm"), c.hidden_size, c.layer_norm_eps),
    );
  }

  /** ids: [B][L] token ids (L <= max_position_embeddings) -> last hidden state [B, L, hidden_size]. */
  forward(ctx: GpuContext, ids: readonly (readonly number[])[]): Tensor {
    const c = this.config, B = ids.length, L = ids[0]?.length ?? 0;
    if (!B || !L || L > c.max_position_embeddings) {
      throw new Error(`text encoder: ${B}x${L} ids (need B >= 1, 1 <= L <= ${c.max_position_embeddings})`);
    }
    const oneHot = new Float32Array(B * L * c.vocab_size);
    ids.forEach((row, b) => {
      if (row.length !== L) throw new Error(`text encoder: row ${b} has ${row.length} ids, row 0 has ${L}`);
      row.forEach((id, j) => {
        if (!Number.isInteger(id) || id < 0 || id >= c.vocab_size) {
          throw new Error(`text encoder: token id ${id} outside [0, ${c.vocab_size})`);
        }
        oneHot[(b * L + j) * c.vocab_size + id] = 1;
      });
    });
    const tok = matmul(ctx, tensor(ctx, oneHot, [B * L, c.vocab_size]), this.tokenEmbedding); // [B*L, D]
    const pos = slice(ctx, this.positionEmbedding, 0, 0, L); // [L, D]
    let h = add(ctx, reshape(ctx, tok, [B, L, c.hidden_size]), pos);
    for (const layer of this.layers) h = layer.forward(ctx, h);
    return this.final_layer_norm.forward(ctx, h);
  }
}

/** An embedding table [n, D] named "<prefix>.weight", N(0, 0.02) as CLIP initialises it. */
class Table extends Module {
  readonly weight: Tensor;
  constructor(init: Init, n: number, dim: number) {
    super(init);
    this.weight = this.param("weight", [n, dim], { kind: "normal", std: 0.02 });
  }
}
