// Strided copy over an iteration shape (rank <= 8): dst[dOff + sum idx_k * ds_k] =
// src[sOff + sum idx_k * ss_k]. Serves permute (permuted source strides), expand (stride 0),
// slice (source offset), concat and slice-backward (destination offset and strides). Axes come
// coalesced from the wrapper; like binary.wgsl, `flat` walks one axis, `grid` 2-4 axes on a grid
// [d3 / WG, d2, d0 * d1] (no division per element), `forward` any rank with div/mod per axis.
// `fill` writes one value into dst[dOff .. dOff + n) (the value's f32 bits travel in srcOffset).
override WG: u32 = 64u;

struct Params {
  n: u32,
  rank: u32,
  srcOffset: u32,
  dstOffset: u32,
  dims: array<vec4u, 2>,
  ss: array<vec4u, 2>,
  ds: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  var rem = i;
  var si = p.srcOffset;
  var di = p.dstOffset;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = p.dims[k / 4][k % 4];
    let idx = rem % d;
    rem = rem / d;
    si += idx * p.ss[k / 4][k % 4];
    di += idx * p.ds[k / 4][k % 4];
  }
  dst[di] = src[si];
}

@compute @workgroup_size(WG)
fn flat(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  dst[p.dstOffset + i * p.ds[0].x] = src[p.srcOffset + i * p.ss[0].x];
}

@compute @workgroup_size(WG)
fn grid(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let d = p.dims[0];
  let i3 = gid.x;
  if (i3 >= d.w) { return; }
  let i0 = wid.z / d.y;
  let idx = vec4u(i0, wid.z - i0 * d.y, wid.y, i3);
  dst[p.dstOffset + dot(idx, p.ds[0])] = src[p.srcOffset + dot(idx, p.ss[0])];
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { dst[p.dstOffset + i] = bitcast<f32>(p.srcOffset); }
}
