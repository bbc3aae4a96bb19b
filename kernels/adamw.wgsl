// AdamW (decoupled weight decay, bias correction) and global gradient-norm clipping.
// `clip` reads the squared norms of the flat parameter groups (written by reduce.wgsl, MODE 2) and
// stores coef[0] = min(1, maxNorm / (norm + 1e-6)) and coef[1] = norm; `step` (one dispatch per flat
// group of parameters laid end to end, lib/train/adamw.ts) scales gradients by coef[0], so clipping
// needs no readback.
override WG: u32 = 64u;

struct StepParams { n: u32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32 }
struct ClipParams { count: u32, maxNorm: f32 }
@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> coefIn: array<f32>;
@group(0) @binding(6) var<storage, read> sq: array<f32>;
@group(0) @binding(7) var<storage, read_write> coefOut: array<f32>;
@group(0) @binding(8) var<uniform> cp: ClipParams;

@compute @workgroup_size(WG)
fn step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = grad[i] * coefIn[0];
  let mi = p.b1 * m[i] + (1.0 - p.b1) * g;
  let vi = p.b2 * v[i] + (1.0 - p.b2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let w = param[i] * (1.0 - p.lr * p.wd);
  param[i] = w - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
}

// One invocation: the group count is small (one per 16M parameters), far below the loop cap.
@compute @workgroup_size(1)
fn clip() {
  var total = 0.0;
  for (var k = 0u; k < cp.count; k++) { total += sq[k]; }
  let norm = sqrt(total);
  coefOut[0] = select(1.0, min(1.0, cp.maxNorm / (norm + 1e-6)), cp.maxNorm > 0.0);
  coefOut[1] = norm;
}

// Exponential moving average of the weights (kept beside the optimizer): ema = d * ema + (1 - d) * param.
// Reuses StepParams: n, and lr carries d.
@group(0) @binding(9) var<storage, read_write> ema: array<f32>;
@group(0) @binding(10) var<storage, read> src: array<f32>;

@compute @workgroup_size(WG)
fn ema_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  ema[i] = p.lr * ema[i] + (1.0 - p.lr) * src[i];
}
