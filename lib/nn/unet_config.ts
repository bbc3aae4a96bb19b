// UNet2DConditionModel config: diffusers' config.json keys and meaning, defaults for the tiny
// 16x16 model of this project, validation that names the bad key and where it came from.

export type DownBlockType = "CrossAttnDownBlock2D" | "DownBlock2D";
export type UpBlockType = "CrossAttnUpBlock2D" | "UpBlock2D";

export interface UNetConfig {
  sample_size: number;
  in_channels: number;
  out_channels: number;
  /** Timestep embedding: [cos, sin] when true (SD-1.5: true). */
  flip_sin_to_cos: boolean;
  /** diffusers' downscale_freq_shift (SD-1.5: 0). */
  freq_shift: number;
  down_block_types: DownBlockType[];
  mid_block_type: "UNetMidBlock2DCrossAttn";
  up_block_types: UpBlockType[];
  block_out_channels: number[];
  layers_per_block: number;
  downsample_padding: number;
  mid_block_scale_factor: number;
  act_fn: "silu";
  norm_num_groups: number;
  norm_eps: number;
  cross_attention_dim: number;
  /** In SD-1.5 configs this is the number of heads (diffusers' historical naming). Int or per block. */
  attention_head_dim: number | number[];
  /**
   * Always null: diffusers 0.30's UNet2DConditionModel refuses any other value ("a naming issue",
   * it says) and takes the heads from attention_head_dim. (UNetMotionModel's num_attention_heads is
   * read by lib/nn/unet_motion.ts and stored here as attention_head_dim.)
   */
  num_attention_heads: null;
  use_linear_projection: boolean;
  transformer_layers_per_block: number;
  /**
   * "text": diffusers' TextTimeEmbedding (add_embedding), a pooled text embedding added to the
   * timestep embedding (global conditioning for every ResNet block). null: none.
   */
  addition_embed_type: "text" | null;
  /** Heads of add_embedding's attention pooling (diffusers default 64); must divide cross_attention_dim. */
  addition_embed_type_num_heads: number;
}

/** The tiny default (16x16 RGB pixels, ~1M parameters). */
export const TINY_UNET: UNetConfig = {
  sample_size: 16,
  in_channels: 3,
  out_channels: 3,
  flip_sin_to_cos: true,
  freq_shift: 0,
  down_block_types: ["CrossAttnDownBlock2D", "DownBlock2D"],
  mid_block_type: "UNetMidBlock2DCrossAttn",
  up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D"],
  block_out_channels: [32, 64],
  layers_per_block: 1,
  downsample_padding: 1,
  mid_block_scale_factor: 1,
  act_fn: "silu",
  norm_num_groups: 8,
  norm_eps: 1e-5,
  cross_attention_dim: 64,
  attention_head_dim: 4,
  num_attention_heads: null,
  use_linear_projection: true,
  transformer_layers_per_block: 1,
  addition_embed_type: null,
  addition_embed_type_num_heads: 64,
};

// Keys of diffusers' config that this implementation does not model: accepted only at their
// diffusers default (so SD-1.5-style configs load), refused otherwise.
const MUST_BE_DEFAULT: Record<string, unknown> = {
  center_input_sample: false,
  class_embed_type: null,
  encoder_hid_dim: null,
  encoder_hid_dim_type: null,
  time_embedding_type: "positional",
  time_embedding_dim: null,
  time_embedding_act_fn: null,
  timestep_post_act: null,
  time_cond_proj_dim: null,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  resnet_time_scale_shift: "default",
  resnet_skip_time_act: false,
  resnet_out_scale_factor: 1.0,
  only_cross_attention: false,
  dual_cross_attention: false,
  class_embeddings_concat: false,
  mid_block_only_cross_attention: null,
  cross_attention_norm: null,
  projection_class_embeddings_input_dim: null,
  num_class_embeds: null,
  reverse_transformer_layers_per_block: null,
  dropout: 0.0,
};
// Accepted and without effect here (fp32 everywhere, no dropout path).
const IGNORED = new Set(["upcast_attention", "attention_type", "addition_time_embed_dim"]);

/** Merges a diffusers config.json object over the tiny defaults and validates it. */
export function unetConfig(raw: Record<string, unknown> = {}, where = "unet config"): UNetConfig {
  const out: Record<string, unknown> = { ...TINY_UNET };
  for (const [k, v] of Object.entries(raw)) {
    if (k.startsWith("_") || IGNORED.has(k)) continue;
    if (k in MUST_BE_DEFAULT) {
      if (
        JSON.stringify(v) !== JSON.stringify(MUST_BE_DEFAULT[k]) &&
        !(v === false && MUST_BE_DEFAULT[k] === null)
      ) {
        throw new Error(
          `${where}: ${k} = ${JSON.stringify(v)} is not supported (only ${
            JSON.stringify(MUST_BE_DEFAULT[k])
          })`,
        );
      }
      continue;
    }
    if (!(k in TINY_UNET)) throw new Error(`${where}: unknown key ${k} = ${JSON.stringify(v)}`);
    out[k] = v;
  }
  const c = out as unknown as UNetConfig;
  validateUNet(c, where);
  return c;
}

/** Heads per down block: attention_head_dim, one number or one per block (diffusers' SD-1.x naming). */
export function headsPerBlock(c: UNetConfig): number[] {
  const h = c.attention_head_dim;
  return Array.isArray(h) ? h : c.block_out_channels.map(() => h);
}

export function validateUNet(c: UNetConfig, where = "unet config") {
  const bad = (key: string, why: string): never => {
    throw new Error(
      `${where}: ${key} = ${JSON.stringify((c as unknown as Record<string, unknown>)[key])} ${why}`,
    );
  };
  const posInt = (k: keyof UNetConfig) => {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) < 1) bad(k, "must be a positive integer");
  };
  for (
    const k of ["sample_size", "in_channels", "out_channels", "layers_per_block", "norm_num_groups"] as const
  ) {
    posInt(k);
  }
  posInt("cross_attention_dim");
  const n = c.block_out_channels?.length ?? 0;
  if (
    !Array.isArray(c.block_out_channels) || n < 1 ||
    c.block_out_channels.some((v) => !Number.isInteger(v) || v < 1)
  ) {
    bad("block_out_channels", "must be a non-empty list of positive integers");
  }
  if (!Array.isArray(c.down_block_types) || c.down_block_types.length !== n) {
    bad("down_block_types", `must list ${n} blocks (one per block_out_channels entry)`);
  }
  if (!Array.isArray(c.up_block_types) || c.up_block_types.length !== n) {
    bad("up_block_types", `must list ${n} blocks (one per block_out_channels entry)`);
  }
  for (const t of c.down_block_types) {
    if (t !== "CrossAttnDownBlock2D" && t !== "DownBlock2D") bad("down_block_types", `has unsupported ${t}`);
  }
  for (const t of c.up_block_types) {
    if (t !== "CrossAttnUpBlock2D" && t !== "UpBlock2D") bad("up_block_types", `has unsupported ${t}`);
  }
  if (c.mid_block_type !== "UNetMidBlock2DCrossAttn") bad("mid_block_type", "is not UNetMidBlock2DCrossAttn");
  if (c.act_fn !== "silu") bad("act_fn", "is not silu");
  if (c.downsample_padding !== 1) bad("downsample_padding", "is not 1");
  if (c.transformer_layers_per_block !== 1) bad("transformer_layers_per_block", "is not 1");
  if (!(c.norm_eps > 0)) bad("norm_eps", "must be > 0");
  if (!(c.mid_block_scale_factor > 0)) bad("mid_block_scale_factor", "must be > 0");
  for (const ch of c.block_out_channels) {
    if (ch % c.norm_num_groups !== 0) {
      bad("norm_num_groups", `does not divide block_out_channels entry ${ch}`);
    }
  }
  if (c.num_attention_heads !== null) {
    bad(
      "num_attention_heads",
      "is refused by diffusers 0.30's UNet2DConditionModel; give the number of heads as attention_head_dim",
    );
  }
  const heads = headsPerBlock(c);
  const key = "attention_head_dim";
  if (heads.length !== n) bad(key, `must be one number or ${n} numbers`);
  heads.forEach((h, i) => {
    if (!Number.isInteger(h) || h < 1 || c.block_out_channels[i] % h !== 0) {
      bad(key, `gives ${h} heads for ${c.block_out_channels[i]} channels (block ${i}); need a divisor`);
    }
  });
  if (c.addition_embed_type !== null && c.addition_embed_type !== "text") {
    bad("addition_embed_type", 'is not supported (only null or "text")');
  }
  if (!Number.isInteger(c.addition_embed_type_num_heads) || c.addition_embed_type_num_heads < 1) {
    bad("addition_embed_type_num_heads", "must be a positive integer");
  }
  if (c.addition_embed_type === "text" && c.cross_attention_dim % c.addition_embed_type_num_heads !== 0) {
    bad(
      "addition_embed_type_num_heads",
      `does not divide cross_attention_dim ${c.cross_attention_dim} (addition_embed_type "text" pools over it)`,
    );
  }
  const down = 2 ** (n - 1);
  if (c.sample_size % down !== 0) bad("sample_size", `must be divisible by ${down} (${n - 1} downsamplings)`);
}

// Every key of diffusers 0.30's UNet2DConditionModel config, at its default where this project has
// no setting of its own (the modelled keys come from the config).
const UNET2D_DEFAULTS: Record<string, unknown> = {
  act_fn: "silu",
  addition_embed_type: null,
  addition_embed_type_num_heads: 64,
  addition_time_embed_dim: null,
  attention_head_dim: 8,
  attention_type: "default",
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  class_embed_type: null,
  class_embeddings_concat: false,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  cross_attention_dim: 1280,
  cross_attention_norm: null,
  down_block_types: [],
  downsample_padding: 1,
  dropout: 0.0,
  dual_cross_attention: false,
  encoder_hid_dim: null,
  encoder_hid_dim_type: null,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_only_cross_attention: null,
  mid_block_scale_factor: 1,
  mid_block_type: "UNetMidBlock2DCrossAttn",
  norm_eps: 1e-5,
  norm_num_groups: 32,
  num_attention_heads: null,
  num_class_embeds: null,
  only_cross_attention: false,
  out_channels: 4,
  projection_class_embeddings_input_dim: null,
  resnet_out_scale_factor: 1.0,
  resnet_skip_time_act: false,
  resnet_time_scale_shift: "default",
  reverse_transformer_layers_per_block: null,
  sample_size: null,
  time_cond_proj_dim: null,
  time_embedding_act_fn: null,
  time_embedding_dim: null,
  time_embedding_type: "positional",
  timestep_post_act: null,
  transformer_layers_per_block: 1,
  up_block_types: [],
  upcast_attention: false,
  use_linear_projection: false,
};

/** The config.json diffusers' UNet2DConditionModel.from_pretrained reads: every key, sorted as it writes them. */
export function unet2dConfigJson(c: UNetConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { _class_name: "UNet2DConditionModel", _diffusers_version: "0.30.3" };
  const own = c as unknown as Record<string, unknown>;
  for (const k of Object.keys(UNET2D_DEFAULTS).sort()) out[k] = k in own ? own[k] : UNET2D_DEFAULTS[k];
  return out;
}
