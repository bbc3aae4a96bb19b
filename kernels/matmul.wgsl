// Batched matmul C[b] = op(A[b]) @ op(B[b]) (+ nothing else), op = optional transpose.
// Baseline kernel: one output per invocation, K loop (the wrapper caps K below the loop cap).
// A: [batchA, M, K] (or [batchA, K, M] when TA), B: [batchB, K, N] (or [batchB, N, K] when TB);
// batchA or batchB may be 1 (broadcast).
override TA: u32 = 0u;
override TB: u32 = 0u;
override WG: u32 = 8u;

struct Params { batch: u32, m: u32, n: u32, k: u32, strideA: u32, strideB: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG, WG, 1)
fn forward(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let row = gid.y;
  let bi = gid.z;
  if (row >= p.m || col >= p.n || bi >= p.batch) { return; }
  let a0 = bi * p.strideA;
  let b0 = bi * p.strideB;
  var s = 0.0;
  for (var t = 0u; t < p.k; t++) {
    let av = select(a[a0 + row * p.k + t], a[a0 + t * p.m + row], TA == 1u);
    let bv = select(b[b0 + t * p.n + col], b[b0 + col * p.k + t], TB == 1u);
    s += av * bv;
  }
  c[(bi * p.m + row) * p.n + col] = s;
}
