// Elementwise binary ops with NumPy broadcasting: out[i] = a[ia] OP b[ib], where ia and ib come
// from the output index through per-input strides (0 on broadcast axes), axes coalesced by the
// wrapper. Three walks, by what the coalesced shape allows (integer division by runtime values is
// what costs on the software adapter, not the bytes):
//   flat     one axis: ia = i * sa (sa, sb in {0, 1}: same shape, or a scalar)
//   grid     2-4 axes [d0, d1, d2, d3] on a grid [d3 / WG, d2, d0 * d1]: indices from the grid, one
//            division per workgroup (bias and per-channel broadcasts)
//   forward  rank <= 8, div/mod per axis per element
// OP (override): 0 add, 1 sub, 2 mul, 3 div. Backward rules are compositions (lib/ops/binary.ts).
override OP: u32 = 0u;
override WG: u32 = 64u;

struct Params {
  n: u32,
  rank: u32,
  pad0: u32,
  pad1: u32,
  dims: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn apply(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    default: { return x / y; }
  }
}

@compute @workgroup_size(WG)
fn flat(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  out[i] = apply(a[i * p.sa[0].x], b[i * p.sb[0].x]);
}

@compute @workgroup_size(WG)
fn grid(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let d = p.dims[0];
  let i3 = gid.x;
  if (i3 >= d.w) { return; }
  let i2 = wid.y;
  let i0 = wid.z / d.y;
  let i1 = wid.z - i0 * d.y;
  let o = ((wid.z * d.z + i2) * d.w) + i3;
  let ia = dot(vec4u(i0, i1, i2, i3), p.sa[0]);
  let ib = dot(vec4u(i0, i1, i2, i3), p.sb[0]);
  out[o] = apply(a[ia], b[ib]);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = p.dims[k / 4][k % 4];
    let idx = rem % d;
    rem = rem / d;
    ia += idx * p.sa[k / 4][k % 4];
    ib += idx * p.sb[k / 4][k % 4];
  }
  out[i] = apply(a[ia], b[ib]);
}
