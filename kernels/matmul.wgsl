// Batched matmul C[z] = op(A[z]) @ op(B[z]) (kernels for lib/ops/matmul.ts).
// Register-blocked for the software adapter (llvmpipe: 8 SIMD lanes = 8 invocations along x):
// each invocation owns TM rows x 8 columns of C (two vec4 accumulators per row, unrolled by hand
// because llvmpipe spills private arrays indexed in loops); the 8 lanes of a row of the workgroup
// share their rows, so A loads are uniform across lanes. No shared memory (barriers are slow there).
// Every operand is strided, so transposes, head splits and merges cost no copy:
//   A(z, m, k) = a[a0 + (z / nc) * sa1 + (z % nc) * sa2 + m * sam + k * sak]
//   B(z, k, n) = b[(z / nc) * sb1 + (z % nc) * sb2 + k * sbk + n * sbn]
//   C(z, m, n) = c[c0 + (z / nc) * sc1 + (z % nc) * sc2 + m * scm + n]
// B is read as two vec4 per k when BT = 0 (the wrapper checks sbn = 1 and the vec4 alignment of
// sbk, sb1, sb2), else as 8 scalar loads per k (any layout: B^T, heads of a [B, L, H*Dh] tensor).
// Batch z = z0 + workgroup_id.z (the wrapper dispatches at most 65,535 batches at a time).
// The K loop runs over [k0, k1) (the wrapper keeps k1 - k0 far below llvmpipe's 65,535 loop cap);
// acc = 1 adds to C instead of overwriting it (later K chunks). Epilogue (with acc = 0): epi bit 1
// adds bias[n] (a Linear's bias), bit 2 adds res at C's own index (a residual laid out like C).
override TM: u32 = 16u; // rows per invocation, 1..16
override WX: u32 = 8u;
override WY: u32 = 4u;
override BT: u32 = 0u; // 1: scalar strided B loads

struct Params {
  m: u32, n: u32, k0: u32, k1: u32,
  sam: u32, sak: u32, nc: u32, a0: u32,
  sa1: u32, sa2: u32, z0: u32, acc: u32,
  sbk: u32, sbn: u32, sb1: u32, sb2: u32,
  c0: u32, sc1: u32, sc2: u32, scm: u32,
  epi: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bs: array<f32>; // the same buffer as b, read by scalars
@group(0) @binding(5) var<storage, read> bias: array<f32>; // [N] (epi bit 1)
@group(0) @binding(6) var<storage, read> res: array<f32>; // like C (epi bit 2)

// acc += av * [b0 b1] (one row of the 8-column tile).
fn step(acc: mat2x4f, av: f32, bm: mat2x4f) -> mat2x4f {
  let v = vec4f(av);
  return mat2x4f(fma(v, bm[0], acc[0]), fma(v, bm[1], acc[1]));
}

fn put1(cOff: u32, row: u32, col: u32, v: f32) {
  if (col < p.n) {
    let i = cOff + row * p.scm + col;
    if (p.acc == 1u) {
      c[i] = c[i] + v;
    } else {
      var e = v;
      if ((p.epi & 1u) != 0u) { e += bias[col]; }
      if ((p.epi & 2u) != 0u) { e += res[i]; }
      c[i] = e;
    }
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

// The invocation's TM rows of the tile (row0 .. row0 + TM - 1; `store` skips rows past M). Written out,
// like the accumulators (llvmpipe puts loop-indexed private vectors in scratch memory).
fn storeRows(
  cOff: u32, row0: u32, col0: u32,
  c0: mat2x4f, c1: mat2x4f, c2: mat2x4f, c3: mat2x4f, c4: mat2x4f, c5: mat2x4f, c6: mat2x4f, c7: mat2x4f,
  c8: mat2x4f, c9: mat2x4f, c10: mat2x4f, c11: mat2x4f, c12: mat2x4f, c13: mat2x4f, c14: mat2x4f, c15: mat2x4f,
) {
  store(cOff, row0, col0, c0);
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

@compute @workgroup_size(WX, WY, 1)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let z = p.z0 + wid.z;
  let zb = z / p.nc;
  let zc = z - zb * p.nc;
  let aOff = p.a0 + zb * p.sa1 + zc * p.sa2;
  let bOff = zb * p.sb1 + zc * p.sb2;
  let row0 = (wid.y * WY + lid.y) * TM;
  let col0 = (wid.x * WX + lid.x) * 8u;
  if (row0 >= p.m || col0 >= p.n) { return; }
  // BT = 0: vec4 index of B(k, col0) is (bOff + k * sbk) / 4 + col0 / 4 (all multiples of 4)
  let b4 = bOff / 4u + col0 / 4u;
  let sbk4 = p.sbk / 4u;
  // BT = 1: offsets of the 8 columns (clamped to N - 1; columns past N are not stored)
  let lastN = p.n - 1u;
  let n0 = bOff + min(col0, lastN) * p.sbn;
  let n1 = bOff + min(col0 + 1u, lastN) * p.sbn;
  let n2 = bOff + min(col0 + 2u, lastN) * p.sbn;
  let n3 = bOff + min(col0 + 3u, lastN) * p.sbn;
  let n4 = bOff + min(col0 + 4u, lastN) * p.sbn;
  let n5 = bOff + min(col0 + 5u, lastN) * p.sbn;
  let n6 = bOff + min(col0 + 6u, lastN) * p.sbn;
  let n7 = bOff + min(col0 + 7u, lastN) * p.sbn;
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
    var bm: mat2x4f;
    if (BT == 1u) {
      let kb = k * p.sbk;
      bm = mat2x4f(vec4f(bs[n0 + kb], bs[n1 + kb], bs[n2 + kb], bs[n3 + kb]),
        vec4f(bs[n4 + kb], bs[n5 + kb], bs[n6 + kb], bs[n7 + kb]));
    } else {
      let bo = b4 + k * sbk4;
      bm = mat2x4f(b[bo], b[bo + 1u]);
    }
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
  let cOff = p.c0 + zb * p.sc1 + zc * p.sc2;
  storeRows(cOff, row0, col0, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
}

// ---- forward_uniform: batch-1 GEMMs with A's rows contiguous, both operands in uniform windows ----
// llvmpipe compiles a storage-buffer load as a loop over the 8 SIMD lanes (an exec-mask branch and a
// bounds branch each), a uniform-buffer load as one vector gather (docs/ENGINE.md). Here A's rows come
// from a 64 KiB window of A itself (rows [r0, r0 + m) of a [M, KC] matrix, row r at au[a0 + r * KC]),
// and B from pack_b's blocks of 16,384 / KC columns (column n, row k of a block at bu[n * KC + k]).
// One dispatch per (row window, column block): p.m is its rows, p.z0 and p.n its first and end global
// column, p.c0 the output index of (r0, column 0), p.scm the output row stride; `store` writes the tile
// (p.acc = 0: with the bias and residual epilogue). KC (the inner dimension) is a compile-time constant.
override KC: u32 = 64u;
const WIN: u32 = 16384u; // floats per window (64 KiB: WebGPU's default uniform binding limit)
@group(0) @binding(7) var<uniform> au: array<vec4f, 4096>;
@group(0) @binding(8) var<uniform> bu: array<vec4f, 4096>;

fn lau(i: u32) -> f32 {
  return au[i >> 2u][i & 3u];
}

fn lbu(i: u32) -> f32 {
  return bu[i >> 2u][i & 3u];
}

@compute @workgroup_size(WX, WY, 1)
fn forward_uniform(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wid.y * WY + lid.y) * TM;
  let col0 = (wid.x * WX + lid.x) * 8u; // in the block
  let gcol0 = p.z0 + col0;
  if (row0 >= p.m || gcol0 >= p.n) { return; }
  let last = p.m - 1u;
  let r0 = p.a0 + min(row0, last) * KC;
  let r1 = p.a0 + min(row0 + 1u, last) * KC;
  let r2 = p.a0 + min(row0 + 2u, last) * KC;
  let r3 = p.a0 + min(row0 + 3u, last) * KC;
  let r4 = p.a0 + min(row0 + 4u, last) * KC;
  let r5 = p.a0 + min(row0 + 5u, last) * KC;
  let r6 = p.a0 + min(row0 + 6u, last) * KC;
  let r7 = p.a0 + min(row0 + 7u, last) * KC;
  let r8 = p.a0 + min(row0 + 8u, last) * KC;
  let r9 = p.a0 + min(row0 + 9u, last) * KC;
  let r10 = p.a0 + min(row0 + 10u, last) * KC;
  let r11 = p.a0 + min(row0 + 11u, last) * KC;
  let r12 = p.a0 + min(row0 + 12u, last) * KC;
  let r13 = p.a0 + min(row0 + 13u, last) * KC;
  let r14 = p.a0 + min(row0 + 14u, last) * KC;
  let r15 = p.a0 + min(row0 + 15u, last) * KC;
  // columns past the block's end read a neighbour (or zeros past N) and are never stored
  let n0 = col0 * KC;
  let n1 = (col0 + 1u) * KC;
  let n2 = (col0 + 2u) * KC;
  let n3 = (col0 + 3u) * KC;
  let n4 = (col0 + 4u) * KC;
  let n5 = (col0 + 5u) * KC;
  let n6 = (col0 + 6u) * KC;
  let n7 = (col0 + 7u) * KC;
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
  for (var k = 0u; k < KC; k++) {
    let bm = mat2x4f(vec4f(lbu(n0 + k), lbu(n1 + k), lbu(n2 + k), lbu(n3 + k)),
      vec4f(lbu(n4 + k), lbu(n5 + k), lbu(n6 + k), lbu(n7 + k)));
    c0 = step(c0, lau(r0 + k), bm);
    if (TM > 1u) { c1 = step(c1, lau(r1 + k), bm); }
    if (TM > 2u) { c2 = step(c2, lau(r2 + k), bm); }
    if (TM > 3u) { c3 = step(c3, lau(r3 + k), bm); }
    if (TM > 4u) { c4 = step(c4, lau(r4 + k), bm); }
    if (TM > 5u) { c5 = step(c5, lau(r5 + k), bm); }
    if (TM > 6u) { c6 = step(c6, lau(r6 + k), bm); }
    if (TM > 7u) { c7 = step(c7, lau(r7 + k), bm); }
    if (TM > 8u) { c8 = step(c8, lau(r8 + k), bm); }
    if (TM > 9u) { c9 = step(c9, lau(r9 + k), bm); }
    if (TM > 10u) { c10 = step(c10, lau(r10 + k), bm); }
    if (TM > 11u) { c11 = step(c11, lau(r11 + k), bm); }
    if (TM > 12u) { c12 = step(c12, lau(r12 + k), bm); }
    if (TM > 13u) { c13 = step(c13, lau(r13 + k), bm); }
    if (TM > 14u) { c14 = step(c14, lau(r14 + k), bm); }
    if (TM > 15u) { c15 = step(c15, lau(r15 + k), bm); }
  }
  storeRows(p.c0, row0, gcol0, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
}

// ---- weight_grad_uniform: C = A^T B with A's K rows (M wide) in a uniform window ----
// A Linear's weight gradient g^T x: rows [k0, k1) of g [R, M] in a 64 KiB window of g itself (row k at
// au[(a0 + (k - k0) * sak) / 4 ..], M and a0 multiples of 4), B's rows from storage as two vec4 (sbk a
// multiple of 4). An invocation owns 16 rows (4 vec4 loads of A per k) x 8 columns; one row block per
// workgroup, so A's window index is the same across the workgroup (llvmpipe ran the conv weight gradient's
// uniform windows 1.5-40x slower with 4 row blocks per workgroup). Rows past M read a neighbour or a
// clamped index and are never stored. Windows after the first add into C (acc = 1).
@compute @workgroup_size(WX, 1, 1)
fn weight_grad_uniform(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = wid.y * 16u;
  let col0 = (wid.x * WX + lid.x) * 8u;
  if (row0 >= p.m || col0 >= p.n) { return; }
  let b4 = col0 / 4u;
  let sbk4 = p.sbk / 4u;
  let sa4 = p.sak / 4u;
  var ai = (p.a0 + row0) / 4u;
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
    let bo = b4 + k * sbk4;
    let bm = mat2x4f(b[bo], b[bo + 1u]);
    let a0 = au[ai];
    let a1 = au[ai + 1u];
    let a2 = au[ai + 2u];
    let a3 = au[ai + 3u];
    ai += sa4;
    c0 = step(c0, a0.x, bm);
    c1 = step(c1, a0.y, bm);
    c2 = step(c2, a0.z, bm);
    c3 = step(c3, a0.w, bm);
    c4 = step(c4, a1.x, bm);
    c5 = step(c5, a1.y, bm);
    c6 = step(c6, a1.z, bm);
    c7 = step(c7, a1.w, bm);
    c8 = step(c8, a2.x, bm);
    c9 = step(c9, a2.y, bm);
    c10 = step(c10, a2.z, bm);
    c11 = step(c11, a2.w, bm);
    c12 = step(c12, a3.x, bm);
    c13 = step(c13, a3.y, bm);
    c14 = step(c14, a3.z, bm);
    c15 = step(c15, a3.w, bm);
  }
  storeRows(p.c0, row0, col0, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
}

// pack_b: B's N x KC values into blocks of WIN / KC columns, column n of block j at c[j * WIN + (n - j *
// WIN / KC) * KC + k] (p.m = N * KC of them; B(k, n) = bs[k * sbk + n * sbn]). The rest of each window is
// left as it was: forward_uniform reads it only for columns it does not store.
@compute @workgroup_size(64, 1, 1)
fn pack_b(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.m) { return; }
  let n = i / KC;
  let k = i - n * KC;
  let cols = WIN / KC;
  let j = n / cols;
  c[j * WIN + (n - j * cols) * KC + k] = bs[k * p.sbk + n * p.sbn];
}
