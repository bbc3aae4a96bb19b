// GEGLU after the projection (diffusers' GEGLU): x: [R, 2D] -> y: [R, D],
// y[r, d] = x[r, d] * gelu(x[r, D + d]) (hidden, gate = x.chunk(2, -1)), exact erf gelu.
// One thread per output element on a grid [D / WG, rows] (row r = wid.y + wid.z * nwg.y: no division
// per element); the backward thread writes both input gradients of its element:
//   gx[r, d] = gy * gelu(gate),  gx[r, D + d] = gy * hidden * gelu'(gate).
override WG: u32 = 64u;

struct Params { R: u32, D: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

// Same erf and gelu as kernels/unary.wgsl (OP 1), so GEGLU and gelu agree bit for bit.
// erf, Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, below f32 resolution of the result).
fn erf_approx(v: f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(v) * (1.0 - poly * exp(-a * a));
}
fn cdf(v: f32) -> f32 { return 0.5 * (1.0 + erf_approx(v * 0.70710678118654752)); }

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u,
           @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.y + wid.z * nwg.y;
  if (gid.x >= p.D || r >= p.R) { return; }
  let i = r * p.D + gid.x;
  let h = r * 2u * p.D + gid.x; // hidden index in x; the gate is D further
  let g = x[h + p.D];
  y[i] = x[h] * g * cdf(g);
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u,
            @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.y + wid.z * nwg.y;
  if (gid.x >= p.D || r >= p.R) { return; }
  let i = r * p.D + gid.x;
  let h = r * 2u * p.D + gid.x;
  let g = x[h + p.D];
  let c = cdf(g);
  let go = gy[i];
  gx[h] = go * g * c;
  gx[h + p.D] = go * x[h] * (c + g * 0.39894228040143268 * exp(-0.5 * g * g));
}
