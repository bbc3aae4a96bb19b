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

// Invocation t's pair of rows (of L per head, an odd L's last pair takes its row twice) and its head:
// rows r0, r1 = r0 + 1, head h of batch element b = b0 + bl, and o0, o1 the vec4 offsets of the two rows'
// head slices in a [B, L, H*DH] tensor. t < nb * H * ceil(L / 2) (pairCount).
struct Pair { r0: u32, r1: u32, h: u32, bl: u32, b: u32, o0: u32, o1: u32 }
fn pairCount(L: u32) -> u32 { return p.nb * p.H * ((L + 1u) / 2u); }
fn pairOf(t: u32, L: u32) -> Pair {
  let l2 = (L + 1u) / 2u;
  let r0 = (t % l2) * 2u;
  let r1 = min(r0 + 1u, L - 1u);
  let zh = t / l2; // (b - b0) * H + h
  let h = zh % p.H;
  let bl = zh / p.H;
  let b = p.b0 + bl;
  let row4 = p.HD / 4u;
  return Pair(r0, r1, h, bl, b, (b * L + r0) * row4 + h * (DH / 4u), (b * L + r1) * row4 + h * (DH / 4u));
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= pairCount(p.Lq)) { return; }
  let pr = pairOf(t, p.Lq);
  let d4 = DH / 4u;
  let row4 = p.HD / 4u;
  var qa: array<vec4f, 16>;
  var qb: array<vec4f, 16>;
  var aa: array<vec4f, 16>;
  var ab: array<vec4f, 16>;
  for (var d = 0u; d < d4; d++) {
    qa[d] = q[pr.o0 + d] * p.scale;
    qb[d] = q[pr.o1 + d] * p.scale;
    aa[d] = vec4f();
    ab[d] = vec4f();
  }
  let ko = p.k0 + pr.bl * p.Lk * row4 + pr.h * d4;
  let vo = p.v0 + pr.bl * p.Lk * row4 + pr.h * d4;
  var ma = NEG;
  var mb = NEG;
  var sa = 0.0;
  var sb = 0.0;
  for (var j = 0u; j < p.Lk; j++) {
    if (p.hasMask != 0u && mask[pr.b * p.Lk + j] < 0.5) { continue; }
    let oka = p.causal == 0u || j <= pr.r0;
    let okb = p.causal == 0u || j <= pr.r1;
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
    out[pr.o0 + d] = aa[d] * inva;
    out[pr.o1 + d] = ab[d] * invb;
  }
  if (SAVE != 0u) {
    // lse of a query with no key left: NEG, so the backward's exp(x - lse) is never evaluated for it
    let z = pr.b * p.H + pr.h;
    lse[z * p.Lq + pr.r0] = select(NEG, ma + log(sa), sa > 0.0);
    lse[z * p.Lq + pr.r1] = select(NEG, mb + log(sb), sb > 0.0);
  }
}

// Invocation per (b - b0, h, query pair i0, i1 = i0 + 1) of this dispatch's batch elements (an odd Lq's
// last pair computes its query twice); K and V windows as the forward's.
@compute @workgroup_size(WG)
fn backwardQ(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= pairCount(p.Lq)) { return; }
  let pr = pairOf(t, p.Lq);
  let d4 = DH / 4u;
  let row4 = p.HD / 4u;
  var qa: array<vec4f, 16>;
  var qb: array<vec4f, 16>;
  var ga: array<vec4f, 16>;
  var gb: array<vec4f, 16>;
  var aa: array<vec4f, 16>;
  var ab: array<vec4f, 16>;
  var da = 0.0;
  var db = 0.0;
  for (var d = 0u; d < d4; d++) {
    qa[d] = q[pr.o0 + d] * p.scale;
    qb[d] = q[pr.o1 + d] * p.scale;
    ga[d] = go[pr.o0 + d];
    gb[d] = go[pr.o1 + d];
    da += dot(ga[d], out[pr.o0 + d]);
    db += dot(gb[d], out[pr.o1 + d]);
    aa[d] = vec4f();
    ab[d] = vec4f();
  }
  let z = pr.b * p.H + pr.h;
  dd[z * p.Lq + pr.r0] = da;
  dd[z * p.Lq + pr.r1] = db;
  let la = lse[z * p.Lq + pr.r0];
  let lb = lse[z * p.Lq + pr.r1];
  let ko = p.k0 + pr.bl * p.Lk * row4 + pr.h * d4;
  let vo = p.v0 + pr.bl * p.Lk * row4 + pr.h * d4;
  if (la > NEG || lb > NEG) {
    for (var j = 0u; j < p.Lk; j++) {
      if (p.hasMask != 0u && mask[pr.b * p.Lk + j] < 0.5) { continue; }
      if (p.causal != 0u && j > pr.r1) { continue; }
      let kr = ko + j * row4;
      let vr = vo + j * row4;
      var xa = 0.0;
      var xb = 0.0;
      var pa = 0.0;
      var pb = 0.0;
      for (var d = 0u; d < d4; d++) {
        let kv = ku[kr + d];
        let vv = vu[vr + d];
        xa += dot(qa[d], kv);
        xb += dot(qb[d], kv);
        pa += dot(ga[d], vv);
        pb += dot(gb[d], vv);
      }
      let oka = la > NEG && (p.causal == 0u || j <= pr.r0);
      let okb = lb > NEG;
      let sa = select(0.0, exp(xa - la) * (pa - da) * p.scale, oka);
      let sb = select(0.0, exp(xb - lb) * (pb - db) * p.scale, okb);
      for (var d = 0u; d < d4; d++) {
        let kv = ku[kr + d];
        aa[d] += sa * kv;
        ab[d] += sb * kv;
      }
    }
  }
  for (var d = 0u; d < d4; d++) {
    gx[pr.o0 + d] = aa[d];
    gx[pr.o1 + d] = ab[d];
  }
}

// Invocation per (b - b0, h, key pair j0, j1 = j0 + 1); here the windows (ku, vu) hold Q and dO, k0 / v0
// their first rows, and bindings q / go carry K / V (read-only: self-attention may pass one tensor for all
// three). An odd Lk's last pair computes its key twice.
@compute @workgroup_size(WG)
fn backwardKV(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= pairCount(p.Lk)) { return; }
  let pr = pairOf(t, p.Lk);
  let d4 = DH / 4u;
  let row4 = p.HD / 4u;
  var ka: array<vec4f, 16>;
  var kb: array<vec4f, 16>;
  var va: array<vec4f, 16>;
  var vb: array<vec4f, 16>;
  var dka: array<vec4f, 16>;
  var dkb: array<vec4f, 16>;
  var dva: array<vec4f, 16>;
  var dvb: array<vec4f, 16>;
  for (var d = 0u; d < d4; d++) {
    ka[d] = q[pr.o0 + d] * p.scale;
    kb[d] = q[pr.o1 + d] * p.scale;
    va[d] = go[pr.o0 + d];
    vb[d] = go[pr.o1 + d];
    dka[d] = vec4f();
    dkb[d] = vec4f();
    dva[d] = vec4f();
    dvb[d] = vec4f();
  }
  let keepa = p.hasMask == 0u || mask[pr.b * p.Lk + pr.r0] >= 0.5;
  let keepb = p.hasMask == 0u || mask[pr.b * p.Lk + pr.r1] >= 0.5;
  let z = pr.b * p.H + pr.h;
  let qo = p.k0 + pr.bl * p.Lq * row4 + pr.h * d4;
  let oo = p.v0 + pr.bl * p.Lq * row4 + pr.h * d4;
  if (keepa || keepb) {
    for (var i = select(0u, pr.r0, p.causal != 0u); i < p.Lq; i++) {
      let l = lse[z * p.Lq + i];
      if (l <= NEG) { continue; }
      let di = dd[z * p.Lq + i];
      let qr = qo + i * row4;
      let gr = oo + i * row4;
      var xa = 0.0;
      var xb = 0.0;
      var pa = 0.0;
      var pb = 0.0;
      for (var d = 0u; d < d4; d++) {
        let qv = ku[qr + d];
        let gv4 = vu[gr + d];
        xa += dot(ka[d], qv);
        xb += dot(kb[d], qv);
        pa += dot(va[d], gv4);
        pb += dot(vb[d], gv4);
      }
      let oka = keepa;
      let okb = keepb && (p.causal == 0u || i >= pr.r1);
      let ea = select(0.0, exp(xa - l), oka);
      let eb = select(0.0, exp(xb - l), okb);
      let sa = ea * (pa - di) * p.scale;
      let sb = eb * (pb - di) * p.scale;
      for (var d = 0u; d < d4; d++) {
        let qv = ku[qr + d];
        let gv4 = vu[gr + d];
        dva[d] += ea * gv4;
        dvb[d] += eb * gv4;
        dka[d] += sa * qv;
        dkb[d] += sb * qv;
      }
    }
  }
  for (var d = 0u; d < d4; d++) {
    gx[pr.o0 + d] = dka[d];
    gv[pr.o0 + d] = dva[d];
    gx[pr.o1 + d] = dkb[d];
    gv[pr.o1 + d] = dvb[d];
  }
}
