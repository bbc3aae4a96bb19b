// Reductions over chosen axes: one workgroup per output element; each thread strides over the
// reduced elements (trip count nRed / WG, kept < 65535 by the wrapper) and a shared-memory tree
// finishes. MODE (override): 0 sum of a, 1 sum of (a - b)^2, 2 sum of a^2.
// out[dstOffset + o] = scale * sum.
override MODE: u32 = 0u;
override WG: u32 = 128u;

struct Params {
  nOut: u32,
  nRed: u32,
  keptRank: u32,
  redRank: u32,
  scale: f32,
  dstOffset: u32,
  pad0: u32,
  pad1: u32,
  keptDims: array<vec4u, 2>,
  keptStrides: array<vec4u, 2>,
  redDims: array<vec4u, 2>,
  redStrides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WG>;

fn term(off: u32) -> f32 {
  switch MODE {
    case 0u: { return a[off]; }
    case 1u: { let d = a[off] - b[off]; return d * d; }
    default: { let v = a[off]; return v * v; }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) t: u32) {
  let o = wid.x + wid.y * nwg.x;
  var base = 0u;
  if (o < p.nOut) {
    var rem = o;
    for (var k = i32(p.keptRank) - 1; k >= 0; k--) {
      let d = p.keptDims[k / 4][k % 4];
      base += (rem % d) * p.keptStrides[k / 4][k % 4];
      rem = rem / d;
    }
  }
  var s = 0.0;
  if (o < p.nOut) {
    for (var j = t; j < p.nRed; j += WG) {
      var rem = j;
      var off = base;
      for (var k = i32(p.redRank) - 1; k >= 0; k--) {
        let d = p.redDims[k / 4][k % 4];
        off += (rem % d) * p.redStrides[k / 4][k % 4];
        rem = rem / d;
      }
      s += term(off);
    }
  }
  partial[t] = s;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (t < w) { partial[t] += partial[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u && o < p.nOut) { out[p.dstOffset + o] = p.scale * partial[0]; }
}
