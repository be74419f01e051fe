// WGSL for the default LeNet (32x32 input, conv 5x5x6 + ReLU + max pool, conv 5x5x16 + max
// pool, dense 400-120-84-10 with ReLU), in the same layouts as the other engines: conv HWIO,
// dense [in, out], NHWC flatten. A training step is four dispatches: `trainSample` (one
// workgroup per image: forward, loss and backward down to pool1, in workgroup memory),
// `gradients` (one thread per parameter, summing over the batch), `check` (one workgroup:
// finiteness guard and running totals) and `adam`; on a training set resident on the GPU a fifth,
// `gather`, comes first and builds the batch from indices. Inference is one dispatch, `forward`.

/** Offsets of the parameters in the flat parameter buffer (the weights file's order). */
export const PARAM_OFFSETS = [0, 150, 156, 2556, 2572, 50572, 50692, 60772, 60856, 61696] as const;
export const PARAM_SIZES = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10] as const;
export const PARAM_COUNT = 61706;
/** Floats before the labels in the input buffer (step settings). */
export const HEADER = 16;
/** Per-image floats of the training activations (see the offsets in the shader). */
export const ACTS_STRIDE = 3572;
/** Per-image u32s of the pooling argmax positions. */
export const IDX_STRIDE = 1576;
export const IMAGE = 1024;
export const WORKGROUP = 256;
export const PARAM_WORKGROUP = 64;
/** u32 words before the labels in a resident training set: the 256-entry normalisation table. */
export const SET_TABLE = 256;
/** Pixels per u32 word of a resident training set (raw 8-bit, little-endian). */
export const SET_PIXELS_PER_WORD = 4;

export const LENET_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
// Adam's first moments at [0, P), second moments at [P, 2P).
@group(0) @binding(2) var<storage, read_write> moments: array<f32>;
// Header (n, lr, beta1, beta2, eps, decay, step, lr / bc1, bc2, image offset, 1 - beta1,
// 1 - beta2, resident set's pixel offset), labels (or, before gather, set indices), images.
@group(0) @binding(3) var<storage, read_write> input: array<f32>;
// Training: per-image activations and deltas (stride ACTS). Inference: logits [n, 10].
@group(0) @binding(4) var<storage, read_write> acts: array<f32>;
@group(0) @binding(5) var<storage, read_write> idx: array<u32>;
// lossSum, correctSum, first diverged step (0: none), last loss, last correct, apply flag.
@group(0) @binding(6) var<storage, read_write> state: array<f32>;

// A training set resident on the GPU (bound only for gather): the normalisation table (f32
// bits, 256 words), the labels (4 per word) from word 256, the pixels (4 per word) from the word
// in header 12.
@group(1) @binding(0) var<storage, read> trainingSet: array<u32>;

const P: u32 = 61706u;
const C1W: u32 = 0u; const C1B: u32 = 150u; const C2W: u32 = 156u; const C2B: u32 = 2556u;
const F1W: u32 = 2572u; const F1B: u32 = 50572u; const F2W: u32 = 50692u; const F2B: u32 = 60772u;
const F3W: u32 = 60856u; const F3B: u32 = 61696u;

const ACTS: u32 = 3572u;
const A_POOL1: u32 = 0u; const A_POOL2: u32 = 1176u; const A_H1: u32 = 1576u; const A_H2: u32 = 1696u;
const A_DL: u32 = 1780u; const A_DH1: u32 = 1790u; const A_DH2: u32 = 1910u; const A_DP2: u32 = 1994u;
const A_DP1: u32 = 2394u; const A_LOSS: u32 = 3570u; const A_CORRECT: u32 = 3571u;
const IDXS: u32 = 1576u;
const I_ARG1: u32 = 0u; const I_ARG2: u32 = 1176u;

var<workgroup> xs: array<f32, 1024>;
var<workgroup> p1: array<f32, 1176>;
var<workgroup> p2: array<f32, 400>;
var<workgroup> a2: array<u32, 400>;
var<workgroup> h1: array<f32, 120>;
var<workgroup> h2: array<f32, 84>;
var<workgroup> lg: array<f32, 10>;
var<workgroup> dl: array<f32, 10>;
var<workgroup> dh2: array<f32, 84>;
var<workgroup> dh1: array<f32, 120>;
var<workgroup> dp2: array<f32, 400>;

fn header(i: u32) -> f32 { return input[i]; }

// Forward pass of image s into workgroup memory; pool1's argmax positions go to idx when keep.
fn forwardImage(s: u32, t: u32, keep: bool) {
  let img = u32(header(9u)) + s * 1024u;
  for (var i = t; i < 1024u; i += 256u) { xs[i] = input[img + i]; }
  workgroupBarrier();
  // conv1 + ReLU + 2x2 max pool: output (pr, pc, co), NHWC.
  for (var o = t; o < 1176u; o += 256u) {
    let co = o % 6u; let pc = (o / 6u) % 14u; let pr = o / 84u;
    var best = 0.0; var arg = 0u;
    for (var d = 0u; d < 4u; d++) {
      let r = 2u * pr + d / 2u; let c = 2u * pc + d % 2u;
      var acc = params[C1B + co];
      for (var kh = 0u; kh < 5u; kh++) {
        for (var kw = 0u; kw < 5u; kw++) {
          acc += xs[(r + kh) * 32u + c + kw] * params[C1W + (kh * 5u + kw) * 6u + co];
        }
      }
      acc = max(acc, 0.0);
      if (d == 0u || acc > best) { best = acc; arg = r * 28u + c; }
    }
    p1[o] = best;
    if (keep) { idx[s * IDXS + I_ARG1 + o] = arg; }
  }
  workgroupBarrier();
  // conv2 (no activation) + 2x2 max pool: output (pr, pc, co), flattened NHWC (400).
  for (var o = t; o < 400u; o += 256u) {
    let co = o % 16u; let pc = (o / 16u) % 5u; let pr = o / 80u;
    var best = 0.0; var arg = 0u;
    for (var d = 0u; d < 4u; d++) {
      let r = 2u * pr + d / 2u; let c = 2u * pc + d % 2u;
      var acc = params[C2B + co];
      for (var kh = 0u; kh < 5u; kh++) {
        for (var kw = 0u; kw < 5u; kw++) {
          let inBase = ((r + kh) * 14u + c + kw) * 6u;
          let wBase = C2W + (kh * 5u + kw) * 96u + co;
          for (var ci = 0u; ci < 6u; ci++) {
            acc += p1[inBase + ci] * params[wBase + ci * 16u];
          }
        }
      }
      if (d == 0u || acc > best) { best = acc; arg = r * 10u + c; }
    }
    p2[o] = best;
    a2[o] = arg;
  }
  workgroupBarrier();
  if (t < 120u) {
    var acc = params[F1B + t];
    for (var i = 0u; i < 400u; i++) { acc += p2[i] * params[F1W + i * 120u + t]; }
    h1[t] = max(acc, 0.0);
  }
  workgroupBarrier();
  if (t < 84u) {
    var acc = params[F2B + t];
    for (var i = 0u; i < 120u; i++) { acc += h1[i] * params[F2W + i * 84u + t]; }
    h2[t] = max(acc, 0.0);
  }
  workgroupBarrier();
  if (t < 10u) {
    var acc = params[F3B + t];
    for (var i = 0u; i < 84u; i++) { acc += h2[i] * params[F3W + i * 10u + t]; }
    lg[t] = acc;
  }
  workgroupBarrier();
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let s = wg.x;
  forwardImage(s, t, false);
  if (t < 10u) { acts[s * 10u + t] = lg[t]; }
}

@compute @workgroup_size(256)
fn trainSample(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let s = wg.x;
  let n = header(0u);
  forwardImage(s, t, true);
  let base = s * ACTS;
  if (t == 0u) {
    let label = u32(input[16u + s]);
    var m = lg[0]; var top = 0u;
    for (var k = 1u; k < 10u; k++) { if (lg[k] > m) { m = lg[k]; top = k; } }
    var sum = 0.0;
    for (var k = 0u; k < 10u; k++) { sum += exp(lg[k] - m); }
    let lse = m + log(sum);
    acts[base + A_LOSS] = lse - lg[label];
    acts[base + A_CORRECT] = select(0.0, 1.0, top == label);
    for (var k = 0u; k < 10u; k++) {
      let p = exp(lg[k] - lse);
      dl[k] = (p - select(0.0, 1.0, k == label)) / n;
    }
  }
  workgroupBarrier();
  if (t < 84u) {
    var acc = 0.0;
    for (var k = 0u; k < 10u; k++) { acc += dl[k] * params[F3W + t * 10u + k]; }
    dh2[t] = select(0.0, acc, h2[t] > 0.0);
  }
  workgroupBarrier();
  if (t < 120u) {
    var acc = 0.0;
    for (var k = 0u; k < 84u; k++) { acc += dh2[k] * params[F2W + t * 84u + k]; }
    dh1[t] = select(0.0, acc, h1[t] > 0.0);
  }
  workgroupBarrier();
  for (var i = t; i < 400u; i += 256u) {
    var acc = 0.0;
    for (var j = 0u; j < 120u; j++) { acc += dh1[j] * params[F1W + i * 120u + j]; }
    dp2[i] = acc;
  }
  workgroupBarrier();
  // pool1's gradient: every conv2 output whose pool window chose it, through conv2's weights;
  // then ReLU's mask (the pooled value is the ReLU output at its argmax).
  for (var o = t; o < 1176u; o += 256u) {
    let ci = o % 6u; let c = (o / 6u) % 14u; let r = o / 84u;
    var acc = 0.0;
    if (p1[o] > 0.0) {
      for (var kh = 0u; kh < 5u; kh++) {
        if (r < kh || r - kh >= 10u) { continue; }
        let y = r - kh;
        for (var kw = 0u; kw < 5u; kw++) {
          if (c < kw || c - kw >= 10u) { continue; }
          let x = c - kw;
          let q = ((y / 2u) * 5u + x / 2u) * 16u;
          let pos = y * 10u + x;
          let wBase = C2W + ((kh * 5u + kw) * 6u + ci) * 16u;
          for (var co = 0u; co < 16u; co++) {
            if (a2[q + co] == pos) { acc += dp2[q + co] * params[wBase + co]; }
          }
        }
      }
    }
    acts[base + A_DP1 + o] = acc;
    acts[base + A_POOL1 + o] = p1[o];
  }
  for (var i = t; i < 400u; i += 256u) {
    acts[base + A_POOL2 + i] = p2[i];
    acts[base + A_DP2 + i] = dp2[i];
    idx[s * IDXS + I_ARG2 + i] = a2[i];
  }
  if (t < 120u) { acts[base + A_H1 + t] = h1[t]; acts[base + A_DH1 + t] = dh1[t]; }
  if (t < 84u) { acts[base + A_H2 + t] = h2[t]; acts[base + A_DH2 + t] = dh2[t]; }
  if (t < 10u) { acts[base + A_DL + t] = dl[t]; }
}

var<workgroup> gathered: u32;

// A step on the resident set: image s of the batch is the set's image whose index the label slot
// holds (as f32, exact below 2^24); it is normalised through the CPU's own table into the image
// area and its label replaces the index. The other dispatches then run as on uploaded images.
@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let s = wg.x;
  // One thread reads the index (and later overwrites it): no other thread touches the slot.
  if (t == 0u) { gathered = u32(input[16u + s]); }
  let j = workgroupUniformLoad(&gathered);
  let word = trainingSet[u32(header(12u)) + j * 256u + t];
  let out = u32(header(9u)) + s * 1024u + t * 4u;
  for (var k = 0u; k < 4u; k++) {
    input[out + k] = bitcast<f32>(trainingSet[(word >> (8u * k)) & 255u]);
  }
  if (t == 0u) {
    let labels = trainingSet[256u + j / 4u];
    input[16u + s] = f32((labels >> (8u * (j % 4u))) & 255u);
  }
}

// One thread per parameter: its gradient, summed over the batch.
@compute @workgroup_size(64)
fn gradients(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x;
  if (g >= P) { return; }
  let n = u32(header(0u));
  let img = u32(header(9u));
  var acc = 0.0;
  if (g < C1B) {
    let co = g % 6u; let k = g / 6u; let kh = k / 5u; let kw = k % 5u;
    for (var s = 0u; s < n; s++) {
      for (var p = 0u; p < 196u; p++) {
        let d = acts[s * ACTS + A_DP1 + p * 6u + co];
        let pos = idx[s * IDXS + I_ARG1 + p * 6u + co];
        let r = pos / 28u; let c = pos % 28u;
        acc += d * input[img + s * 1024u + (r + kh) * 32u + c + kw];
      }
    }
  } else if (g < C2W) {
    let co = g - C1B;
    for (var s = 0u; s < n; s++) {
      for (var p = 0u; p < 196u; p++) { acc += acts[s * ACTS + A_DP1 + p * 6u + co]; }
    }
  } else if (g < C2B) {
    let w = g - C2W;
    let co = w % 16u; let ci = (w / 16u) % 6u; let k = w / 96u; let kh = k / 5u; let kw = k % 5u;
    for (var s = 0u; s < n; s++) {
      for (var p = 0u; p < 25u; p++) {
        let d = acts[s * ACTS + A_DP2 + p * 16u + co];
        let pos = idx[s * IDXS + I_ARG2 + p * 16u + co];
        let y = pos / 10u; let x = pos % 10u;
        acc += d * acts[s * ACTS + A_POOL1 + ((y + kh) * 14u + x + kw) * 6u + ci];
      }
    }
  } else if (g < F1W) {
    let co = g - C2B;
    for (var s = 0u; s < n; s++) {
      for (var p = 0u; p < 25u; p++) { acc += acts[s * ACTS + A_DP2 + p * 16u + co]; }
    }
  } else if (g < F1B) {
    let w = g - F1W; let i = w / 120u; let j = w % 120u;
    for (var s = 0u; s < n; s++) { acc += acts[s * ACTS + A_POOL2 + i] * acts[s * ACTS + A_DH1 + j]; }
  } else if (g < F2W) {
    let j = g - F1B;
    for (var s = 0u; s < n; s++) { acc += acts[s * ACTS + A_DH1 + j]; }
  } else if (g < F2B) {
    let w = g - F2W; let i = w / 84u; let j = w % 84u;
    for (var s = 0u; s < n; s++) { acc += acts[s * ACTS + A_H1 + i] * acts[s * ACTS + A_DH2 + j]; }
  } else if (g < F3W) {
    let j = g - F2B;
    for (var s = 0u; s < n; s++) { acc += acts[s * ACTS + A_DH2 + j]; }
  } else if (g < F3B) {
    let w = g - F3W; let i = w / 10u; let j = w % 10u;
    for (var s = 0u; s < n; s++) { acc += acts[s * ACTS + A_H2 + i] * acts[s * ACTS + A_DL + j]; }
  } else {
    let j = g - F3B;
    for (var s = 0u; s < n; s++) { acc += acts[s * ACTS + A_DL + j]; }
  }
  grads[g] = acc;
}

// Not finite (NaN or +-Infinity), judged on the bits: compilers may fold isnan-style tests away.
fn bad(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }

var<workgroup> badAny: array<u32, 256>;
var<workgroup> lossPart: array<f32, 256>;
var<workgroup> correctPart: array<f32, 256>;

// The divergence guard and the running totals: a step applies only if its loss and every
// gradient (and its square, which Adam's second moment takes) are finite, and none has failed
// since the totals were last taken (state[2] holds the first failing step).
@compute @workgroup_size(256)
fn check(@builtin(local_invocation_index) t: u32) {
  let n = u32(header(0u));
  var b = 0u;
  for (var g = t; g < P; g += 256u) {
    let v = grads[g];
    if (bad(v) || bad(v * v)) { b = 1u; }
  }
  var l = 0.0; var c = 0.0;
  for (var s = t; s < n; s += 256u) {
    let v = acts[s * ACTS + A_LOSS];
    if (bad(v)) { b = 1u; }
    l += v;
    c += acts[s * ACTS + A_CORRECT];
  }
  badAny[t] = b; lossPart[t] = l; correctPart[t] = c;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half /= 2u) {
    if (t < half) {
      badAny[t] = badAny[t] | badAny[t + half];
      lossPart[t] += lossPart[t + half];
      correctPart[t] += correctPart[t + half];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    if (state[2] == 0.0 && badAny[0] == 0u) {
      state[0] += lossPart[0];
      state[1] += correctPart[0];
      state[3] = lossPart[0] / f32(n);
      state[4] = correctPart[0];
      state[5] = 1.0;
    } else {
      if (state[2] == 0.0) { state[2] = header(6u); }
      state[5] = 0.0;
    }
  }
}

// PyTorch's Adam (AdamW when decay < 1), one thread per parameter, if the guard passed.
@compute @workgroup_size(64)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x;
  if (g >= P || state[5] != 1.0) { return; }
  let beta1 = header(2u); let beta2 = header(3u); let eps = header(4u); let decay = header(5u);
  let stepSize = header(7u); let bc2 = header(8u);
  let grad = grads[g];
  let m = moments[g] * beta1 + grad * header(10u);
  let v = moments[P + g] * beta2 + (grad * grad) * header(11u);
  moments[g] = m;
  moments[P + g] = v;
  params[g] = params[g] * decay - (m * stepSize) / (sqrt(v / bc2) + eps);
}
`;
