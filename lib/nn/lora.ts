// LoRA on a UNet's Linear layers, as peft / diffusers 0.30 define it: for each targeted layer
//   y = W x + b + scale * up(down(x)),  down [rank, in], up [out, rank], scale = multiplier * alpha / rank
// Targets follow peft's target_modules: a layer matches when its name is a target or ends with
// "." + target (default: the attention projections to_q, to_k, to_v, to_out.0). A LoraSet holds one
// set of adapters; several sets share one frozen base UNet (the policy and the reference model of
// preference training), each LoraUNet attaching its own set before every forward.
//   File: pytorch_lora_weights.safetensors in the key format diffusers 0.30's train_text_to_image_lora
//   writes ("unet.<layer>.lora.down.weight" / ".lora.up.weight", no alpha stored, so diffusers loads it
//   with alpha = rank: the written up matrices carry alpha / rank). Reads that format, peft's
//   ("lora_A" / "lora_B"), and the old attention-processor one ("attn1.processor.to_q_lora.down").
import type { GpuContext } from "../gpu/context.ts";
import { readSafetensors, type StInput } from "../io/safetensors.ts";
import { matmul } from "../ops/matmul.ts";
import { accumulate } from "../ops/scale.ts";
import { parameter, readAll, type Tensor } from "../tensor/tensor.ts";
import { Rng } from "../util/rng.ts";
import { Linear } from "./layers.ts";
import type { StateEntry } from "./module.ts";
import type { UNet2DConditionModel } from "./unet.ts";
import type { UNetConfig } from "./unet_config.ts";

export interface LoraConfig {
  rank: number;
  alpha: number;
  /** peft target_modules: layer names or name suffixes. */
  targets: string[];
}

export const DEFAULT_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"];
export const LORA_FILE = "pytorch_lora_weights.safetensors";

interface Layer {
  name: string;
  linear: Linear;
  down: Tensor;
  up: Tensor;
}

/** The Linear layers of `unet` that peft's target_modules would adapt, by full name. */
export function loraTargets(unet: UNet2DConditionModel, targets: readonly string[]): Map<string, Linear> {
  const out = new Map<string, Linear>();
  for (const m of unet.modules()) {
    if (m instanceof Linear && targets.some((t) => m.prefix === t || m.prefix.endsWith("." + t))) {
      out.set(m.prefix, m);
    }
  }
  return out;
}

export class LoraSet {
  private constructor(readonly layers: Layer[], readonly rank: number, readonly alpha: number) {}

  /**
   * Fresh adapters on every targeted layer: down ~ N(0, 1/rank^2) and up = 0 (peft's "gaussian" init,
   * as diffusers' LoRA training script asks for), so the adapted UNet starts equal to its base.
   */
  static create(ctx: GpuContext, unet: UNet2DConditionModel, c: LoraConfig, seed = 0): LoraSet {
    validateLora(c);
    const found = loraTargets(unet, c.targets);
    if (!found.size) throw new Error(`lora: no Linear layer matches targets ${JSON.stringify(c.targets)}`);
    const layers = [...found].map(([name, linear]) => {
      const down = new Float32Array(c.rank * linear.inFeatures);
      new Rng(seed).fork(`${name}.lora.down`).fillNormal(down, 0, 1 / c.rank);
      return {
        name,
        linear,
        down: parameter(ctx, down, [c.rank, linear.inFeatures], `${name}.lora.down.weight`),
        up: parameter(
          ctx,
          new Float32Array(linear.outFeatures * c.rank),
          [linear.outFeatures, c.rank],
          `${name}.lora.up.weight`,
        ),
      };
    });
    return new LoraSet(layers, c.rank, c.alpha);
  }

  /**
   * Adapters read from a diffusers / peft LoRA file (`where` names it in errors), for the layers it
   * names. No alpha is stored in these files: diffusers then uses alpha = rank, and so does this.
   */
  static fromEntries(
    ctx: GpuContext,
    unet: UNet2DConditionModel,
    entries: ReadonlyMap<string, StateEntry>,
    where: string,
  ): LoraSet {
    const pairs = new Map<string, { down?: StateEntry; up?: StateEntry }>();
    for (const [key, e] of entries) {
      const k = loraKey(key);
      if (!k) {
        throw new Error(
          `${where}: tensor ${key} is not a UNet LoRA weight (expected unet.<layer>.lora.down/up.weight, ` +
            `lora_A/lora_B, or the old processor format; text-encoder and kohya-style LoRAs are not supported)`,
        );
      }
      const p = pairs.get(k.layer) ?? {};
      p[k.part] = e;
      pairs.set(k.layer, p);
    }
    const found = loraTargets(unet, [...pairs.keys()]);
    const layers: Layer[] = [];
    let rank = 0;
    for (const [name, p] of pairs) {
      const linear = found.get(name);
      if (!linear || linear.prefix !== name) {
        throw new Error(`${where}: ${name}: no such Linear layer in the UNet`);
      }
      if (!p.down || !p.up) throw new Error(`${where}: ${name}: has only one of lora down / up`);
      const r = p.down.shape[0];
      const dOk = p.down.data.length === r * linear.inFeatures,
        uOk = p.up.data.length === linear.outFeatures * r;
      if (!dOk || !uOk || p.up.shape[1] !== r) {
        throw new Error(
          `${where}: ${name}: down [${p.down.shape}] / up [${p.up.shape}] do not fit ` +
            `[rank, ${linear.inFeatures}] / [${linear.outFeatures}, rank]`,
        );
      }
      if (rank && r !== rank) throw new Error(`${where}: ${name}: rank ${r}, other layers have ${rank}`);
      rank = r;
      layers.push({
        name,
        linear,
        down: parameter(ctx, p.down.data, [r, linear.inFeatures], `${name}.lora.down.weight`),
        up: parameter(ctx, p.up.data, [linear.outFeatures, r], `${name}.lora.up.weight`),
      });
    }
    if (!layers.length) throw new Error(`${where}: no LoRA weights`);
    return new LoraSet(layers, rank, rank);
  }

  static async load(ctx: GpuContext, unet: UNet2DConditionModel, path: string): Promise<LoraSet> {
    const { tensors } = await readSafetensors(ctx.host, path);
    return LoraSet.fromEntries(ctx, unet, tensors, path);
  }

  /** alpha / rank. */
  get scale(): number {
    return this.alpha / this.rank;
  }

  /** The adapter tensors by name (`<layer>.lora.down.weight`, `<layer>.lora.up.weight`). */
  tensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const l of this.layers) out.set(l.down.name, l.down).set(l.up.name, l.up);
    return out;
  }

  /** Attaches these adapters to their layers (replacing whatever set was attached). */
  activate(multiplier = 1) {
    for (const l of this.layers) l.linear.lora = { down: l.down, up: l.up, scale: multiplier * this.scale };
  }

  /** Detaches every adapter from the layers this set targets. */
  deactivate() {
    for (const l of this.layers) l.linear.lora = null;
  }

  /** W += multiplier * alpha / rank * up @ down in every targeted layer (diffusers' fuse_lora). */
  merge(ctx: GpuContext, multiplier = 1) {
    ctx.noGrad(() => {
      for (const l of this.layers) {
        const delta = matmul(ctx, l.up, l.down); // [out, in]
        accumulate(ctx, l.linear.weight, delta, multiplier * this.scale);
        delta.dispose();
      }
    });
  }

  /**
   * The file diffusers' load_lora_weights reads: "unet."-prefixed keys, up scaled by alpha / rank
   * (it assumes alpha = rank), conv-shaped layers (1x1 proj_in / proj_out) as [*, *, 1, 1].
   */
  async fileTensors(ctx: GpuContext): Promise<StInput[]> {
    const data = await readAll(ctx, this.layers.flatMap((l) => [l.down, l.up]));
    return this.layers.flatMap((l, i) => {
      const conv = l.linear.weight.shape.length === 4 ? [1, 1] : [];
      const up = data[2 * i + 1].map((v) => v * this.scale);
      return [
        {
          name: `unet.${l.name}.lora.down.weight`,
          shape: [this.rank, l.linear.inFeatures, ...conv],
          data: data[2 * i],
        },
        {
          name: `unet.${l.name}.lora.up.weight`,
          shape: [l.linear.outFeatures, this.rank, ...conv],
          data: up,
        },
      ];
    });
  }

  dispose() {
    this.deactivate();
    for (const t of this.tensors().values()) {
      if (t.grad) {
        t.grad.persistent = false;
        t.grad.dispose();
        t.grad = null;
      }
      t.persistent = false;
      t.dispose();
    }
  }
}

/** A file key -> the layer it adapts and which matrix, or null when it is not a UNet LoRA key. */
export function loraKey(key: string): { layer: string; part: "down" | "up" } | null {
  let k = key.replace(/^base_model\.model\./, "");
  if (!k.startsWith("unet.")) return null;
  k = k.slice(5);
  // Old attention-processor names: attn1.processor.to_q_lora.down.weight -> attn1.to_q.lora.down.weight
  k = k.replace(/\.processor\.(to_q|to_k|to_v)_lora\./, ".$1.lora.").replace(
    /\.processor\.to_out_lora\./,
    ".to_out.0.lora.",
  );
  const m = /^(.+)\.(lora\.down|lora\.up|lora_A|lora_B)\.weight$/.exec(k);
  if (!m) return null;
  return { layer: m[1], part: m[2] === "lora.down" || m[2] === "lora_A" ? "down" : "up" };
}

/** A trainer config's lora section -> the adapters to create (rank 0: none; alpha 0: alpha = rank). */
export function loraFromConfig(
  c: { rank: number; alpha: number; targets: string[] },
): LoraConfig | undefined {
  if (c.rank === 0) return undefined;
  const l = { rank: c.rank, alpha: c.alpha || c.rank, targets: [...c.targets] };
  validateLora(l);
  return l;
}

export function validateLora(c: LoraConfig, where = "lora") {
  if (!Number.isInteger(c.rank) || c.rank < 1) {
    throw new Error(`${where}.rank = ${c.rank} must be an integer >= 1`);
  }
  if (!(c.alpha > 0)) throw new Error(`${where}.alpha = ${c.alpha} must be > 0`);
  if (!Array.isArray(c.targets) || !c.targets.length || c.targets.some((t) => typeof t !== "string" || !t)) {
    throw new Error(`${where}.targets = ${JSON.stringify(c.targets)} must list layer names`);
  }
}

/**
 * A UNet with one LoRA set attached on every forward: what a bundle's `unet` is during LoRA training.
 * Its parameters are the adapters only (what the optimizer, the checkpoint pool and the trainer state
 * hold); the base UNet is shared and frozen. dispose() frees the adapters, not the base.
 */
export class LoraUNet {
  constructor(readonly base: UNet2DConditionModel, readonly set: LoraSet, readonly multiplier = 1) {
    base.setTrainable(false);
  }

  get config(): UNetConfig {
    return this.base.config;
  }

  /** sample [B, C, H, W], timesteps B numbers, encoderHidden [B, L, D], keyMask [B, L] -> eps. */
  forward(
    ctx: GpuContext,
    sample: Tensor,
    timesteps: readonly number[],
    encoderHidden: Tensor,
    keyMask: Tensor | null = null,
  ): Tensor {
    this.set.activate(this.multiplier);
    return this.base.forward(ctx, sample, timesteps, encoderHidden, keyMask);
  }

  parameters(): Map<string, Tensor> {
    return this.set.tensors();
  }

  paramList(): Tensor[] {
    return [...this.parameters().values()];
  }

  numParams(): number {
    let n = 0;
    for (const t of this.parameters().values()) n += t.size;
    return n;
  }

  setTrainable(on: boolean) {
    for (const t of this.parameters().values()) t.requiresGrad = on;
  }

  async stateDict(): Promise<Map<string, StateEntry>> {
    const list = [...this.parameters()];
    const data = await readAll(this.base.ctx, list.map(([, t]) => t));
    return new Map(list.map(([k, t], i) => [k, { shape: [...t.shape], data: data[i] }]));
  }

  dispose() {
    this.set.dispose();
  }
}
