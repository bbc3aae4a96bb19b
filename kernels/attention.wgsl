// Fused attention (lib/ops/attention.ts `fusedAttention`): out = softmax(scale Q K^T, masked) V with
// nothing of size [B*H, Lq, Lk] written, forward and backward. Forward: one invocation per (batch, head,
// query pair):
// an online softmax over the keys (running max m, running sum s, accumulator rescaled when m grows),
// the query row and the accumulator in registers (DH / 4 vec4s, DH an override constant, at most 64).
// K and V are read from 64 KiB uniform windows of their buffers (every lane of a workgroup reads the
// same key rows: on llvmpipe a uniform load is one gather where a storage load is a per-lane loop),
// one dispatch per group of batch elements whose K (and V) rows fit a window. No shared memory, no
// barriers. Masking as softmax.wgsl: mask[b, j] < 0.5 and (causal) j > i drop key j; a query whose
// every key is dropped gets 0.
// With SAVE = 1 the forward also writes each query's log-sum-exp L = m + log(s) (training), and the
// backward recomputes P = exp(scale Q K^T - L) instead of reading a saved P (flash attention's backward):
//   backwardQ   invocation per (b, h, query i): D_i = dO_i . O_i -> dd, dQ_i = scale sum_j dS_ij K_j, with
//               dS_ij = P_ij (dO_i . V_j - D_i); K, V from uniform windows
//   backwardKV  invocation per (b, h, key j): dV_j = sum_i P_ij dO_i, dK_j = scale sum_i dS_ij Q_i; Q, dO
//               from uniform windows, L and D from storage
//   q, out: [B, Lq, H*DH]; k, v: [B, Lk, H*DH]; mask: [B, Lk]; lse, dd: [B, H, Lq].
override DH: u32 = 16u; // head dim, a multiple of 4, <= 64
override WG: u32 = 64u;
override SAVE: u32 = 0u; // forward: 1 writes lse
const NEG: f32 = -1e30; // "no key yet": exp(NEG - m) underflows to 0 without inf - inf = NaN

struct Params {
  H: u32,
  Lq: u32,
  Lk: u32,
  HD: u32,
  scale: f32,
  hasMask: u32,
  causal: u32,
  b0: u32, // first batch element of this dispatch
  nb: u32, // batch elements in this dispatch
  k0: u32, // vec4 index of batch element b0's first K row in the K window
  v0: u32, // the same in the V window
  pad0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(4) var<uniform> ku: array<vec4f, 4096>;
@group(0) @binding(5) var<uniform> vu: array<vec4f, 4096>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>; // forward (SAVE): written; backward: read
@group(0) @binding(7) var<storage, read> go: array<vec4f>; // dO, like out (backwardQ, backwardKV rows)
@group(0) @binding(8) var<storage, read_write> dd: array<f32>; // D (backwardQ writes, backwardKV reads)
@group(0) @binding(9) var<storage, read_write> gx: array<vec4f>; // dQ (backwardQ) or dK (backwardKV)
@group(0) @binding(10) var<storage, read_write> gv: array<vec4f>; // dV (backwardKV)

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  let lq2 = (p.Lq + 1u) / 2u; // query pairs per head
  if (t >= p.nb * p.H * lq2) { return; }
  let i0 = (t % lq2) * 2u;
  let i1 = min(i0 + 1u, p.Lq - 1u); // an odd Lq's last pair computes its query twice
  let zh = t / lq2; // (b - b0) * H + h
  let h = zh % p.H;
  let bl = zh / p.H;
  let b = p.b0 + bl;
  let d4 = DH / 4u;
  let row4 = p.HD / 4u;
  let qo0 = (b * p.Lq + i0) * row4 + h * d4;
  let qo1 = (b * p.Lq + i1) * row4 + h * d4;
  var qa: array<vec4f, 16>;
  var qb: array<vec4f, 16>;
  var aa: array<vec4f, 16>;
  var ab: array<vec4f, 16>;
  for (var d = 0u; d < d4; d++) {
    qa[d] = q[qo0 + d] * p.scale;
    qb[d] = q[qo1 + d] * p.scale;
    aa[d] = vec4f();
    ab[d] = vec4f();
  }
  let ko = p.k0 + bl * p.Lk * row4 + h * d4;
  let vo = p.v0 + bl * p.Lk * row4 + h * d4;
  var ma = NEG;
  var mb = NEG;
  var sa = 0.0;
  var sb = 0.0;
  for (var j = 0u; j < p.Lk; j++) {
    if (p.hasMask != 0u && mask[b * p.Lk + j] < 0.5) { continue; }
    let oka = p.causal == 0u || j <= i0;
    let okb = p.causal == 0u || j <= i1;
    let kr = ko + j * row4;
    var xa = 0.0;
    var xb = 0.0;
    for (var d = 0u; d < d4; d++) {
      let kv = ku[kr + d];
      xa += dot(qa[d], kv);
      xb += dot(qb[d], kv);
    }
    xa = select(NEG, xa, oka);
    xb = select(NEG, xb, okb);
    let na = max(ma, xa);
    let nb = max(mb, xb);
    let ca = exp(ma - na);
    let cb = exp(mb - nb);
    let ea = select(0.0, exp(xa - na), oka);
    let eb = select(0.0, exp(xb - nb), okb);
    sa = sa * ca + ea;
    sb = sb * cb + eb;
    ma = na;
    mb = nb;
    let vr = vo + j * row4;
    for (var d = 0u; d < d4; d++) {
      let vv = vu[vr + d];
      aa[d] = aa[d] * ca + ea * vv;
      ab[d] = ab[d] * cb + eb * vv;
    }
  }
  let inva = select(0.0, 1.0 / sa, sa > 0.0);
  let invb = select(0.0, 1.0 / sb, sb > 0.0);
  for (var d = 0u; d < d4; d++) {
    out[qo0 + d] = aa[d] * inva;
    out[qo1 + d] = ab[d] * invb;
  }
  if (SAVE != 0u) {
    // lse of a query with no key left: NEG, so the backward's exp(x - lse) is never evaluated for it
    let z = b * p.H + h;
    lse[z * p.Lq + i0] = select(NEG, ma + log(sa), sa > 0.0);
    lse[z * p.Lq + i1] = select(NEG, mb + log(sb), sb > 0.0);
  }
}

// Invocation per (b - b0, h, i) of this dispatch's batch elements; K and V windows as the forward's.
@compute @workgroup_size(WG)
fn backwardQ(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= p.nb * p.H * p.Lq) { return; }
  let i = t % p.Lq;
  let zh = t / p.Lq;
  let h = zh % p.H;
  let bl = zh / p.H;
  let b = p.b0 + bl;
  let d4 = DH / 4u;
  let row4 = p.HD / 4u;
  let qo = (b * p.Lq + i) * row4 + h * d4;
  var qv: array<vec4f, 16>;
  var gov: array<vec4f, 16>;
  var acc: array<vec4f, 16>;
  var dsum = 0.0;
  for (var d = 0u; d < d4; d++) {
    qv[d] = q[qo + d] * p.scale;
    gov[d] = go[qo + d];
    dsum += dot(gov[d], out[qo + d]);
    acc[d] = vec4f();
  }
  let z = b * p.H + h;
  dd[z * p.Lq + i] = dsum;
  let l = lse[z * p.Lq + i];
  let ko = p.k0 + bl * p.Lk * row4 + h * d4;
  let vo = p.v0 + bl * p.Lk * row4 + h * d4;
  if (l > NEG) {
    for (var j = 0u; j < p.Lk; j++) {
      if (p.hasMask != 0u && mask[b * p.Lk + j] < 0.5) { continue; }
      if (p.causal != 0u && j > i) { continue; }
      let kr = ko + j * row4;
      let vr = vo + j * row4;
      var x = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < d4; d++) {
        x += dot(qv[d], ku[kr + d]);
        dp += dot(gov[d], vu[vr + d]);
      }
      let ds = exp(x - l) * (dp - dsum) * p.scale;
      for (var d = 0u; d < d4; d++) { acc[d] += ds * ku[kr + d]; }
    }
  }
  for (var d = 0u; d < d4; d++) { gx[qo + d] = acc[d]; }
}

// Invocation per (b - b0, h, j); here the windows (ku, vu) hold Q and dO, k0 / v0 their first rows,
// and bindings q / go carry K / V (read-only: self-attention may pass one tensor for all three).
@compute @workgroup_size(WG)
fn backwardKV(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= p.nb * p.H * p.Lk) { return; }
  let j = t % p.Lk;
  let zh = t / p.Lk;
  let h = zh % p.H;
  let bl = zh / p.H;
  let b = p.b0 + bl;
  let d4 = DH / 4u;
  let row4 = p.HD / 4u;
  let ro = (b * p.Lk + j) * row4 + h * d4;
  var kv: array<vec4f, 16>;
  var vv: array<vec4f, 16>;
  var dk: array<vec4f, 16>;
  var dv: array<vec4f, 16>;
  for (var d = 0u; d < d4; d++) {
    kv[d] = q[ro + d] * p.scale;
    vv[d] = go[ro + d];
    dk[d] = vec4f();
    dv[d] = vec4f();
  }
  let keep = p.hasMask == 0u || mask[b * p.Lk + j] >= 0.5;
  let z = b * p.H + h;
  let qo = p.k0 + bl * p.Lq * row4 + h * d4;
  let oo = p.v0 + bl * p.Lq * row4 + h * d4;
  if (keep) {
    for (var i = select(0u, j, p.causal != 0u); i < p.Lq; i++) {
      let l = lse[z * p.Lq + i];
      if (l <= NEG) { continue; }
      let qr = qo + i * row4;
      let gr = oo + i * row4;
      var x = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < d4; d++) {
        x += dot(kv[d], ku[qr + d]);
        dp += dot(vv[d], vu[gr + d]);
      }
      let pij = exp(x - l);
      let ds = pij * (dp - dd[z * p.Lq + i]) * p.scale;
      for (var d = 0u; d < d4; d++) {
        dv[d] += pij * vu[gr + d];
        dk[d] += ds * ku[qr + d];
      }
    }
  }
  for (var d = 0u; d < d4; d++) {
    gx[ro + d] = dk[d];
    gv[ro + d] = dv[d];
  }
}
