// Float64 reference of kernels/preference_loss.wgsl (SEPPO.md's loss family).

export type AafMode = "sign" | "indicator" | "off";

export interface PreferenceRefOut {
  loss: number[];
  dw: number[];
  dl: number[];
  s: number[];
  z: number[];
}

const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Per-example loss and its gradients wrt the policy errors on the winner (dw) and loser slot (dl). */
export function preferenceLossRef(
  ethw: number[],
  erw: number[],
  ethl: number[],
  erl: number[],
  beta: number,
  aaf: AafMode,
  sft = false,
): PreferenceRefOut {
  const out: PreferenceRefOut = { loss: [], dw: [], dl: [], s: [], z: [] };
  ethw.forEach((_, b) => {
    if (sft) {
      out.loss.push(ethw[b]);
      out.dw.push(1);
      out.dl.push(0);
      out.s.push(0);
      out.z.push(0);
      return;
    }
    const better = erw[b] > ethw[b];
    const s = aaf === "off" ? 1 : aaf === "sign" ? (better ? 1 : -1) : (better ? 1 : 0);
    const z = -(beta / 2) * ((ethw[b] - erw[b]) - s * (ethl[b] - erl[b]));
    out.loss.push(softplus(-z));
    out.dw.push((beta / 2) * sigmoid(-z));
    out.dl.push(-(beta / 2) * s * sigmoid(-z));
    out.s.push(s);
    out.z.push(z);
  });
  return out;
}
