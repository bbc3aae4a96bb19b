// Softmax over the last axis of x: [R, N], forward and backward (lib/ops/softmax.ts). Two layouts:
// `forward`/`backward` give each row a workgroup (long rows), `forwardRow`/`backwardRow` give each
// row one thread without barriers (rows up to ROW_MAX in lib/ops/softmax.ts: 2-4x faster on
// llvmpipe at [16384, 77] and [4096, 1024]). Also serves attention: logits are scaled by `scale`, and entries can be
// masked by a key mask mask[b, j] (b = row / rowsPerBatch, 0 = masked) and/or causally (j > i with
// i = row % Lq). Masked entries get probability 0; a row with every entry masked is all zeros.
// Workgroup layout:
//   forward   per-thread online (max, sum of exp) over a strided loop, tree-combined, then a write pass
//   backward  gx = scale * y * (gy - sum_j gy * y): one tree sum and a write pass
override WG: u32 = 64u;
const NEG: f32 = -1e30; // "no entry yet": exp(NEG - m) underflows to 0 without inf - inf = NaN

struct Params {
  R: u32,
  N: u32,
  scale: f32,
  hasMask: u32,
  causal: u32,
  rowsPerBatch: u32,
  Lq: u32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;

var<workgroup> redM: array<f32, WG>;
var<workgroup> redS: array<f32, WG>;

fn allowed(row: u32, j: u32) -> bool {
  if (p.hasMask != 0u && mask[(row / p.rowsPerBatch) * p.N + j] < 0.5) { return false; }
  if (p.causal != 0u && j > row % p.Lq) { return false; }
  return true;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x; // uniform per workgroup
  if (row >= p.R) { return; }
  let base = row * p.N;
  var m = NEG;
  var s = 0.0;
  for (var j = t; j < p.N; j += WG) {
    if (allowed(row, j)) {
      let v = p.scale * x[base + j];
      let mNew = max(m, v);
      s = s * exp(m - mNew) + exp(v - mNew);
      m = mNew;
    }
  }
  redM[t] = m;
  redS[t] = s;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (t < w) {
      let m1 = redM[t];
      let m2 = redM[t + w];
      let mm = max(m1, m2);
      redS[t] = redS[t] * exp(m1 - mm) + redS[t + w] * exp(m2 - mm);
      redM[t] = mm;
    }
    workgroupBarrier();
  }
  let mx = redM[0];
  let total = redS[0];
  let inv = select(0.0, 1.0 / total, total > 0.0);
  for (var j = t; j < p.N; j += WG) {
    var v = 0.0;
    if (allowed(row, j)) { v = exp(p.scale * x[base + j] - mx) * inv; }
    y[base + j] = v;
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.R) { return; }
  let base = row * p.N;
  var d = 0.0;
  for (var j = t; j < p.N; j += WG) { d += gy[base + j] * y[base + j]; }
  redS[t] = d;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (t < w) { redS[t] += redS[t + w]; }
    workgroupBarrier();
  }
  let dot = redS[0];
  for (var j = t; j < p.N; j += WG) {
    gx[base + j] = p.scale * y[base + j] * (gy[base + j] - dot);
  }
}

// ---- one thread per row: no barriers. Three passes: max, exp (stored) + sum, normalise --------

@compute @workgroup_size(WG)
fn forwardRow(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.R) { return; }
  let base = row * p.N;
  var m = NEG;
  for (var j = 0u; j < p.N; j++) {
    if (allowed(row, j)) { m = max(m, p.scale * x[base + j]); }
  }
  var s = 0.0;
  for (var j = 0u; j < p.N; j++) {
    var e = 0.0;
    if (allowed(row, j)) { e = exp(p.scale * x[base + j] - m); }
    y[base + j] = e;
    s += e;
  }
  let inv = select(0.0, 1.0 / s, s > 0.0);
  for (var j = 0u; j < p.N; j++) { y[base + j] *= inv; }
}

@compute @workgroup_size(WG)
fn backwardRow(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.R) { return; }
  let base = row * p.N;
  var dot = 0.0;
  for (var j = 0u; j < p.N; j++) { dot += gy[base + j] * y[base + j]; }
  for (var j = 0u; j < p.N; j++) { gx[base + j] = p.scale * y[base + j] * (gy[base + j] - dot); }
}
