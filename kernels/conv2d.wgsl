// conv2d, NCHW, k x k kernel, stride s, zero padding (kernels for lib/ops/conv2d.ts).
//   x: [B, Cin, H, W], w: [Cout, Cin, KH, KW], bias: [Cout], y: [B, Cout, Ho, Wo].
// forward_uniform (the forward wherever its weights fit a few 64 KiB uniform windows: at the end) and
// forward and backward_input are implicit GEMMs, register-blocked like matmul.wgsl (the layout the
// software adapter likes): an invocation owns TM channels (rows; weight loads are uniform across
// the 8 SIMD lanes, which run along pixels) x 8 pixels of one image row (two vec4 accumulators per
// channel, unrolled by hand: llvmpipe spills private arrays indexed in loops). Pixel loads are
// masked gathers, so padding needs no copy. No shared memory (barriers are slow on llvmpipe).
// The forward's epilogue adds the bias, a per-(image, channel) bias and a residual (hasBias bits 1, 2,
// 4), so a ResNet block's time-embedding and skip adds cost no pass of their own.
// backward_weight is an implicit GEMM over output pixels too (tiles of 8 input channels at one tap),
// split over pixel rows into partial sums that `sum_parts` adds up; backward_weight_uniform (at the end)
// reads gy from uniform windows of whole images instead.
override TM: u32 = 16u; // channels per invocation, 1..16
override WX: u32 = 8u;
override WY: u32 = 4u;
override WG: u32 = 256u; // elementwise entries: invocations per workgroup

struct Params {
  cin: u32, h: u32, w: u32, cout: u32,
  ho: u32, wo: u32, kh: u32, kw: u32,
  stride: u32, pad: u32, tiles: u32, tilesRow: u32,
  hasBias: u32, total: u32, parts: u32, rows: u32,
  nrows: u32, cblocks: u32, z0: u32, acc: u32,
  ci0: u32, cn: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>; // x (forward, backward_weight), gy (backward_input)
@group(0) @binding(2) var<storage, read> wt: array<f32>; // weights; gy (backward_weight); partials (sum_parts)
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [Cout] (forward, hasBias bit 1)
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read> bias2: array<f32>; // [B, Cout] (forward, hasBias bit 2)
@group(0) @binding(6) var<storage, read> res: array<f32>; // like dst (forward, hasBias bit 4)

// acc += av * v (one channel of the 8-pixel tile).
fn step(acc: mat2x4f, av: f32, v: mat2x4f) -> mat2x4f {
  let s = vec4f(av);
  return mat2x4f(fma(s, v[0], acc[0]), fma(s, v[1], acc[1]));
}

// forward_uniform's 3x3 convs (KSHAPE 1 and 3) work row by row of the kernel: for stride 1, a row's 10
// input pixels as its 3 taps' 8-pixel vectors (0 outside the image).
struct Row3 { v0: mat2x4f, v1: mat2x4f, v2: mat2x4f }

fn row10(xc: u32, ih: i32, iw0: i32, lw: i32) -> Row3 {
  let ok = ih >= 0 && ih < i32(p.h);
  let xr = xc + u32(clamp(ih, 0, i32(p.h) - 1)) * p.w;
  let v0 = gather8(xr, iw0, 1, lw, ok);
  let e = vec2f(load1(xr, iw0 + 8, lw, ok), load1(xr, iw0 + 9, lw, ok));
  return Row3(v0, mat2x4f(vec4f(v0[0].yzw, v0[1].x), vec4f(v0[1].yzw, e.x)),
    mat2x4f(vec4f(v0[0].zw, v0[1].xy), vec4f(v0[1].zw, e)));
}

// The same for stride 2: the row's 17 input pixels iw0 .. iw0 + 16, tap j taking iw0 + j + 2m (m < 8).
fn row17(xc: u32, ih: i32, iw0: i32, lw: i32) -> Row3 {
  let ok = ih >= 0 && ih < i32(p.h);
  let xr = xc + u32(clamp(ih, 0, i32(p.h) - 1)) * p.w;
  let ev = gather8(xr, iw0, 2, lw, ok);
  let od = gather8(xr, iw0 + 1, 2, lw, ok);
  let e8 = load1(xr, iw0 + 16, lw, ok);
  return Row3(ev, od, mat2x4f(vec4f(ev[0].yzw, ev[1].x), vec4f(ev[1].yzw, e8)));
}

// The 9 taps' weights of 4 channels: tap t at wu[o + t * q] (pack_weights' layout).
struct Taps9 { t0: vec4f, t1: vec4f, t2: vec4f, t3: vec4f, t4: vec4f, t5: vec4f, t6: vec4f, t7: vec4f, t8: vec4f }

fn taps9(o: u32, q: u32) -> Taps9 {
  return Taps9(wu[o], wu[o + q], wu[o + 2u * q], wu[o + 3u * q], wu[o + 4u * q], wu[o + 5u * q],
    wu[o + 6u * q], wu[o + 7u * q], wu[o + 8u * q]);
}

// acc + channel n's 9 taps times the 3 rows' pixels, in the generic loop's order (row by row, tap by
// tap), so the same bits. One channel at a time (rather than one tap for all channels) keeps its 8
// accumulators in registers for 72 multiply-adds.
fn step9(acc: mat2x4f, w: Taps9, n: u32, r0: Row3, r1: Row3, r2: Row3) -> mat2x4f {
  var a = step(step(step(acc, w.t0[n], r0.v0), w.t1[n], r0.v1), w.t2[n], r0.v2);
  a = step(step(step(a, w.t3[n], r1.v0), w.t4[n], r1.v1), w.t5[n], r1.v2);
  return step(step(step(a, w.t6[n], r2.v0), w.t7[n], r2.v1), w.t8[n], r2.v2);
}

// src[off + i], or 0 when i is outside [0, len) or !ok.
fn load1(off: u32, i: i32, len: i32, ok: bool) -> f32 {
  let v = src[off + u32(clamp(i, 0, len - 1))];
  return select(0.0, v, ok && i >= 0 && i < len);
}

// 8 values src[off + start + inc * j] (j < 8), 0 where start + inc * j is outside [0, len) or !ok.
// Written out: llvmpipe puts loop-indexed private vectors in scratch memory (slow).
fn gather8(off: u32, start: i32, inc: i32, len: i32, ok: bool) -> mat2x4f {
  let lo = vec4f(load1(off, start, len, ok), load1(off, start + inc, len, ok),
    load1(off, start + 2 * inc, len, ok), load1(off, start + 3 * inc, len, ok));
  let hi = vec4f(load1(off, start + 4 * inc, len, ok), load1(off, start + 5 * inc, len, ok),
    load1(off, start + 6 * inc, len, ok), load1(off, start + 7 * inc, len, ok));
  return mat2x4f(lo, hi);
}

// dst[off + i] = v (+ the residual, hasBias bit 4; or + dst itself when acc = 1: a later input-channel
// chunk of forward_uniform) for i < len.
fn put1(off: u32, i: u32, len: u32, v: f32) {
  if (i >= len) { return; }
  var o = v;
  if (p.acc == 1u) {
    o += dst[off + i];
  } else if ((p.hasBias & 4u) != 0u) {
    o += res[off + i];
  }
  dst[off + i] = o;
}

// dst[off + start + inc * j] = t[j] + b for the j with start + inc * j < len.
fn scatter8(off: u32, start: u32, inc: u32, len: u32, t: mat2x4f, b: f32) {
  put1(off, start, len, t[0].x + b);
  put1(off, start + inc, len, t[0].y + b);
  put1(off, start + 2u * inc, len, t[0].z + b);
  put1(off, start + 3u * inc, len, t[0].w + b);
  put1(off, start + 4u * inc, len, t[1].x + b);
  put1(off, start + 5u * inc, len, t[1].y + b);
  put1(off, start + 6u * inc, len, t[1].z + b);
  put1(off, start + 7u * inc, len, t[1].w + b);
}

// What the forward adds to channel co of image b: bias[co] (bit 1) and bias2[b, co] (bit 2, a
// per-image shift: the ResNet block's time embedding); the residual (bit 4) is added in put1.
fn biasOf(b: u32, co: u32) -> f32 {
  var v = 0.0;
  if (p.acc == 1u) { return v; }
  if ((p.hasBias & 1u) != 0u) { v += bias[co]; }
  if ((p.hasBias & 2u) != 0u) { v += bias2[b * p.cout + co]; }
  return v;
}

// y[b, co, oh, ow] = bias[co] + bias2[b, co] + res[b, co, oh, ow] + sum_{ci, i, j} w[co, ci, i, j] * x[b, ci, oh*s + i - pad, ow*s + j - pad].
// Invocation: channels co0 .. co0 + TM - 1, pixels ow0 .. ow0 + 7 of row oh (tile t = oh * tilesRow + ow0 / 8).
@compute @workgroup_size(WX, WY, 1)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x * WX + lid.x;
  let co0 = (wid.y * WY + lid.y) * TM;
  let b = wid.z;
  if (t >= p.tiles || co0 >= p.cout) { return; }
  let oh = t / p.tilesRow;
  let ow0 = (t % p.tilesRow) * 8u;
  let kk = p.kh * p.kw;
  let wrow = p.cin * kk;
  let last = p.cout - 1u;
  let s = i32(p.stride);
  let iw0 = i32(ow0 * p.stride) - i32(p.pad);
  let ih0 = i32(oh * p.stride) - i32(p.pad);
  let r0 = min(co0 + 0u, last) * wrow;
  let r1 = min(co0 + 1u, last) * wrow;
  let r2 = min(co0 + 2u, last) * wrow;
  let r3 = min(co0 + 3u, last) * wrow;
  let r4 = min(co0 + 4u, last) * wrow;
  let r5 = min(co0 + 5u, last) * wrow;
  let r6 = min(co0 + 6u, last) * wrow;
  let r7 = min(co0 + 7u, last) * wrow;
  let r8 = min(co0 + 8u, last) * wrow;
  let r9 = min(co0 + 9u, last) * wrow;
  let r10 = min(co0 + 10u, last) * wrow;
  let r11 = min(co0 + 11u, last) * wrow;
  let r12 = min(co0 + 12u, last) * wrow;
  let r13 = min(co0 + 13u, last) * wrow;
  let r14 = min(co0 + 14u, last) * wrow;
  let r15 = min(co0 + 15u, last) * wrow;
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
  for (var ci = 0u; ci < p.cin; ci++) {
    let xc = (b * p.cin + ci) * p.h * p.w;
    let wc = ci * kk;
    for (var i = 0u; i < p.kh; i++) {
      let ih = ih0 + i32(i);
      if (ih < 0 || ih >= i32(p.h)) { continue; }
      let xr = xc + u32(ih) * p.w;
      for (var j = 0u; j < p.kw; j++) {
        let v = gather8(xr, iw0 + i32(j), s, i32(p.w), true);
        let o = wc + i * p.kw + j;
        c0 = step(c0, wt[r0 + o], v);
        if (TM > 1u) { c1 = step(c1, wt[r1 + o], v); }
        if (TM > 2u) { c2 = step(c2, wt[r2 + o], v); }
        if (TM > 3u) { c3 = step(c3, wt[r3 + o], v); }
        if (TM > 4u) { c4 = step(c4, wt[r4 + o], v); }
        if (TM > 5u) { c5 = step(c5, wt[r5 + o], v); }
        if (TM > 6u) { c6 = step(c6, wt[r6 + o], v); }
        if (TM > 7u) { c7 = step(c7, wt[r7 + o], v); }
        if (TM > 8u) { c8 = step(c8, wt[r8 + o], v); }
        if (TM > 9u) { c9 = step(c9, wt[r9 + o], v); }
        if (TM > 10u) { c10 = step(c10, wt[r10 + o], v); }
        if (TM > 11u) { c11 = step(c11, wt[r11 + o], v); }
        if (TM > 12u) { c12 = step(c12, wt[r12 + o], v); }
        if (TM > 13u) { c13 = step(c13, wt[r13 + o], v); }
        if (TM > 14u) { c14 = step(c14, wt[r14 + o], v); }
        if (TM > 15u) { c15 = step(c15, wt[r15 + o], v); }
      }
    }
  }
  let yo = (b * p.cout + co0) * p.ho * p.wo + oh * p.wo;
  let plane = p.ho * p.wo;
  scatter8(yo + 0u * plane, ow0, 1u, p.wo, c0, biasOf(b, co0 + 0u));
  if (TM > 1u && co0 + 1u < p.cout) { scatter8(yo + 1u * plane, ow0, 1u, p.wo, c1, biasOf(b, co0 + 1u)); }
  if (TM > 2u && co0 + 2u < p.cout) { scatter8(yo + 2u * plane, ow0, 1u, p.wo, c2, biasOf(b, co0 + 2u)); }
  if (TM > 3u && co0 + 3u < p.cout) { scatter8(yo + 3u * plane, ow0, 1u, p.wo, c3, biasOf(b, co0 + 3u)); }
  if (TM > 4u && co0 + 4u < p.cout) { scatter8(yo + 4u * plane, ow0, 1u, p.wo, c4, biasOf(b, co0 + 4u)); }
  if (TM > 5u && co0 + 5u < p.cout) { scatter8(yo + 5u * plane, ow0, 1u, p.wo, c5, biasOf(b, co0 + 5u)); }
  if (TM > 6u && co0 + 6u < p.cout) { scatter8(yo + 6u * plane, ow0, 1u, p.wo, c6, biasOf(b, co0 + 6u)); }
  if (TM > 7u && co0 + 7u < p.cout) { scatter8(yo + 7u * plane, ow0, 1u, p.wo, c7, biasOf(b, co0 + 7u)); }
  if (TM > 8u && co0 + 8u < p.cout) { scatter8(yo + 8u * plane, ow0, 1u, p.wo, c8, biasOf(b, co0 + 8u)); }
  if (TM > 9u && co0 + 9u < p.cout) { scatter8(yo + 9u * plane, ow0, 1u, p.wo, c9, biasOf(b, co0 + 9u)); }
  if (TM > 10u && co0 + 10u < p.cout) { scatter8(yo + 10u * plane, ow0, 1u, p.wo, c10, biasOf(b, co0 + 10u)); }
  if (TM > 11u && co0 + 11u < p.cout) { scatter8(yo + 11u * plane, ow0, 1u, p.wo, c11, biasOf(b, co0 + 11u)); }
  if (TM > 12u && co0 + 12u < p.cout) { scatter8(yo + 12u * plane, ow0, 1u, p.wo, c12, biasOf(b, co0 + 12u)); }
  if (TM > 13u && co0 + 13u < p.cout) { scatter8(yo + 13u * plane, ow0, 1u, p.wo, c13, biasOf(b, co0 + 13u)); }
  if (TM > 14u && co0 + 14u < p.cout) { scatter8(yo + 14u * plane, ow0, 1u, p.wo, c14, biasOf(b, co0 + 14u)); }
  if (TM > 15u && co0 + 15u < p.cout) { scatter8(yo + 15u * plane, ow0, 1u, p.wo, c15, biasOf(b, co0 + 15u)); }
}

// gx[b, ci, y, x] = sum_{co, i, j} w[co, ci, i, j] * gy[b, co, (y + pad - i) / s, (x + pad - j) / s]
// over the (i, j) where both divisions are exact and land inside gy (exact for stride 2: no
// atomics, no scatter). Invocation: channels ci0 .. ci0 + TM - 1 of row y = ry + s * yq, pixels
// x = rx + s * (q0 + k), k < 8, of one parity (ry, rx): the valid taps are then i = i0 + s * mi and
// j = j0 + s * mj for every pixel (loops that step by s, no modulo), and the gy reads are 8 consecutive
// pixels. Tile t = ((ry * s + rx) * ceil(H / s) + yq) * tilesRow + q0 / 8: the 8 lanes of a SIMD
// group share the parity, so no lane runs taps another skips.
@compute @workgroup_size(WX, WY, 1)
fn backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x * WX + lid.x;
  let ci0 = (wid.y * WY + lid.y) * TM;
  let b = wid.z;
  if (t >= p.tiles || ci0 >= p.cin) { return; }
  let s = p.stride;
  let hq = (p.h + s - 1u) / s;
  let q0 = (t % p.tilesRow) * 8u;
  let yt = t / p.tilesRow; // (ry * s + rx) * hq + yq
  let par = yt / hq;
  let ry = par / s;
  let rx = par % s;
  let y = ry + s * (yt % hq);
  if (y >= p.h) { return; }
  let i0 = (ry + p.pad) % s;
  let j0 = (rx + p.pad) % s;
  let oy0 = i32((y + p.pad - i0) / s); // oy for tap i0 + s * mi is oy0 - mi
  let ox0 = i32((rx + p.pad - j0) / s) + i32(q0); // first gy pixel for tap j0 + s * mj, minus mj
  let kk = p.kh * p.kw;
  let last = p.cin - 1u;
  let r0 = min(ci0 + 0u, last) * kk;
  let r1 = min(ci0 + 1u, last) * kk;
  let r2 = min(ci0 + 2u, last) * kk;
  let r3 = min(ci0 + 3u, last) * kk;
  let r4 = min(ci0 + 4u, last) * kk;
  let r5 = min(ci0 + 5u, last) * kk;
  let r6 = min(ci0 + 6u, last) * kk;
  let r7 = min(ci0 + 7u, last) * kk;
  let r8 = min(ci0 + 8u, last) * kk;
  let r9 = min(ci0 + 9u, last) * kk;
  let r10 = min(ci0 + 10u, last) * kk;
  let r11 = min(ci0 + 11u, last) * kk;
  let r12 = min(ci0 + 12u, last) * kk;
  let r13 = min(ci0 + 13u, last) * kk;
  let r14 = min(ci0 + 14u, last) * kk;
  let r15 = min(ci0 + 15u, last) * kk;
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
  for (var co = 0u; co < p.cout; co++) {
    let gc = (b * p.cout + co) * p.ho * p.wo;
    let wc = co * p.cin * kk;
    var oy = oy0;
    for (var i = i0; i < p.kh; i += s) {
      if (oy >= 0 && oy < i32(p.ho)) {
        var ox = ox0;
        for (var j = j0; j < p.kw; j += s) {
          let v = gather8(gc + u32(oy) * p.wo, ox, 1, i32(p.wo), true);
          let o = wc + i * p.kw + j;
          c0 = step(c0, wt[r0 + o], v);
          if (TM > 1u) { c1 = step(c1, wt[r1 + o], v); }
          if (TM > 2u) { c2 = step(c2, wt[r2 + o], v); }
          if (TM > 3u) { c3 = step(c3, wt[r3 + o], v); }
          if (TM > 4u) { c4 = step(c4, wt[r4 + o], v); }
          if (TM > 5u) { c5 = step(c5, wt[r5 + o], v); }
          if (TM > 6u) { c6 = step(c6, wt[r6 + o], v); }
          if (TM > 7u) { c7 = step(c7, wt[r7 + o], v); }
          if (TM > 8u) { c8 = step(c8, wt[r8 + o], v); }
          if (TM > 9u) { c9 = step(c9, wt[r9 + o], v); }
          if (TM > 10u) { c10 = step(c10, wt[r10 + o], v); }
          if (TM > 11u) { c11 = step(c11, wt[r11 + o], v); }
          if (TM > 12u) { c12 = step(c12, wt[r12 + o], v); }
          if (TM > 13u) { c13 = step(c13, wt[r13 + o], v); }
          if (TM > 14u) { c14 = step(c14, wt[r14 + o], v); }
          if (TM > 15u) { c15 = step(c15, wt[r15 + o], v); }
          ox -= 1;
        }
      }
      oy -= 1;
    }
  }
  let xo = (b * p.cin + ci0) * p.h * p.w + y * p.w;
  let plane = p.h * p.w;
  let x0 = rx + s * q0;
  scatter8(xo + 0u * plane, x0, s, p.w, c0, 0.0);
  if (TM > 1u && ci0 + 1u < p.cin) { scatter8(xo + 1u * plane, x0, s, p.w, c1, 0.0); }
  if (TM > 2u && ci0 + 2u < p.cin) { scatter8(xo + 2u * plane, x0, s, p.w, c2, 0.0); }
  if (TM > 3u && ci0 + 3u < p.cin) { scatter8(xo + 3u * plane, x0, s, p.w, c3, 0.0); }
  if (TM > 4u && ci0 + 4u < p.cin) { scatter8(xo + 4u * plane, x0, s, p.w, c4, 0.0); }
  if (TM > 5u && ci0 + 5u < p.cin) { scatter8(xo + 5u * plane, x0, s, p.w, c5, 0.0); }
  if (TM > 6u && ci0 + 6u < p.cin) { scatter8(xo + 6u * plane, x0, s, p.w, c6, 0.0); }
  if (TM > 7u && ci0 + 7u < p.cin) { scatter8(xo + 7u * plane, x0, s, p.w, c7, 0.0); }
  if (TM > 8u && ci0 + 8u < p.cin) { scatter8(xo + 8u * plane, x0, s, p.w, c8, 0.0); }
  if (TM > 9u && ci0 + 9u < p.cin) { scatter8(xo + 9u * plane, x0, s, p.w, c9, 0.0); }
  if (TM > 10u && ci0 + 10u < p.cin) { scatter8(xo + 10u * plane, x0, s, p.w, c10, 0.0); }
  if (TM > 11u && ci0 + 11u < p.cin) { scatter8(xo + 11u * plane, x0, s, p.w, c11, 0.0); }
  if (TM > 12u && ci0 + 12u < p.cin) { scatter8(xo + 12u * plane, x0, s, p.w, c12, 0.0); }
  if (TM > 13u && ci0 + 13u < p.cin) { scatter8(xo + 13u * plane, x0, s, p.w, c13, 0.0); }
  if (TM > 14u && ci0 + 14u < p.cin) { scatter8(xo + 14u * plane, x0, s, p.w, c14, 0.0); }
  if (TM > 15u && ci0 + 15u < p.cin) { scatter8(xo + 15u * plane, x0, s, p.w, c15, 0.0); }
}

// gw[co, ci, i, j] = sum_{b, oh, ow} gy[b, co, oh, ow] * x[b, ci, oh*s + i - pad, ow*s + j - pad], an
// implicit GEMM (no patch buffer): rows co (TM per invocation; gy loads are uniform across the 8
// lanes, which run along columns), columns (tap (i, j), 8 input channels ci0 .. ci0 + 7) per invocation,
// so the 8 x loads of a pixel share one position and one bounds check. Column tile t = tap * cblocks +
// ci0 / 8. The reduction runs over output pixels in rows rho = b * Ho + oh: workgroup z takes rows
// [(z0 + z) * rows, +rows) (rows * Wo stays far below llvmpipe's loop cap) and writes partial sum z
// (dst offset z * Cout * Cin*KH*KW; acc = 1 adds to it: later passes over more rows). The ow range
// where the tap lands inside the image is computed once, so the inner loop has no bounds checks.
@compute @workgroup_size(WX, WY, 1)
fn backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x * WX + lid.x;
  let co0 = (wid.y * WY + lid.y) * TM;
  if (t >= p.tiles || co0 >= p.cout) { return; }
  let kk = p.kh * p.kw;
  let tap = t / p.cblocks;
  let ci0 = (t % p.cblocks) * 8u;
  let i = tap / p.kw;
  let j = tap % p.kw;
  let s = p.stride;
  let hw = p.h * p.w;
  let plane = p.ho * p.wo;
  // ow with 0 <= ow * s + j - pad < W
  let lo = i32(p.pad) - i32(j);
  let owLo = u32(max(0, (lo + i32(s) - 1) / i32(s)));
  let owHi = u32(clamp((i32(p.w) - 1 + lo) / i32(s) + 1, 0, i32(p.wo)));
  let lastC = p.cin - 1u;
  let x0 = min(ci0 + 0u, lastC) * hw;
  let x1 = min(ci0 + 1u, lastC) * hw;
  let x2 = min(ci0 + 2u, lastC) * hw;
  let x3 = min(ci0 + 3u, lastC) * hw;
  let x4 = min(ci0 + 4u, lastC) * hw;
  let x5 = min(ci0 + 5u, lastC) * hw;
  let x6 = min(ci0 + 6u, lastC) * hw;
  let x7 = min(ci0 + 7u, lastC) * hw;
  let last = p.cout - 1u;
  let r0 = min(co0 + 0u, last) * plane;
  let r1 = min(co0 + 1u, last) * plane;
  let r2 = min(co0 + 2u, last) * plane;
  let r3 = min(co0 + 3u, last) * plane;
  let r4 = min(co0 + 4u, last) * plane;
  let r5 = min(co0 + 5u, last) * plane;
  let r6 = min(co0 + 6u, last) * plane;
  let r7 = min(co0 + 7u, last) * plane;
  let r8 = min(co0 + 8u, last) * plane;
  let r9 = min(co0 + 9u, last) * plane;
  let r10 = min(co0 + 10u, last) * plane;
  let r11 = min(co0 + 11u, last) * plane;
  let r12 = min(co0 + 12u, last) * plane;
  let r13 = min(co0 + 13u, last) * plane;
  let r14 = min(co0 + 14u, last) * plane;
  let r15 = min(co0 + 15u, last) * plane;
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
  let chunk = p.z0 + wid.z;
  let rho0 = chunk * p.rows;
  let rho1 = min(rho0 + p.rows, p.nrows);
  for (var rho = rho0; rho < rho1; rho++) {
    let b = rho / p.ho;
    let oh = rho - b * p.ho;
    let ih = i32(oh * s + i) - i32(p.pad);
    if (ih < 0 || ih >= i32(p.h)) { continue; }
    let xr = b * p.cin * hw + u32(ih) * p.w + j - p.pad; // + ow * s (wraps back into range for valid ow)
    let gr = b * p.cout * plane + oh * p.wo;
    for (var ow = owLo; ow < owHi; ow++) {
      let xo = xr + ow * s;
      let v = mat2x4f(vec4f(src[x0 + xo], src[x1 + xo], src[x2 + xo], src[x3 + xo]),
        vec4f(src[x4 + xo], src[x5 + xo], src[x6 + xo], src[x7 + xo]));
      let go = gr + ow;
      c0 = step(c0, wt[r0 + go], v);
      if (TM > 1u) { c1 = step(c1, wt[r1 + go], v); }
      if (TM > 2u) { c2 = step(c2, wt[r2 + go], v); }
      if (TM > 3u) { c3 = step(c3, wt[r3 + go], v); }
      if (TM > 4u) { c4 = step(c4, wt[r4 + go], v); }
      if (TM > 5u) { c5 = step(c5, wt[r5 + go], v); }
      if (TM > 6u) { c6 = step(c6, wt[r6 + go], v); }
      if (TM > 7u) { c7 = step(c7, wt[r7 + go], v); }
      if (TM > 8u) { c8 = step(c8, wt[r8 + go], v); }
      if (TM > 9u) { c9 = step(c9, wt[r9 + go], v); }
      if (TM > 10u) { c10 = step(c10, wt[r10 + go], v); }
      if (TM > 11u) { c11 = step(c11, wt[r11 + go], v); }
      if (TM > 12u) { c12 = step(c12, wt[r12 + go], v); }
      if (TM > 13u) { c13 = step(c13, wt[r13 + go], v); }
      if (TM > 14u) { c14 = step(c14, wt[r14 + go], v); }
      if (TM > 15u) { c15 = step(c15, wt[r15 + go], v); }
    }
  }
  let n = p.cin * kk;
  let base = wid.z * p.cout * n + ci0 * kk + tap;
  putTile(base, co0, ci0, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
}

fn put1w(i: u32, ok: bool, v: f32) {
  if (ok) { dst[i] = select(v, dst[i] + v, p.acc == 1u); }
}

// Row co of a weight-gradient tile: gw[co, ci0 + k, tap] for the k with ci0 + k < Cin (base = part
// offset + ci0 * KK + tap; channels step by KK).
fn putw(base: u32, co: u32, ci0: u32, t: mat2x4f) {
  if (co >= p.cout) { return; }
  let kk = p.kh * p.kw;
  let o = base + co * p.cin * kk;
  put1w(o, ci0 < p.cin, t[0].x);
  put1w(o + kk, ci0 + 1u < p.cin, t[0].y);
  put1w(o + 2u * kk, ci0 + 2u < p.cin, t[0].z);
  put1w(o + 3u * kk, ci0 + 3u < p.cin, t[0].w);
  put1w(o + 4u * kk, ci0 + 4u < p.cin, t[1].x);
  put1w(o + 5u * kk, ci0 + 5u < p.cin, t[1].y);
  put1w(o + 6u * kk, ci0 + 6u < p.cin, t[1].z);
  put1w(o + 7u * kk, ci0 + 7u < p.cin, t[1].w);
}

// A weight-gradient tile: channels co0 .. co0 + TM - 1 (`putw` skips those past Cout), written out.
fn putTile(
  base: u32, co0: u32, ci0: u32,
  c0: mat2x4f, c1: mat2x4f, c2: mat2x4f, c3: mat2x4f, c4: mat2x4f, c5: mat2x4f, c6: mat2x4f, c7: mat2x4f,
  c8: mat2x4f, c9: mat2x4f, c10: mat2x4f, c11: mat2x4f, c12: mat2x4f, c13: mat2x4f, c14: mat2x4f, c15: mat2x4f,
) {
  putw(base, co0, ci0, c0);
  if (TM > 1u) { putw(base, co0 + 1u, ci0, c1); }
  if (TM > 2u) { putw(base, co0 + 2u, ci0, c2); }
  if (TM > 3u) { putw(base, co0 + 3u, ci0, c3); }
  if (TM > 4u) { putw(base, co0 + 4u, ci0, c4); }
  if (TM > 5u) { putw(base, co0 + 5u, ci0, c5); }
  if (TM > 6u) { putw(base, co0 + 6u, ci0, c6); }
  if (TM > 7u) { putw(base, co0 + 7u, ci0, c7); }
  if (TM > 8u) { putw(base, co0 + 8u, ci0, c8); }
  if (TM > 9u) { putw(base, co0 + 9u, ci0, c9); }
  if (TM > 10u) { putw(base, co0 + 10u, ci0, c10); }
  if (TM > 11u) { putw(base, co0 + 11u, ci0, c11); }
  if (TM > 12u) { putw(base, co0 + 12u, ci0, c12); }
  if (TM > 13u) { putw(base, co0 + 13u, ci0, c13); }
  if (TM > 14u) { putw(base, co0 + 14u, ci0, c14); }
  if (TM > 15u) { putw(base, co0 + 15u, ci0, c15); }
}

// dst[e] = sum_z parts[z * total + e] for e < total (the weight gradient's chunk partials).
@compute @workgroup_size(WG)
fn sum_parts(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.total) { return; }
  var acc = 0.0;
  for (var z = 0u; z < p.parts; z++) { acc += wt[z * p.total + e]; }
  dst[e] = acc;
}


// ---- forward_uniform: the forward with its weights in a uniform buffer ----
// llvmpipe (Mesa 22.3, gallivm) compiles every storage-buffer load as a loop over the 8 SIMD lanes with an
// exec-mask and a bounds branch per lane; a uniform-buffer load is one vector gather (a broadcast only when
// its offset is a compile-time constant, never the case here). So the weights come from a 64 KiB uniform
// window (binding 7), and every lane of a workgroup works on the same TM output channels (co0 from the
// dispatch, never from the local id), over invocations t = image * tiles + tile. A dispatch covers one block k = z0 of TM
// channels and one chunk [ci0, ci0 + cn) of input channels; chunks after the first add into dst
// (acc = 1), the first adds the epilogue (bias, channel bias, residual). A 3x3 conv loads each kernel
// row's input pixels once for its 3 taps (10 for stride 1, 17 for stride 2) and then runs channel by
// channel (step9).
// The input gradient of a stride-1 conv is such a forward too (pack_weights with FLIP = 1).
// pack_weights lays the weights out for it: window (k, chunk) at dst[(k * chunks + chunk) * WIN], inside it
// [(ci - ci0) * KK + tap][TM] (zero past Cout), so a tap's TM weights are TM / 4 consecutive vec4s.
const WIN: u32 = 16384u; // floats per window (64 KiB: WebGPU's default uniform binding limit)
// 1: 3x3 stride 1; 3: 3x3 stride 2 (taps written out); 2: 1x1 stride 1 without padding (the tap loops
// with compile-time bounds); 0: any other (loops over runtime taps). 1.1-1.7x the runtime loops for the
// UNets' convs (the same bits).
override KSHAPE: u32 = 0u;
// 1: pack the weights of the stride-1 conv whose input gradient is this forward (gx = conv(gy, w
// transposed and flipped, padding K - 1 - pad)).
override FLIP: u32 = 0u;
@group(0) @binding(7) var<uniform> wu: array<vec4f, 4096>;

// e < total = blocks * Cin * KK * TM: e = ((k * Cin + ci) * KK + tap) * TM + c; cn = chunk length.
@compute @workgroup_size(WG)
fn pack_weights(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.total) { return; }
  let kk = p.kh * p.kw;
  let c = e % TM;
  let r = e / TM; // (k * Cin + ci) * KK + tap
  let tap = r % kk;
  let kci = r / kk;
  let ci = kci % p.cin;
  let k = kci / p.cin;
  let co = k * TM + c;
  let chunks = (p.cin + p.cn - 1u) / p.cn;
  let chunk = ci / p.cn;
  var v = 0.0;
  if (co < p.cout) {
    // FLIP: w is [Cin, Cout, KK] of the conv whose input gradient this forward computes, read flipped
    v = select(wt[(co * p.cin + ci) * kk + tap], wt[(ci * p.cout + co) * kk + kk - 1u - tap], FLIP != 0u);
  }
  dst[(k * chunks + chunk) * WIN + ((ci - chunk * p.cn) * kk + tap) * TM + c] = v;
}

@compute @workgroup_size(WG)
fn forward_uniform(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tt = gid.x + gid.y * nwg.x * WG;
  if (tt >= p.tiles * p.rows) { return; } // rows: the batch
  let b = tt / p.tiles;
  let t = tt % p.tiles;
  let co0 = p.z0 * TM;
  let oh = t / p.tilesRow;
  let ow0 = (t % p.tilesRow) * 8u;
  // KSHAPE 2 (1x1): the tap loops below with compile-time bounds, which the compiler drops
  let kh = select(p.kh, 1u, KSHAPE == 2u);
  let kw = select(p.kw, 1u, KSHAPE == 2u);
  let kk = kh * kw;
  let s = select(i32(p.stride), 1, KSHAPE == 2u);
  let lw = i32(p.w);
  let iw0 = i32(ow0 * p.stride) - i32(p.pad);
  let ih0 = i32(oh * p.stride) - i32(p.pad);
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
  let q = TM / 4u;
  for (var cl = 0u; cl < p.cn; cl++) {
    let xc = (b * p.cin + p.ci0 + cl) * p.h * p.w;
    if (KSHAPE == 1u || KSHAPE == 3u) { // 3x3: the 9 taps written out
      var r0: Row3;
      var r1: Row3;
      var r2: Row3;
      if (KSHAPE == 1u) {
        r0 = row10(xc, ih0, iw0, lw);
        r1 = row10(xc, ih0 + 1, iw0, lw);
        r2 = row10(xc, ih0 + 2, iw0, lw);
      } else {
        r0 = row17(xc, ih0, iw0, lw);
        r1 = row17(xc, ih0 + 1, iw0, lw);
        r2 = row17(xc, ih0 + 2, iw0, lw);
      }
      let o = cl * 9u * q;
      let w0 = taps9(o, q);
      c0 = step9(c0, w0, 0u, r0, r1, r2);
      c1 = step9(c1, w0, 1u, r0, r1, r2);
      c2 = step9(c2, w0, 2u, r0, r1, r2);
      c3 = step9(c3, w0, 3u, r0, r1, r2);
      if (TM > 4u) {
        let w1 = taps9(o + 1u, q);
        c4 = step9(c4, w1, 0u, r0, r1, r2);
        c5 = step9(c5, w1, 1u, r0, r1, r2);
        c6 = step9(c6, w1, 2u, r0, r1, r2);
        c7 = step9(c7, w1, 3u, r0, r1, r2);
      }
      if (TM > 8u) {
        let w2 = taps9(o + 2u, q);
        c8 = step9(c8, w2, 0u, r0, r1, r2);
        c9 = step9(c9, w2, 1u, r0, r1, r2);
        c10 = step9(c10, w2, 2u, r0, r1, r2);
        c11 = step9(c11, w2, 3u, r0, r1, r2);
        let w3 = taps9(o + 3u, q);
        c12 = step9(c12, w3, 0u, r0, r1, r2);
        c13 = step9(c13, w3, 1u, r0, r1, r2);
        c14 = step9(c14, w3, 2u, r0, r1, r2);
        c15 = step9(c15, w3, 3u, r0, r1, r2);
      }
      continue;
    }
    for (var i = 0u; i < kh; i++) {
      let ih = ih0 + i32(i);
      let rowok = ih >= 0 && ih < i32(p.h);
      let xr = xc + u32(clamp(ih, 0, i32(p.h) - 1)) * p.w;
      for (var j = 0u; j < kw; j++) {
        let v = gather8(xr, iw0 + i32(j), s, lw, rowok);
        let o = (cl * kk + i * kw + j) * q;
        let w0 = wu[o];
        c0 = step(c0, w0.x, v);
        c1 = step(c1, w0.y, v);
        c2 = step(c2, w0.z, v);
        c3 = step(c3, w0.w, v);
        if (TM > 4u) {
          let w1 = wu[o + 1u];
          c4 = step(c4, w1.x, v);
          c5 = step(c5, w1.y, v);
          c6 = step(c6, w1.z, v);
          c7 = step(c7, w1.w, v);
        }
        if (TM > 8u) {
          let w2 = wu[o + 2u];
          let w3 = wu[o + 3u];
          c8 = step(c8, w2.x, v);
          c9 = step(c9, w2.y, v);
          c10 = step(c10, w2.z, v);
          c11 = step(c11, w2.w, v);
          c12 = step(c12, w3.x, v);
          c13 = step(c13, w3.y, v);
          c14 = step(c14, w3.z, v);
          c15 = step(c15, w3.w, v);
        }
      }
    }
  }
  let yo = (b * p.cout + co0) * p.ho * p.wo + oh * p.wo;
  let plane = p.ho * p.wo;
  if (co0 + 0u < p.cout) { scatter8(yo + 0u * plane, ow0, 1u, p.wo, c0, biasOf(b, co0 + 0u)); }
  if (co0 + 1u < p.cout) { scatter8(yo + 1u * plane, ow0, 1u, p.wo, c1, biasOf(b, co0 + 1u)); }
  if (co0 + 2u < p.cout) { scatter8(yo + 2u * plane, ow0, 1u, p.wo, c2, biasOf(b, co0 + 2u)); }
  if (co0 + 3u < p.cout) { scatter8(yo + 3u * plane, ow0, 1u, p.wo, c3, biasOf(b, co0 + 3u)); }
  if (TM > 4u && co0 + 4u < p.cout) { scatter8(yo + 4u * plane, ow0, 1u, p.wo, c4, biasOf(b, co0 + 4u)); }
  if (TM > 4u && co0 + 5u < p.cout) { scatter8(yo + 5u * plane, ow0, 1u, p.wo, c5, biasOf(b, co0 + 5u)); }
  if (TM > 4u && co0 + 6u < p.cout) { scatter8(yo + 6u * plane, ow0, 1u, p.wo, c6, biasOf(b, co0 + 6u)); }
  if (TM > 4u && co0 + 7u < p.cout) { scatter8(yo + 7u * plane, ow0, 1u, p.wo, c7, biasOf(b, co0 + 7u)); }
  if (TM > 8u && co0 + 8u < p.cout) { scatter8(yo + 8u * plane, ow0, 1u, p.wo, c8, biasOf(b, co0 + 8u)); }
  if (TM > 8u && co0 + 9u < p.cout) { scatter8(yo + 9u * plane, ow0, 1u, p.wo, c9, biasOf(b, co0 + 9u)); }
  if (TM > 8u && co0 + 10u < p.cout) { scatter8(yo + 10u * plane, ow0, 1u, p.wo, c10, biasOf(b, co0 + 10u)); }
  if (TM > 8u && co0 + 11u < p.cout) { scatter8(yo + 11u * plane, ow0, 1u, p.wo, c11, biasOf(b, co0 + 11u)); }
  if (TM > 8u && co0 + 12u < p.cout) { scatter8(yo + 12u * plane, ow0, 1u, p.wo, c12, biasOf(b, co0 + 12u)); }
  if (TM > 8u && co0 + 13u < p.cout) { scatter8(yo + 13u * plane, ow0, 1u, p.wo, c13, biasOf(b, co0 + 13u)); }
  if (TM > 8u && co0 + 14u < p.cout) { scatter8(yo + 14u * plane, ow0, 1u, p.wo, c14, biasOf(b, co0 + 14u)); }
  if (TM > 8u && co0 + 15u < p.cout) { scatter8(yo + 15u * plane, ow0, 1u, p.wo, c15, biasOf(b, co0 + 15u)); }
}

// backward_weight with gy read from a uniform window (wu) that holds whole images z0 .. z0 + nrows - 1
// (gy's floats from p.total on), 4 output pixels per step: a vec4 of gy per channel (Wo and the plane
// are multiples of 4) and, per pixel, the 8 input channels' values (masked loads, so the padding
// needs no per-tap pixel range). Windows after the first add into dst (acc = 1), one dispatch each.
@compute @workgroup_size(WX, WY, 1)
fn backward_weight_uniform(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x * WX + lid.x;
  let co0 = (wid.y * WY + lid.y) * TM;
  if (t >= p.tiles || co0 >= p.cout) { return; }
  let kk = p.kh * p.kw;
  let tap = t / p.cblocks;
  let ci0 = (t % p.cblocks) * 8u;
  let i = tap / p.kw;
  let j = tap % p.kw;
  let hw = p.h * p.w;
  let lw = i32(p.w);
  let lastC = p.cin - 1u;
  let x0 = min(ci0 + 0u, lastC) * hw;
  let x1 = min(ci0 + 1u, lastC) * hw;
  let x2 = min(ci0 + 2u, lastC) * hw;
  let x3 = min(ci0 + 3u, lastC) * hw;
  let x4 = min(ci0 + 4u, lastC) * hw;
  let x5 = min(ci0 + 5u, lastC) * hw;
  let x6 = min(ci0 + 6u, lastC) * hw;
  let x7 = min(ci0 + 7u, lastC) * hw;
  let last = p.cout - 1u;
  let q = p.ho * p.wo / 4u; // vec4s per channel plane
  let r0 = min(co0 + 0u, last) * q;
  let r1 = min(co0 + 1u, last) * q;
  let r2 = min(co0 + 2u, last) * q;
  let r3 = min(co0 + 3u, last) * q;
  let r4 = min(co0 + 4u, last) * q;
  let r5 = min(co0 + 5u, last) * q;
  let r6 = min(co0 + 6u, last) * q;
  let r7 = min(co0 + 7u, last) * q;
  let r8 = min(co0 + 8u, last) * q;
  let r9 = min(co0 + 9u, last) * q;
  let r10 = min(co0 + 10u, last) * q;
  let r11 = min(co0 + 11u, last) * q;
  let r12 = min(co0 + 12u, last) * q;
  let r13 = min(co0 + 13u, last) * q;
  let r14 = min(co0 + 14u, last) * q;
  let r15 = min(co0 + 15u, last) * q;
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
  let s = i32(p.stride);
  let s4 = 4 * s;
  for (var b = p.z0; b < p.z0 + p.nrows; b++) {
    let gb = (b * p.cout * q * 4u - p.total) / 4u; // image b's first vec4 in the window
    for (var oh = 0u; oh < p.ho; oh++) {
      let ih = i32(oh * p.stride + i) - i32(p.pad);
      if (ih < 0 || ih >= i32(p.h)) { continue; }
      let xr = b * p.cin * hw + u32(ih) * p.w;
      let gr = gb + oh * p.wo / 4u;
      var iw = i32(j) - i32(p.pad);
      for (var g = gr; g < gr + p.wo / 4u; g++) {
        let v0 = col8(xr + x0, xr + x1, xr + x2, xr + x3, xr + x4, xr + x5, xr + x6, xr + x7, iw, lw);
        let v1 = col8(xr + x0, xr + x1, xr + x2, xr + x3, xr + x4, xr + x5, xr + x6, xr + x7, iw + s, lw);
        let v2 = col8(xr + x0, xr + x1, xr + x2, xr + x3, xr + x4, xr + x5, xr + x6, xr + x7, iw + 2 * s, lw);
        let v3 = col8(xr + x0, xr + x1, xr + x2, xr + x3, xr + x4, xr + x5, xr + x6, xr + x7, iw + 3 * s, lw);
        iw += s4;
        c0 = step4(c0, wu[r0 + g], v0, v1, v2, v3);
        if (TM > 1u) { c1 = step4(c1, wu[r1 + g], v0, v1, v2, v3); }
        if (TM > 2u) { c2 = step4(c2, wu[r2 + g], v0, v1, v2, v3); }
        if (TM > 3u) { c3 = step4(c3, wu[r3 + g], v0, v1, v2, v3); }
        if (TM > 4u) { c4 = step4(c4, wu[r4 + g], v0, v1, v2, v3); }
        if (TM > 5u) { c5 = step4(c5, wu[r5 + g], v0, v1, v2, v3); }
        if (TM > 6u) { c6 = step4(c6, wu[r6 + g], v0, v1, v2, v3); }
        if (TM > 7u) { c7 = step4(c7, wu[r7 + g], v0, v1, v2, v3); }
        if (TM > 8u) { c8 = step4(c8, wu[r8 + g], v0, v1, v2, v3); }
        if (TM > 9u) { c9 = step4(c9, wu[r9 + g], v0, v1, v2, v3); }
        if (TM > 10u) { c10 = step4(c10, wu[r10 + g], v0, v1, v2, v3); }
        if (TM > 11u) { c11 = step4(c11, wu[r11 + g], v0, v1, v2, v3); }
        if (TM > 12u) { c12 = step4(c12, wu[r12 + g], v0, v1, v2, v3); }
        if (TM > 13u) { c13 = step4(c13, wu[r13 + g], v0, v1, v2, v3); }
        if (TM > 14u) { c14 = step4(c14, wu[r14 + g], v0, v1, v2, v3); }
        if (TM > 15u) { c15 = step4(c15, wu[r15 + g], v0, v1, v2, v3); }
      }
    }
  }
  let base = ci0 * kk + tap;
  putTile(base, co0, ci0, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
}

// The 8 input channels' values at column iw of one row (channel k's row at src[ok]), 0 outside [0, lw).
fn col8(o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, o6: u32, o7: u32, iw: i32, lw: i32) -> mat2x4f {
  return mat2x4f(vec4f(load1(o0, iw, lw, true), load1(o1, iw, lw, true), load1(o2, iw, lw, true),
    load1(o3, iw, lw, true)), vec4f(load1(o4, iw, lw, true), load1(o5, iw, lw, true),
    load1(o6, iw, lw, true), load1(o7, iw, lw, true)));
}

// acc + 4 pixels' gy (g) times their 8 input channels' values.
fn step4(acc: mat2x4f, g: vec4f, v0: mat2x4f, v1: mat2x4f, v2: mat2x4f, v3: mat2x4f) -> mat2x4f {
  return step(step(step(step(acc, g.x, v0), g.y, v1), g.z, v2), g.w, v3);
}
