// AdamW (decoupled weight decay, bias correction) and global gradient-norm clipping.
// `clip` reads the squared norms of the flat parameter groups (written by reduce.wgsl, MODE 2) and
// stores coef[0] = min(1, maxNorm / (norm + 1e-6)) and coef[1] = norm; `step` (one dispatch per flat
// group of parameters laid end to end, lib/train/adamw.ts) scales gradients by coef[0], so clipping
// needs no readback.
// Non-finite guard, also without a readback: `clip` checks the squared norms, the norm and a watched
// buffer (the step's losses) for NaN/inf and sets coef[2] = 0 when any is; `step` is then a no-op
// (weights and moments unchanged). coef[3..9] count what was skipped for the next logging readback
// (layout in lib/train/adamw.ts, GUARD).
override WG: u32 = 64u;

struct StepParams { n: u32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32 }
struct ClipParams { count: u32, maxNorm: f32, watchCount: u32, update: u32 }
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
  if (i >= p.n || coefIn[2] == 0.0) { return; }
  let g = grad[i] * coefIn[0];
  let mi = p.b1 * m[i] + (1.0 - p.b1) * g;
  let vi = p.b2 * v[i] + (1.0 - p.b2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let w = param[i] * (1.0 - p.lr * p.wd);
  param[i] = w - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
}

@group(0) @binding(11) var<storage, read> watch: array<f32>;

// NaN or +-inf, tested on the bits: compilers may assume float math never meets them and fold
// `x != x` away, but they cannot assume anything about a bit pattern.
fn finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// One invocation: the group count is small (one per 16M parameters) and the watched buffer is a few
// values per example, far below the loop cap.
@compute @workgroup_size(1)
fn clip() {
  var total = 0.0;
  var gradOk = true;
  for (var k = 0u; k < cp.count; k++) {
    let s = sq[k];
    gradOk = gradOk && finite(s);
    total += s;
  }
  var lossOk = true;
  for (var k = 0u; k < cp.watchCount; k++) { lossOk = lossOk && finite(watch[k]); }
  let norm = sqrt(total);
  gradOk = gradOk && finite(total) && finite(norm);
  coefOut[0] = select(1.0, min(1.0, cp.maxNorm / (norm + 1e-6)), cp.maxNorm > 0.0);
  coefOut[1] = norm;
  if (gradOk && lossOk) {
    coefOut[2] = 1.0;
    coefOut[4] = 0.0;
    return;
  }
  let u = f32(cp.update);
  coefOut[2] = 0.0;
  coefOut[3] += 1.0; // skipped updates
  coefOut[4] += 1.0; // the current run of skips
  if (coefOut[6] == 0.0) {
    coefOut[6] = u; // first skipped update
    coefOut[9] = select(0.0, 1.0, !lossOk) + select(0.0, 2.0, !gradOk);
  }
  coefOut[7] = u; // last skipped update
  if (coefOut[4] > coefOut[5]) {
    coefOut[5] = coefOut[4]; // longest run
    coefOut[8] = u; // where it ended
  }
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
