// Batched matmul C[z] = op(A[z]) @ B'[z] (kernels for lib/ops/matmul.ts).
// Register-blocked for the software adapter (llvmpipe: 8 SIMD lanes = 8 invocations along x):
// each invocation owns TM rows x 8 columns of C (two vec4 accumulators per row, unrolled by hand
// because llvmpipe spills private arrays indexed in loops); the 8 lanes of a row of the workgroup
// share their rows, so A loads are uniform across lanes and B loads are vec4. No shared memory
// (barriers are slow there).
//   A: element (m, k) at aOff(z) + m * sam + k * sak (any layout, so op(A) = A or A^T for free);
//   B': row-major [K, n4 * 4] with vec4 rows (the wrapper packs B when it is transposed or
//       N % 4 != 0, see `pack`); C: row-major [M, N].
// Batch z = z0 + workgroup_id.z (the wrapper dispatches at most 65,535 batches at a time);
// aOff(z) = a0 + (z / nc) * sa1 + (z % nc) * sa2 (and the same for B with sb1, sb2), which covers
// broadcast (stride 0) and chunked reductions (conv weight gradient).
// The K loop runs over [k0, k1) (the wrapper keeps k1 - k0 far below llvmpipe's 65,535 loop cap);
// acc = 1 adds to C instead of overwriting it (later K chunks); C for batch z starts at c0 + z * sc.
override TM: u32 = 16u; // rows per invocation, 1..16
override WX: u32 = 8u;
override WY: u32 = 4u;
override WG: u32 = 256u; // pack: invocations per workgroup

struct Params {
  m: u32, n: u32, k0: u32, k1: u32,
  sam: u32, sak: u32, n4: u32, nc: u32,
  sa1: u32, sa2: u32, sb1: u32, sb2: u32,
  sc: u32, acc: u32, c0: u32, a0: u32,
  z0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// acc += av * [b0 b1] (one row of the 8-column tile).
fn step(acc: mat2x4f, av: f32, bm: mat2x4f) -> mat2x4f {
  let v = vec4f(av);
  return mat2x4f(fma(v, bm[0], acc[0]), fma(v, bm[1], acc[1]));
}

fn put1(cOff: u32, row: u32, col: u32, v: f32) {
  if (col < p.n) {
    let i = cOff + row * p.n + col;
    c[i] = select(v, c[i] + v, p.acc == 1u);
  }
}

// Writes one row of the tile (columns col0 .. col0 + 7, those < N). Written out: llvmpipe puts
// loop-indexed private vectors in scratch memory (slow).
fn store(cOff: u32, row: u32, col0: u32, t: mat2x4f) {
  if (row >= p.m) { return; }
  put1(cOff, row, col0, t[0].x);
  put1(cOff, row, col0 + 1u, t[0].y);
  put1(cOff, row, col0 + 2u, t[0].z);
  put1(cOff, row, col0 + 3u, t[0].w);
  put1(cOff, row, col0 + 4u, t[1].x);
  put1(cOff, row, col0 + 5u, t[1].y);
  put1(cOff, row, col0 + 6u, t[1].z);
  put1(cOff, row, col0 + 7u, t[1].w);
}

@compute @workgroup_size(WX, WY, 1)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let z = p.z0 + wid.z;
  let aOff = p.a0 + (z / p.nc) * p.sa1 + (z % p.nc) * p.sa2;
  let bOff = (z / p.nc) * p.sb1 + (z % p.nc) * p.sb2;
  let row0 = (wid.y * WY + lid.y) * TM;
  let cg = (wid.x * WX + lid.x) * 2u; // first vec4 column; n4 is even, so cg + 1 < n4
  let col0 = (wid.x * WX + lid.x) * 8u;
  if (row0 >= p.m || col0 >= p.n) { return; }
  let last = p.m - 1u;
  let r0 = aOff + min(row0 + 0u, last) * p.sam;
  let r1 = aOff + min(row0 + 1u, last) * p.sam;
  let r2 = aOff + min(row0 + 2u, last) * p.sam;
  let r3 = aOff + min(row0 + 3u, last) * p.sam;
  let r4 = aOff + min(row0 + 4u, last) * p.sam;
  let r5 = aOff + min(row0 + 5u, last) * p.sam;
  let r6 = aOff + min(row0 + 6u, last) * p.sam;
  let r7 = aOff + min(row0 + 7u, last) * p.sam;
  let r8 = aOff + min(row0 + 8u, last) * p.sam;
  let r9 = aOff + min(row0 + 9u, last) * p.sam;
  let r10 = aOff + min(row0 + 10u, last) * p.sam;
  let r11 = aOff + min(row0 + 11u, last) * p.sam;
  let r12 = aOff + min(row0 + 12u, last) * p.sam;
  let r13 = aOff + min(row0 + 13u, last) * p.sam;
  let r14 = aOff + min(row0 + 14u, last) * p.sam;
  let r15 = aOff + min(row0 + 15u, last) * p.sam;
  var c0 = mat2x4f();
  var c1 = mat2x4f();
  var c2 = mat2x4f();
  var c3 = mat2x4f();
  var c4 = mat2x4f();
  var c5 = mat2x4f();
  var c6 = mat2x4f();
  var c7 = mat2x4f();
  var c8 = mat2x4f();
  var c9 = mat2x4f();
  var c10 = mat2x4f();
  var c11 = mat2x4f();
  var c12 = mat2x4f();
  var c13 = mat2x4f();
  var c14 = mat2x4f();
  var c15 = mat2x4f();
  for (var k = p.k0; k < p.k1; k++) {
    let bo = bOff + k * p.n4 + cg;
    let bm = mat2x4f(b[bo], b[bo + 1u]);
    let ko = k * p.sak;
    c0 = step(c0, a[r0 + ko], bm);
    if (TM > 1u) { c1 = step(c1, a[r1 + ko], bm); }
    if (TM > 2u) { c2 = step(c2, a[r2 + ko], bm); }
    if (TM > 3u) { c3 = step(c3, a[r3 + ko], bm); }
    if (TM > 4u) { c4 = step(c4, a[r4 + ko], bm); }
    if (TM > 5u) { c5 = step(c5, a[r5 + ko], bm); }
    if (TM > 6u) { c6 = step(c6, a[r6 + ko], bm); }
    if (TM > 7u) { c7 = step(c7, a[r7 + ko], bm); }
    if (TM > 8u) { c8 = step(c8, a[r8 + ko], bm); }
    if (TM > 9u) { c9 = step(c9, a[r9 + ko], bm); }
    if (TM > 10u) { c10 = step(c10, a[r10 + ko], bm); }
    if (TM > 11u) { c11 = step(c11, a[r11 + ko], bm); }
    if (TM > 12u) { c12 = step(c12, a[r12 + ko], bm); }
    if (TM > 13u) { c13 = step(c13, a[r13 + ko], bm); }
    if (TM > 14u) { c14 = step(c14, a[r14 + ko], bm); }
    if (TM > 15u) { c15 = step(c15, a[r15 + ko], bm); }
  }
  let cOff = p.c0 + z * p.sc;
  store(cOff, row0 + 0u, col0, c0);
  if (TM > 1u) { store(cOff, row0 + 1u, col0, c1); }
  if (TM > 2u) { store(cOff, row0 + 2u, col0, c2); }
  if (TM > 3u) { store(cOff, row0 + 3u, col0, c3); }
  if (TM > 4u) { store(cOff, row0 + 4u, col0, c4); }
  if (TM > 5u) { store(cOff, row0 + 5u, col0, c5); }
  if (TM > 6u) { store(cOff, row0 + 6u, col0, c6); }
  if (TM > 7u) { store(cOff, row0 + 7u, col0, c7); }
  if (TM > 8u) { store(cOff, row0 + 8u, col0, c8); }
  if (TM > 9u) { store(cOff, row0 + 9u, col0, c9); }
  if (TM > 10u) { store(cOff, row0 + 10u, col0, c10); }
  if (TM > 11u) { store(cOff, row0 + 11u, col0, c11); }
  if (TM > 12u) { store(cOff, row0 + 12u, col0, c12); }
  if (TM > 13u) { store(cOff, row0 + 13u, col0, c13); }
  if (TM > 14u) { store(cOff, row0 + 14u, col0, c14); }
  if (TM > 15u) { store(cOff, row0 + 15u, col0, c15); }
}

struct PackParams { total: u32, k: u32, n: u32, np: u32, sbk: u32, sbn: u32, nc: u32, sb1: u32, sb2: u32 }
@group(0) @binding(0) var<uniform> q: PackParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// dst[z, k, n] = B(z, k, n) for n < N, 0 for N <= n < np: B in any layout, out row-major padded.
@compute @workgroup_size(WG)
fn pack(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= q.total) { return; }
  let n = i % q.np;
  let k = (i / q.np) % q.k;
  let z = i / (q.np * q.k);
  var v = 0.0;
  if (n < q.n) { v = src[(z / q.nc) * q.sb1 + (z % q.nc) * q.sb2 + k * q.sbk + n * q.sbn]; }
  dst[i] = v;
}
