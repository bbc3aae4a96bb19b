// Elementwise unary functions y = f(x) and their backward gx = gy * f'(x).
// OP (override): 0 silu, 1 gelu (erf form), 2 exp, 3 log, 4 sqrt, 5 tanh, 6 sigmoid, 7 relu, 8 square,
// 9 quick_gelu (x * sigmoid(1.702 x): CLIP's activation, transformers' "quick_gelu").
override OP: u32 = 0u;
override WG: u32 = 64u;

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
// tanh through exp with clamping: avoids inf/inf for large |v|.
fn tanh_safe(v: f32) -> f32 { let e = exp(-2.0 * abs(clamp(v, -20.0, 20.0))); return sign(v) * (1.0 - e) / (1.0 + e); }
// erf, Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, below f32 resolution of the result).
fn erf_approx(v: f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(v) * (1.0 - poly * exp(-a * a));
}

fn f(v: f32) -> f32 {
  switch OP {
    case 0u: { return v * sigmoid(v); }
    case 1u: { return 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752)); }
    case 2u: { return exp(v); }
    case 3u: { return log(v); }
    case 4u: { return sqrt(v); }
    case 5u: { return tanh_safe(v); }
    case 6u: { return sigmoid(v); }
    case 7u: { return max(v, 0.0); }
    case 9u: { return v * sigmoid(1.702 * v); }
    default: { return v * v; }
  }
}

fn df(v: f32) -> f32 {
  switch OP {
    case 0u: { let s = sigmoid(v); return s * (1.0 + v * (1.0 - s)); }
    case 1u: {
      let cdf = 0.5 * (1.0 + erf_approx(v * 0.70710678118654752));
      return cdf + v * 0.39894228040143268 * exp(-0.5 * v * v);
    }
    case 2u: { return exp(v); }
    case 3u: { return 1.0 / v; }
    case 4u: { return 0.5 / sqrt(v); }
    case 5u: { let t = tanh_safe(v); return 1.0 - t * t; }
    case 6u: { let s = sigmoid(v); return s * (1.0 - s); }
    case 7u: { return select(0.0, 1.0, v > 0.0); }
    case 9u: { let s = sigmoid(1.702 * v); return s * (1.0 + 1.702 * v * (1.0 - s)); }
    default: { return 2.0 * v; }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { y[i] = f(x[i]); }
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { gx[i] = gy[i] * df(x[i]); }
}
