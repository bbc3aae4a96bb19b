// Sinusoidal timestep embedding, as diffusers' get_timestep_embedding: t: [B] -> out: [B, dim].
//   freq_k = exp(-log(maxPeriod) * k / (half - freqShift)), k < half = dim / 2
//   out[b, :] = cat[sin(t_b freq), cos(t_b freq)] (cos first when flip), zero pad when dim is odd.
// The f32 operations follow diffusers' float32 order. sin/cos get their argument reduced to
// [-pi, pi] first (Cody-Waite, 2 pi = C1 + C2 with C1 exact in 8 bits), because shader sin/cos
// are only specified to be accurate there and t * freq reaches ~1000.
override WG: u32 = 64u;

struct Params {
  B: u32,
  dim: u32,
  half: u32,
  flip: u32,
  freqShift: f32,
  logMaxPeriod: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const C1: f32 = 6.28125;
const C2: f32 = 0.0019353071795864769;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.B * p.dim) { return; }
  let b = o / p.dim;
  let col = o % p.dim;
  if (col >= 2u * p.half) { out[o] = 0.0; return; }
  let second = col >= p.half;
  let k = select(col, col - p.half, second);
  let exponent = (-p.logMaxPeriod * f32(k)) / (f32(p.half) - p.freqShift);
  let arg = t[b] * exp(exponent);
  let n = round(arg / (C1 + C2));
  let r = (arg - n * C1) - n * C2;
  // first half: sin (cos when flipped); second half: the other one
  out[o] = select(sin(r), cos(r), second != (p.flip != 0u));
}
