// The loss family of SEPPO.md as one kernel (kernels/preference_loss.wgsl). Takes the four
// per-example errors [B] (policy and reference model, on the winner and on the loser slot) and
// returns the per-example loss [B] on the tape (gradients flow to the two policy errors), plus
// the AAF factors s [B] and the sigmoid arguments z [B] for logging (implicit accuracy: z > 0).
import { f32bits } from "../gpu/context.ts";
import { KernelFile } from "../gpu/kernel.ts";
import { empty, type Tensor } from "../tensor/tensor.ts";
import { type GpuContext, record } from "./util.ts";

const kernel = new KernelFile("preference_loss.wgsl");
const AAF = { sign: 0, indicator: 1, off: 2 } as const;
export type AafMode = keyof typeof AAF;

export interface PreferenceLossOptions {
  beta: number;
  aaf: AafMode;
  /** SFT: loss = e(theta, x_w); the other three errors are ignored. */
  sft?: boolean;
}

export interface PreferenceLossOut {
  loss: Tensor; // [B], recorded
  s: Tensor; // [B]
  z: Tensor; // [B]
}

export function preferenceLoss(
  ctx: GpuContext,
  ethw: Tensor,
  erw: Tensor,
  ethl: Tensor,
  erl: Tensor,
  o: PreferenceLossOptions,
): PreferenceLossOut {
  const B = ethw.size;
  for (const t of [erw, ethl, erl]) {
    if (t.size !== B) throw new Error(`preferenceLoss: ${t.describe()} does not match ${ethw.describe()}`);
  }
  if (erw.requiresGrad || erl.requiresGrad) {
    throw new Error("preferenceLoss: reference-model errors must be computed without gradient (ctx.noGrad)");
  }
  const overrides = { MODE: o.sft ? 1 : 0, AAF: AAF[o.aaf] };
  const [loss, dw, dl, s, z] = [0, 1, 2, 3, 4].map(() => empty(ctx, [B]));
  ctx.run(kernel, "forward", {
    buffers: [ethw, erw, ethl, erl, loss, dw, dl, s, z],
    params: [B, f32bits(o.beta)],
    groups: [Math.ceil(B / 64), 1, 1],
    overrides,
  });
  record(ctx, o.sft ? "sftLoss" : "preferenceLoss", [ethw, erw, ethl, erl], loss, (gy) => {
    const gw = empty(ctx, [B]), gl = empty(ctx, [B]);
    ctx.run(kernel, "backward", {
      buffers: [...Array(9).fill(null), gy, dw, dl, gw, gl],
      params: [B, f32bits(o.beta)],
      groups: [Math.ceil(B / 64), 1, 1],
      overrides,
    });
    return [gw.view(ethw.shape), null, gl.view(ethl.shape), null];
  });
  if (!loss.requiresGrad) {
    dw.dispose();
    dl.dispose();
  }
  return { loss, s, z };
}
