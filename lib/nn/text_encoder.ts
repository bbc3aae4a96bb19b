// A CLIP-text-like encoder (transformers' CLIPTextModel names): token + position embeddings, pre-norm
// layers with causal self-attention and an MLP, final layer norm. Token lookup is one-hot @ table,
// which is exact and gives the table's gradient through matmul (WGSL has no f32 atomic scatter-add).
import type { GpuContext } from "../gpu/context.ts";
import { attention } from "../ops/attention.ts";
import { add } from "../ops/binary.ts";
import { reshape, slice } from "../ops/copy.ts";
import { matmul } from "../ops/matmul.ts";
import { gelu, quickGelu } from "../ops/unary.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { LayerNorm, Linear } from "./layers.ts";
import { type Init, Module } from "./module.ts";

/** transformers' CLIPTextConfig keys that change the computation (the rest are listed below). */
export interface TextEncoderConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  layer_norm_eps: number;
  /** "gelu" (erf form) or "quick_gelu" (x * sigmoid(1.702 x), CLIP and SD-1.x). */
  hidden_act: "gelu" | "quick_gelu";
  /** Where the pooled output is read: see pooledIndex(). transformers' defaults below. */
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
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
  // CLIPTextConfig's defaults (what transformers assumes when a config.json lacks them).
  bos_token_id: 49406,
  eos_token_id: 49407,
  pad_token_id: 1,
};

// CLIPTextConfig / PretrainedConfig keys with no effect on CLIPTextModel's text path (initialisation,
// bookkeeping, the projection of CLIPTextModelWithProjection, generation settings that old
// transformers versions wrote into every config). Accepted and ignored.
const TEXT_IGNORED = new Set([
  "architectures",
  "torch_dtype",
  "transformers_version",
  "initializer_range",
  "initializer_factor",
  "projection_dim",
  "return_dict",
  "output_hidden_states",
  "output_attentions",
  "torchscript",
  "use_bfloat16",
  "tf_legacy_loss",
  "pruned_heads",
  "tie_word_embeddings",
  "chunk_size_feed_forward",
  "is_encoder_decoder",
  "is_decoder",
  "cross_attention_hidden_size",
  "add_cross_attention",
  "tie_encoder_decoder",
  "max_length",
  "min_length",
  "do_sample",
  "early_stopping",
  "num_beams",
  "num_beam_groups",
  "diversity_penalty",
  "temperature",
  "top_k",
  "top_p",
  "typical_p",
  "repetition_penalty",
  "length_penalty",
  "no_repeat_ngram_size",
  "encoder_no_repeat_ngram_size",
  "bad_words_ids",
  "num_return_sequences",
  "output_scores",
  "return_dict_in_generate",
  "forced_bos_token_id",
  "forced_eos_token_id",
  "remove_invalid_values",
  "exponential_decay_length_penalty",
  "suppress_tokens",
  "begin_suppress_tokens",
  "finetuning_task",
  "id2label",
  "label2id",
  "tokenizer_class",
  "prefix",
  "sep_token_id",
  "decoder_start_token_id",
  "task_specific_params",
  "problem_type",
]);
// Keys accepted only at the value modelled here (no dropout path; the CLIP text tower).
const TEXT_FIXED: Record<string, unknown> = {
  dropout: 0,
  attention_dropout: 0,
  model_type: "clip_text_model",
};

/** A CLIPTextConfig (config.json as transformers writes it) over the tiny defaults, validated. */
export function textEncoderConfig(
  raw: Record<string, unknown> = {},
  where = "text encoder config",
): TextEncoderConfig {
  const c: Record<string, unknown> = { ...TINY_TEXT };
  for (const [k, v] of Object.entries(raw)) {
    if (k in TINY_TEXT) c[k] = v;
    else if (k in TEXT_FIXED) {
      if (v !== TEXT_FIXED[k]) {
        throw new Error(
          `${where}: ${k} = ${JSON.stringify(v)} is not supported (only ${JSON.stringify(TEXT_FIXED[k])})`,
        );
      }
    } else if (!k.startsWith("_") && !TEXT_IGNORED.has(k)) {
      throw new Error(`${where}: unknown key ${k} = ${JSON.stringify(v)}`);
    }
  }
  const arch = raw.architectures;
  if (
    arch !== undefined &&
    !(Array.isArray(arch) && arch.every((a) => a === "CLIPTextModel" || a === "CLIPTextModelWithProjection"))
  ) {
    throw new Error(`${where}: architectures = ${JSON.stringify(arch)} (only CLIPTextModel is supported)`);
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
  for (const k of ["bos_token_id", "eos_token_id", "pad_token_id"] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 0) bad(k, "must be an integer >= 0");
  }
  if (t.hidden_size % t.num_attention_heads) {
    bad("num_attention_heads", `does not divide hidden_size ${t.hidden_size}`);
  }
  if (t.hidden_act !== "gelu" && t.hidden_act !== "quick_gelu") {
    bad("hidden_act", "is not gelu or quick_gelu");
  }
  if (!(t.layer_norm_eps > 0)) bad("layer_norm_eps", "must be > 0");
  return t;
}

/** The config.json transformers' CLIPTextModel.from_pretrained reads (its own key set and order). */
export function clipTextConfigJson(c: TextEncoderConfig): Record<string, unknown> {
  return {
    architectures: ["CLIPTextModel"],
    attention_dropout: 0.0,
    bos_token_id: c.bos_token_id,
    dropout: 0.0,
    eos_token_id: c.eos_token_id,
    hidden_act: c.hidden_act,
    hidden_size: c.hidden_size,
    initializer_factor: 1.0,
    initializer_range: 0.02,
    intermediate_size: c.intermediate_size,
    layer_norm_eps: c.layer_norm_eps,
    max_position_embeddings: c.max_position_embeddings,
    model_type: "clip_text_model",
    num_attention_heads: c.num_attention_heads,
    num_hidden_layers: c.num_hidden_layers,
    pad_token_id: c.pad_token_id,
    projection_dim: c.hidden_size,
    torch_dtype: "float32",
    transformers_version: "4.44.2",
    vocab_size: c.vocab_size,
  };
}

/**
 * Where transformers' CLIPTextTransformer reads pooler_output in a row of ids: the largest id when
 * eos_token_id is 2 (its legacy rule, for SD-1.x-era configs), else the first eos_token_id (0 if none).
 */
export function pooledIndex(row: readonly number[], eosTokenId: number): number {
  let at = 0;
  if (eosTokenId === 2) {
    row.forEach((id, i) => id > row[at] && (at = i));
    return at;
  }
  const i = row.indexOf(eosTokenId);
  return i < 0 ? 0 : i;
}

export interface TextEncodeOptions {
  /**
   * diffusers' clip_skip: 0 = last_hidden_state; k > 0 = the output of layer N - k put through
   * final_layer_norm (StableDiffusionPipeline(clip_skip = k)).
   */
  clipSkip?: number;
  /** Also return pooler_output [B, D] (last_hidden_state at pooledIndex). */
  pooled?: boolean;
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
    const act = this.c.hidden_act === "quick_gelu" ? quickGelu : gelu;
    return this.fc2.forward(ctx, act(ctx, this.fc1.forward(ctx, this.layer_norm2.forward(ctx, h))), h);
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
    return this.encode(ctx, ids).hidden;
  }

  /**
   * ids: [B][L] -> hidden [B, L, D] (last_hidden_state, or a clip-skipped layer) and, when asked,
   * pooled [B, D] (transformers' pooler_output, always from last_hidden_state).
   */
  encode(
    ctx: GpuContext,
    ids: readonly (readonly number[])[],
    o: TextEncodeOptions = {},
  ): { hidden: Tensor; pooled: Tensor | null } {
    const c = this.config, B = ids.length, L = ids[0]?.length ?? 0;
    const skip = o.clipSkip ?? 0;
    if (!Number.isInteger(skip) || skip < 0 || skip >= c.num_hidden_layers) {
      throw new Error(
        `text encoder: clip_skip ${skip} must be an integer in [0, ${c.num_hidden_layers - 1}]`,
      );
    }
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
    const need = o.pooled ? c.num_hidden_layers : c.num_hidden_layers - skip;
    let skipped: Tensor | null = null;
    for (let i = 0; i < need; i++) {
      h = this.layers[i].forward(ctx, h);
      if (skip > 0 && i === c.num_hidden_layers - skip - 1) skipped = h;
    }
    const last = skip > 0 && !o.pooled ? null : this.final_layer_norm.forward(ctx, h);
    const hidden = skipped ? this.final_layer_norm.forward(ctx, skipped) : last!;
    if (!o.pooled) return { hidden, pooled: null };
    // pooled = onehot [B, B*L] @ last [B*L, D]: an exact row gather with a gradient.
    const pick = new Float32Array(B * B * L);
    ids.forEach((row, b) => pick[b * B * L + b * L + pooledIndex(row, c.eos_token_id)] = 1);
    const pooled = matmul(ctx, tensor(ctx, pick, [B, B * L]), reshape(ctx, last!, [B * L, c.hidden_size]));
    return { hidden, pooled };
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
