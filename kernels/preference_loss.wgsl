// The SePPO / Diffusion-DPO loss family, one invocation per example (SEPPO.md):
//   D_w = e(theta, x_w) - e(r, x_w),  D_l = e(theta, x_l) - e(r, x_l)
//   s   = AAF factor from the anchor (no gradient): sign: +1 if e(r, x_w) > e(theta, x_w) else -1;
//         indicator: 1 or 0 under the same test; off: +1
//   z   = -(beta / 2) * (D_w - s * D_l),  loss = -log sigmoid(z) = softplus(-z)
//   dloss/de(theta, x_w) = (beta/2) sigmoid(-z),  dloss/de(theta, x_l) = -(beta/2) s sigmoid(-z)
// MODE (override): 0 preference (uses AAF), 1 sft (loss = e(theta, x_w), gradient 1).
// AAF (override): 0 sign, 1 indicator, 2 off.
// Outputs per example: loss, dw, dl (gradients wrt the policy errors), s, z.
override MODE: u32 = 0u;
override AAF: u32 = 0u;
override WG: u32 = 64u;

struct Params { n: u32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ethw: array<f32>;
@group(0) @binding(2) var<storage, read> erw: array<f32>;
@group(0) @binding(3) var<storage, read> ethl: array<f32>;
@group(0) @binding(4) var<storage, read> erl: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;
@group(0) @binding(7) var<storage, read_write> dl: array<f32>;
@group(0) @binding(8) var<storage, read_write> sOut: array<f32>;
@group(0) @binding(9) var<storage, read_write> zOut: array<f32>;
// backward: gw = gy * dw, gl = gy * dl
@group(0) @binding(10) var<storage, read> gy: array<f32>;
@group(0) @binding(11) var<storage, read> dwIn: array<f32>;
@group(0) @binding(12) var<storage, read> dlIn: array<f32>;
@group(0) @binding(13) var<storage, read_write> gw: array<f32>;
@group(0) @binding(14) var<storage, read_write> gl: array<f32>;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
// softplus(v) = log(1 + e^v) without overflow.
fn softplus(v: f32) -> f32 { return max(v, 0.0) + log(1.0 + exp(-abs(v))); }

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u) {
  let b = gid.x;
  if (b >= p.n) { return; }
  if (MODE == 1u) {
    loss[b] = ethw[b];
    dw[b] = 1.0;
    dl[b] = 0.0;
    sOut[b] = 0.0;
    zOut[b] = 0.0;
    return;
  }
  let policyBetter = erw[b] > ethw[b];
  var s = 1.0;
  if (AAF == 0u) { s = select(-1.0, 1.0, policyBetter); }
  if (AAF == 1u) { s = select(0.0, 1.0, policyBetter); }
  let dW = ethw[b] - erw[b];
  let dL = ethl[b] - erl[b];
  let z = -0.5 * p.beta * (dW - s * dL);
  let sg = sigmoid(-z);
  loss[b] = softplus(-z);
  dw[b] = 0.5 * p.beta * sg;
  dl[b] = -0.5 * p.beta * s * sg;
  sOut[b] = s;
  zOut[b] = z;
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u) {
  let b = gid.x;
  if (b >= p.n) { return; }
  gw[b] = gy[b] * dwIn[b];
  gl[b] = gy[b] * dlIn[b];
}
