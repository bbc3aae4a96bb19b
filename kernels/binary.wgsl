// Elementwise binary ops with NumPy broadcasting: out[i] = a[ia] OP b[ib], where ia and ib come
// from the output index through per-input strides (0 on broadcast axes). Rank <= 8.
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
  let x = a[ia];
  let y = b[ib];
  switch OP {
    case 0u: { out[i] = x + y; }
    case 1u: { out[i] = x - y; }
    case 2u: { out[i] = x * y; }
    default: { out[i] = x / y; }
  }
}
