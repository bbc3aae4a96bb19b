// Counter-based random numbers: element i of a draw depends only on (seed, offset + i), never on
// the dispatch shape. Integer hashing is the PCG output permutation, mirrored in lib/ref/rng.ts.
// `normal`: Box-Muller on two 24-bit uniforms; `uniform`: [0, 1).
override WG: u32 = 64u;

struct Params { n: u32, seed: u32, offset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn bits(ctr: u32, stream: u32) -> u32 {
  return pcg(pcg(ctr ^ pcg(p.seed)) + stream * 2654435769u);
}

// (0, 1]: never 0, so log() stays finite.
fn unit(h: u32) -> f32 { return (f32(h >> 8u) + 1.0) * (1.0 / 16777216.0); }

@compute @workgroup_size(WG)
fn normal(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let ctr = p.offset + i;
  let u1 = unit(bits(ctr, 0u));
  let u2 = unit(bits(ctr, 1u));
  y[i] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

@compute @workgroup_size(WG)
fn uniform01(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  y[i] = unit(bits(p.offset + i, 0u)) - 1.0 / 16777216.0;
}
