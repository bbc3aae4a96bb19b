// Group norm and layer norm, forward and backward (lib/ops/norm.ts).
//
// Group norm, x: [B, C, S] (S = product of the trailing axes), G groups of Cg = C / G channels, with
// silu fused after the affine when SILU = 1 (every ResNet block normalises then activates). No
// workgroup barriers (slow on llvmpipe): reductions are chunks of at most a few thousand elements
// per invocation (llvmpipe cuts loops at 65,535 iterations), combined by a second pass:
//   gnStats            invocation per (b, g, chunk): chunk mean and M2 -> cstats (one chunk: stats)
//   gnStatsCombine     invocation per (b, g): Chan's combination of the chunks -> stats (mean, rstd)
//   gnForward          grid [S / (WG * EPT), C, B]: y = act((x - mean) * rstd * gamma[c] + beta[c])
//   gnBackwardChunk    invocation per (b, c, chunk of S): sum g * xhat and sum g -> cstats, where
//                      g = gy (* silu'(pre-activation) with SILU)
//   gnBackwardGroup    invocations [0, C): ggamma, gbeta (sum over b and chunks); [C, C + B*G):
//                      per (b, g) the means of dxhat = g * gamma and dxhat * xhat -> aux
//   gnBackwardInput    grid [S / (WG * EPT), C, B]: gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat xhat))
// Layer norm, x: [R, D]:
//   lnForward          one workgroup per row: two-pass mean / variance, y, stats
//   lnBackward         one workgroup per row: gx with the same formula as group norm
//   lnForwardRow, lnBackwardRow: the same with one thread per row and no barriers (rows up to
//                      LN_ROW_MAX in lib/ops/norm.ts, faster on llvmpipe)
//   lnBackwardParams   thread per (d, chunk of CHUNK rows): partial sums of gy * xhat and gy -> cstats
//   lnBackwardReduce   thread per d: sums the chunks -> ggamma, gbeta
override WG: u32 = 64u;
override CHUNK: u32 = 64u;
override SILU: u32 = 0u; // group norm: 1 applies silu after the affine (forward and backward)
override PRIOR: u32 = 0u;
override EPT: u32 = 1u; // group norm's elementwise passes: consecutive elements per invocation

struct Params {
  B: u32,
  C: u32, // channels (group norm) or D (layer norm)
  S: u32, // spatial size (group norm) or rows R (layer norm)
  G: u32,
  eps: f32,
  nChunks: u32,
  chunk: u32, // group norm: elements per chunk of a reduction
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
// The input's gradient summed so far (PRIOR = 1: added by lnBackwardRow and gnBackwardInput, so the
// autograd needs no accumulate pass: lib/autograd/tape.ts, Prior).
@group(0) @binding(12) var<storage, read> prior: array<f32>;

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

// ---- group norm ----------------------------------------------------------------------------------

// Invocation id = r * nChunks + k: row r = b * G + g (its Cg * S elements are contiguous), chunk k of
// `chunk` elements; two passes over the chunk give its mean and M2 = sum (x - mean)^2 -> cstats[id]
// (or, with one chunk, the row's mean and rstd straight to stats).
@compute @workgroup_size(WG)
fn gnStats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = linearId(gid, nwg);
  if (id >= p.B * p.G * p.nChunks) { return; }
  let r = id / p.nChunks;
  let k = id - r * p.nChunks;
  let n = (p.C / p.G) * p.S;
  let j0 = k * p.chunk;
  let j1 = min(j0 + p.chunk, n);
  let base = r * n;
  var s = 0.0;
  for (var j = j0; j < j1; j++) { s += x[base + j]; }
  let cnt = f32(j1 - j0);
  let mean = s / cnt;
  var m2 = 0.0;
  for (var j = j0; j < j1; j++) { let d = x[base + j] - mean; m2 += d * d; }
  if (p.nChunks == 1u) {
    stats[r * 2u] = mean;
    stats[r * 2u + 1u] = 1.0 / sqrt(m2 / cnt + p.eps);
  } else {
    cstats[id * 2u] = mean;
    cstats[id * 2u + 1u] = m2;
  }
}

// One invocation per row: Chan's combination of the chunk means and M2s -> stats (mean, rstd).
@compute @workgroup_size(WG)
fn gnStatsCombine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linearId(gid, nwg);
  if (r >= p.B * p.G) { return; }
  let n = (p.C / p.G) * p.S;
  var na = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var k = 0u; k < p.nChunks; k++) {
    let nb = f32(min(p.chunk, n - k * p.chunk));
    let o = (r * p.nChunks + k) * 2u;
    let d = cstats[o] - mean;
    let nab = na + nb;
    mean += d * nb / nab;
    m2 += cstats[o + 1u] + d * d * na * nb / nab;
    na = nab;
  }
  stats[r * 2u] = mean;
  stats[r * 2u + 1u] = 1.0 / sqrt(m2 / f32(n) + p.eps);
}

// Elementwise entries run on a grid [ceil(S / (WG * EPT)), C, B]: each invocation takes EPT consecutive
// elements of one (image, channel) plane; indices come from the grid, no division per element (c / Cg
// is per workgroup).

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

// d silu(v) / dv
fn dsilu(v: f32) -> f32 {
  let sg = 1.0 / (1.0 + exp(-v));
  return sg * (1.0 + v * (1.0 - sg));
}

@compute @workgroup_size(WG)
fn gnForward(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let s0 = gid.x * EPT;
  if (s0 >= p.S) { return; }
  let c = wid.y;
  let r = wid.z * p.G + c / (p.C / p.G);
  // loaded once for EPT elements (llvmpipe runs every storage load as a loop over its 8 lanes)
  let mean = stats[r * 2u];
  let rstd = stats[r * 2u + 1u];
  let ga = gamma[c];
  let be = beta[c];
  let base = (wid.z * p.C + c) * p.S;
  for (var e = 0u; e < EPT; e++) {
    if (s0 + e < p.S) {
      let i = base + s0 + e;
      let v = (x[i] - mean) * rstd * ga + be;
      y[i] = select(v, silu(v), SILU == 1u);
    }
  }
}

// The gradient reaching the normalised, affine value: gy, or gy * silu'(xhat * gamma + beta).
fn gnUpstream(i: u32, xh: f32, c: u32) -> f32 {
  if (SILU == 1u) { return gy[i] * dsilu(xh * gamma[c] + beta[c]); }
  return gy[i];
}

// Invocation id = row * nChunks + k, row = b * C + c, chunk k of its S elements: sums of
// g * xhat and g (g from gnUpstream) -> cstats[id].
@compute @workgroup_size(WG)
fn gnBackwardChunk(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = linearId(gid, nwg);
  if (id >= p.B * p.C * p.nChunks) { return; }
  let row = id / p.nChunks;
  let k = id - row * p.nChunks;
  let c = row % p.C;
  let r = row / (p.C / p.G);
  let mean = stats[r * 2u];
  let rstd = stats[r * 2u + 1u];
  let base = row * p.S;
  let j1 = min((k + 1u) * p.chunk, p.S);
  var sgx = 0.0;
  var sg = 0.0;
  for (var j = k * p.chunk; j < j1; j++) {
    let xh = (x[base + j] - mean) * rstd;
    let g = gnUpstream(base + j, xh, c);
    sgx += g * xh;
    sg += g;
  }
  cstats[id * 2u] = sgx;
  cstats[id * 2u + 1u] = sg;
}

// Invocations [0, C): ggamma, gbeta (sums over b and chunks); [C, C + B*G): per (b, g) the means of
// dxhat = g * gamma and dxhat * xhat over the group -> aux.
@compute @workgroup_size(WG)
fn gnBackwardGroup(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i < p.C) {
    var sgx = 0.0;
    var sg = 0.0;
    for (var b = 0u; b < p.B; b++) {
      let o = (b * p.C + i) * p.nChunks;
      for (var k = 0u; k < p.nChunks; k++) {
        sgx += cstats[(o + k) * 2u];
        sg += cstats[(o + k) * 2u + 1u];
      }
    }
    ggamma[i] = sgx;
    gbeta[i] = sg;
    return;
  }
  let r = i - p.C; // b * G + g
  if (r >= p.B * p.G) { return; }
  let cg = p.C / p.G;
  let row0 = r * cg; // b * C + g * Cg: the group's channel rows are consecutive
  let chan0 = (r % p.G) * cg;
  var m1 = 0.0;
  var m2 = 0.0;
  for (var kc = 0u; kc < cg; kc++) {
    let gm = gamma[chan0 + kc];
    let o = (row0 + kc) * p.nChunks;
    var sgx = 0.0;
    var sg = 0.0;
    for (var k = 0u; k < p.nChunks; k++) {
      sgx += cstats[(o + k) * 2u];
      sg += cstats[(o + k) * 2u + 1u];
    }
    m2 += gm * sgx;
    m1 += gm * sg;
  }
  let n = f32(cg * p.S);
  aux[r * 2u] = m1 / n;
  aux[r * 2u + 1u] = m2 / n;
}

@compute @workgroup_size(WG)
fn gnBackwardInput(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let s0 = gid.x * EPT;
  if (s0 >= p.S) { return; }
  let c = wid.y;
  let r = wid.z * p.G + c / (p.C / p.G);
  let mean = stats[r * 2u];
  let rstd = stats[r * 2u + 1u];
  let ga = gamma[c];
  let be = beta[c];
  let m1 = aux[r * 2u];
  let m2 = aux[r * 2u + 1u];
  let base = (wid.z * p.C + c) * p.S;
  for (var e = 0u; e < EPT; e++) {
    if (s0 + e < p.S) {
      let i = base + s0 + e;
      let xh = (x[i] - mean) * rstd;
      var g = gy[i];
      if (SILU == 1u) { g = g * dsilu(xh * ga + be); }
      var v = rstd * (g * ga - m1 - xh * m2);
      if (PRIOR == 1u) { v += prior[i]; }
      gx[i] = v;
    }
  }
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
    var v = rstd * (gy[base + d] * gamma[d] - m1 - xh * m2);
    if (PRIOR == 1u) { v += prior[base + d]; }
    gx[base + d] = v;
  }
}
