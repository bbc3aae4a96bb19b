// Reductions over chosen axes. MODE (override): 0 sum of a, 1 sum of (a - b)^2, 2 sum of a^2;
// out[dstOffset + o] = scale * sum.
// `chunked` + `chunkedFinish` (no barriers; workgroup barriers are slow on llvmpipe): the input, contiguous,
// is read as [A, C, S] and reduced over A and S to [C] (the coalesced form of every reduction that
// keeps one block of adjacent axes: bias gradients [A, C, 1] and [A, C, S], per-row sums [1, C, S],
// full sums). Reduction index j = a * S + s in [0, A * S) is cut into chunks of `chunk`; one
// invocation per (c, chunk) sums its chunk walking (a, s) forward (no division in the loop) and writes
// part[k * C + c] (or, with one chunk, the scaled result); `chunkedFinish` adds the chunks per c.
// `forward` (any kept/reduced pattern): one workgroup per output element; each thread strides over
// the reduced elements (trip count nRed / WG, kept < 65535 by the wrapper) and a shared-memory tree
// finishes.
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

struct ChunkParams {
  A: u32,
  C: u32,
  S: u32,
  chunk: u32,
  nChunks: u32,
  scale: f32,
  dstOffset: u32,
  direct: u32, // 1: one chunk, write scale * sum to out[dstOffset + c]
}
@group(0) @binding(4) var<uniform> q: ChunkParams;
@group(0) @binding(5) var<storage, read_write> part: array<f32>;

// Invocation id = k * C + c (one division per invocation, none per element).
@compute @workgroup_size(WG)
fn chunked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * WG;
  if (id >= q.C * q.nChunks) { return; }
  let k = id / q.C;
  let c = id - k * q.C;
  let n = q.A * q.S;
  let j0 = k * q.chunk;
  let j1 = min(j0 + q.chunk, n);
  let ai = j0 / q.S;
  var s = j0 - ai * q.S;
  var off = (ai * q.C + c) * q.S + s;
  let jump = (q.C - 1u) * q.S; // from (a, S - 1) + 1 to (a + 1, 0)
  var acc = 0.0;
  for (var j = j0; j < j1; j++) {
    acc += term(off);
    off++;
    s++;
    if (s == q.S) {
      s = 0u;
      off += jump;
    }
  }
  if (q.direct == 1u) {
    out[q.dstOffset + c] = q.scale * acc;
  } else {
    part[k * q.C + c] = acc;
  }
}

@compute @workgroup_size(WG)
fn chunkedFinish(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * WG;
  if (c >= q.C) { return; }
  var acc = 0.0;
  for (var k = 0u; k < q.nChunks; k++) { acc += part[k * q.C + c]; }
  out[q.dstOffset + c] = q.scale * acc;
}
