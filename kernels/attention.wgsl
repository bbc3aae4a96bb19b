// Fused attention forward for inference (lib/ops/attention.ts `fusedAttention`): out = softmax(scale
// Q K^T, masked) V with nothing of size [B*H, Lq, Lk] written. One invocation per (batch, head, query):
// an online softmax over the keys (running max m, running sum s, accumulator rescaled when m grows),
// the query row and the accumulator in registers (DH / 4 vec4s, DH an override constant, at most 64).
// K and V are read from 64 KiB uniform windows of their buffers (every lane of a workgroup reads the
// same key rows: on llvmpipe a uniform load is one gather where a storage load is a per-lane loop),
// one dispatch per group of batch elements whose K (and V) rows fit a window. No shared memory, no
// barriers. Masking as softmax.wgsl: mask[b, j] < 0.5 and (causal) j > i drop key j; a query whose
// every key is dropped gets 0.
//   q, out: [B, Lq, H*DH]; k, v: [B, Lk, H*DH]; mask: [B, Lk].
override DH: u32 = 16u; // head dim, a multiple of 4, <= 64
override WG: u32 = 64u;
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
}
