// Nearest-neighbour 2x upsample: x [B, C, H, W] -> y [B, C, 2H, 2W], y[., ., i, j] = x[., ., i/2, j/2].
// Backward: one thread per input pixel sums its 2x2 output block (no atomics, no scatter).
override WG: u32 = 64u;

struct Params { BC: u32, H: u32, W: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  let W2 = 2u * p.W;
  let H2 = 2u * p.H;
  if (o >= p.BC * H2 * W2) { return; }
  let j = o % W2;
  let i = (o / W2) % H2;
  let bc = o / (W2 * H2);
  y[o] = x[(bc * p.H + i / 2u) * p.W + j / 2u];
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.BC * p.H * p.W) { return; }
  let j = o % p.W;
  let i = (o / p.W) % p.H;
  let bc = o / (p.W * p.H);
  let W2 = 2u * p.W;
  let top = (bc * 2u * p.H + 2u * i) * W2 + 2u * j;
  gx[o] = (gy[top] + gy[top + 1u]) + (gy[top + W2] + gy[top + W2 + 1u]);
}
