// Adapter probes for the bench (bench/probes.ts): an FMA-bound loop (what the adapter can compute
// at best) and a vec4 copy (what it can move). Not used by the library.
override WG: u32 = 64u;

struct Params { iters: u32, n4: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;

// 8 independent vec4 FMA chains per invocation (enough to hide FMA latency on a CPU's SIMD lanes):
// 8 chains x 4 components x 2 = 64 FLOPs per iteration.
@compute @workgroup_size(WG)
fn fma_probe(@builtin(global_invocation_id) gid: vec3u) {
  var a0 = vec4f(f32(gid.x) * 1e-6);
  var a1 = a0 + 1.0;
  var a2 = a0 + 2.0;
  var a3 = a0 + 3.0;
  var a4 = a0 + 4.0;
  var a5 = a0 + 5.0;
  var a6 = a0 + 6.0;
  var a7 = a0 + 7.0;
  let m = vec4f(0.999);
  let c = vec4f(0.001);
  for (var i = 0u; i < p.iters; i++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  // one store per invocation keeps the loop alive
  dst[gid.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

@compute @workgroup_size(WG)
fn copy_probe(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n4) { dst[i] = src[i]; }
}
