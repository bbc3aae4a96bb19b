// Group norm and layer norm, forward and backward (lib/ops/norm.ts).
//
// Group norm, x: [B, C, S] (S = product of the trailing axes), G groups of Cg = C / G channels.
// Statistics are split in two so that every reduction loop stays short (llvmpipe cuts loops at
// 65,535 iterations) and the work spreads over B * C workgroups instead of B * G:
//   gnChannelStats     one workgroup per (b, c): mean and M2 = sum (x - mean)^2 over S -> cstats
//   gnGroupStats       one thread per (b, g): Chan's combination of Cg channels -> stats (mean, rstd)
//   gnForward          one thread per element: y = (x - mean) * rstd * gamma[c] + beta[c]
//   gnBackwardChannel  one workgroup per (b, c): sum gy * xhat and sum gy over S -> cstats
//   gnBackwardGroup    threads [0, C): ggamma, gbeta (sum over b); threads [C, C + B*G):
//                      per (b, g) the means of dxhat = gy * gamma and dxhat * xhat -> aux
//   gnBackwardInput    one thread per element: gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat xhat))
// Layer norm, x: [R, D]:
//   lnForward          one workgroup per row: two-pass mean / variance, y, stats
//   lnBackward         one workgroup per row: gx with the same formula as group norm
//   lnForwardRow, lnBackwardRow: the same with one thread per row and no barriers (rows up to
//                      LN_ROW_MAX in lib/ops/norm.ts, faster on llvmpipe)
//   lnBackwardParams   thread per (d, chunk of CHUNK rows): partial sums of gy * xhat and gy -> cstats
//   lnBackwardReduce   thread per d: sums the chunks -> ggamma, gbeta
override WG: u32 = 64u;
override CHUNK: u32 = 64u;

struct Params {
  B: u32,
  C: u32, // channels (group norm) or D (layer norm)
  S: u32, // spatial size (group norm) or rows R (layer norm)
  G: u32,
  eps: f32,
  nChunks: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>; // [rows, 2]: mean, rstd
@group(0) @binding(6) var<storage, read> gy: array<f32>;
@group(0) @binding(7) var<storage, read_write> gx: array<f32>;
@group(0) @binding(8) var<storage, read_write> cstats: array<f32>; // per-channel / per-chunk partials
@group(0) @binding(9) var<storage, read_write> ggamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> gbeta: array<f32>;
@group(0) @binding(11) var<storage, read_write> aux: array<f32>; // [B * G, 2]

var<workgroup> red0: array<f32, WG>;
var<workgroup> red1: array<f32, WG>;

// Tree sums of red0 / red1 over the workgroup; every invocation gets the totals.
fn treeSum1(t: u32, v: f32) -> f32 {
  red0[t] = v;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (t < w) { red0[t] += red0[t + w]; }
    workgroupBarrier();
  }
  let s = red0[0];
  workgroupBarrier();
  return s;
}

fn treeSum2(t: u32, a: f32, b: f32) -> vec2f {
  red0[t] = a;
  red1[t] = b;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (t < w) {
      red0[t] += red0[t + w];
      red1[t] += red1[t + w];
    }
    workgroupBarrier();
  }
  let s = vec2f(red0[0], red1[0]);
  workgroupBarrier();
  return s;
}

fn linearId(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }
fn groupId(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

// ---- group norm ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn gnChannelStats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) t: u32) {
  let row = groupId(wid, nwg); // b * C + c; uniform per workgroup, so the early exit is uniform
  if (row >= p.B * p.C) { return; }
  let base = row * p.S;
  var s = 0.0;
  for (var i = t; i < p.S; i += WG) { s += x[base + i]; }
  let mean = treeSum1(t, s) / f32(p.S);
  var m2 = 0.0;
  for (var i = t; i < p.S; i += WG) { let d = x[base + i] - mean; m2 += d * d; }
  let total = treeSum1(t, m2);
  if (t == 0u) {
    cstats[row * 2u] = mean;
    cstats[row * 2u + 1u] = total;
  }
}

@compute @workgroup_size(WG)
fn gnGroupStats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linearId(gid, nwg); // b * G + g
  if (r >= p.B * p.G) { return; }
  let cg = p.C / p.G;
  let c0 = r * cg; // (b * C + g * Cg): channel rows of a group are consecutive
  var mean = 0.0;
  for (var k = 0u; k < cg; k++) { mean += cstats[(c0 + k) * 2u]; }
  mean = mean / f32(cg);
  var m2 = 0.0;
  for (var k = 0u; k < cg; k++) {
    let d = cstats[(c0 + k) * 2u] - mean;
    m2 += cstats[(c0 + k) * 2u + 1u] + f32(p.S) * d * d;
  }
  stats[r * 2u] = mean;
  stats[r * 2u + 1u] = 1.0 / sqrt(m2 / f32(cg * p.S) + p.eps);
}

@compute @workgroup_size(WG)
fn gnForward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= p.B * p.C * p.S) { return; }
  let row = i / p.S;
  let c = row % p.C;
  let r = row / (p.C / p.G);
  y[i] = (x[i] - stats[r * 2u]) * stats[r * 2u + 1u] * gamma[c] + beta[c];
}

@compute @workgroup_size(WG)
fn gnBackwardChannel(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) t: u32) {
  let row = groupId(wid, nwg);
  if (row >= p.B * p.C) { return; }
  let r = row / (p.C / p.G);
  let mean = stats[r * 2u];
  let rstd = stats[r * 2u + 1u];
  let base = row * p.S;
  var sgx = 0.0;
  var sg = 0.0;
  for (var i = t; i < p.S; i += WG) {
    let g = gy[base + i];
    sgx += g * (x[base + i] - mean) * rstd;
    sg += g;
  }
  let tot = treeSum2(t, sgx, sg);
  if (t == 0u) {
    cstats[row * 2u] = tot.x;
    cstats[row * 2u + 1u] = tot.y;
  }
}

@compute @workgroup_size(WG)
fn gnBackwardGroup(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i < p.C) {
    var sgx = 0.0;
    var sg = 0.0;
    for (var b = 0u; b < p.B; b++) {
      sgx += cstats[(b * p.C + i) * 2u];
      sg += cstats[(b * p.C + i) * 2u + 1u];
    }
    ggamma[i] = sgx;
    gbeta[i] = sg;
    return;
  }
  let r = i - p.C; // b * G + g
  if (r >= p.B * p.G) { return; }
  let cg = p.C / p.G;
  let c0 = r * cg;
  let chan0 = (r % p.G) * cg;
  var m1 = 0.0;
  var m2 = 0.0;
  for (var k = 0u; k < cg; k++) {
    let gm = gamma[chan0 + k];
    m2 += gm * cstats[(c0 + k) * 2u];
    m1 += gm * cstats[(c0 + k) * 2u + 1u];
  }
  let n = f32(cg * p.S);
  aux[r * 2u] = m1 / n;
  aux[r * 2u + 1u] = m2 / n;
}

@compute @workgroup_size(WG)
fn gnBackwardInput(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= p.B * p.C * p.S) { return; }
  let row = i / p.S;
  let c = row % p.C;
  let r = row / (p.C / p.G);
  let rstd = stats[r * 2u + 1u];
  let xh = (x[i] - stats[r * 2u]) * rstd;
  gx[i] = rstd * (gy[i] * gamma[c] - aux[r * 2u] - xh * aux[r * 2u + 1u]);
}

// ---- layer norm ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn lnForward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) t: u32) {
  let r = groupId(wid, nwg);
  if (r >= p.S) { return; }
  let D = p.C;
  let base = r * D;
  var s = 0.0;
  for (var d = t; d < D; d += WG) { s += x[base + d]; }
  let mean = treeSum1(t, s) / f32(D);
  var m2 = 0.0;
  for (var d = t; d < D; d += WG) { let e = x[base + d] - mean; m2 += e * e; }
  let rstd = 1.0 / sqrt(treeSum1(t, m2) / f32(D) + p.eps);
  for (var d = t; d < D; d += WG) { y[base + d] = (x[base + d] - mean) * rstd * gamma[d] + beta[d]; }
  if (t == 0u) {
    stats[r * 2u] = mean;
    stats[r * 2u + 1u] = rstd;
  }
}

@compute @workgroup_size(WG)
fn lnBackward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) t: u32) {
  let r = groupId(wid, nwg);
  if (r >= p.S) { return; }
  let D = p.C;
  let base = r * D;
  let mean = stats[r * 2u];
  let rstd = stats[r * 2u + 1u];
  var m1 = 0.0;
  var m2 = 0.0;
  for (var d = t; d < D; d += WG) {
    let dx = gy[base + d] * gamma[d];
    m1 += dx;
    m2 += dx * (x[base + d] - mean) * rstd;
  }
  let tot = treeSum2(t, m1, m2) / f32(D);
  for (var d = t; d < D; d += WG) {
    let xh = (x[base + d] - mean) * rstd;
    gx[base + d] = rstd * (gy[base + d] * gamma[d] - tot.x - xh * tot.y);
  }
}

@compute @workgroup_size(WG)
fn lnBackwardParams(@builtin(global_invocation_id) gid: vec3u) {
  let d = gid.x;
  let chunk = gid.y;
  if (d >= p.C) { return; }
  let r0 = chunk * CHUNK;
  let r1 = min(r0 + CHUNK, p.S);
  var sgx = 0.0;
  var sg = 0.0;
  for (var r = r0; r < r1; r++) {
    let g = gy[r * p.C + d];
    sgx += g * (x[r * p.C + d] - stats[r * 2u]) * stats[r * 2u + 1u];
    sg += g;
  }
  cstats[(chunk * p.C + d) * 2u] = sgx;
  cstats[(chunk * p.C + d) * 2u + 1u] = sg;
}

@compute @workgroup_size(WG)
fn lnBackwardReduce(@builtin(global_invocation_id) gid: vec3u) {
  let d = gid.x;
  if (d >= p.C) { return; }
  var sgx = 0.0;
  var sg = 0.0;
  for (var k = 0u; k < p.nChunks; k++) {
    sgx += cstats[(k * p.C + d) * 2u];
    sg += cstats[(k * p.C + d) * 2u + 1u];
  }
  ggamma[d] = sgx;
  gbeta[d] = sg;
}

@compute @workgroup_size(WG)
fn lnForwardRow(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linearId(gid, nwg);
  if (r >= p.S) { return; }
  let D = p.C;
  let base = r * D;
  var s = 0.0;
  for (var d = 0u; d < D; d++) { s += x[base + d]; }
  let mean = s / f32(D);
  var m2 = 0.0;
  for (var d = 0u; d < D; d++) { let e = x[base + d] - mean; m2 += e * e; }
  let rstd = 1.0 / sqrt(m2 / f32(D) + p.eps);
  for (var d = 0u; d < D; d++) { y[base + d] = (x[base + d] - mean) * rstd * gamma[d] + beta[d]; }
  stats[r * 2u] = mean;
  stats[r * 2u + 1u] = rstd;
}

@compute @workgroup_size(WG)
fn lnBackwardRow(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linearId(gid, nwg);
  if (r >= p.S) { return; }
  let D = p.C;
  let base = r * D;
  let mean = stats[r * 2u];
  let rstd = stats[r * 2u + 1u];
  var m1 = 0.0;
  var m2 = 0.0;
  for (var d = 0u; d < D; d++) {
    let dx = gy[base + d] * gamma[d];
    m1 += dx;
    m2 += dx * (x[base + d] - mean) * rstd;
  }
  m1 = m1 / f32(D);
  m2 = m2 / f32(D);
  for (var d = 0u; d < D; d++) {
    let xh = (x[base + d] - mean) * rstd;
    gx[base + d] = rstd * (gy[base + d] * gamma[d] - m1 - xh * m2);
  }
}
