// What a prediction reads off a forward pass, inside the kernels' module: each digit's softmax
// probabilities, its label and whether its raw pixels hold any ink. Computed here, on the thread
// that ran the forward pass, so a prediction split over workers leaves no per-digit arithmetic to
// the calling thread. Imported by lenet.ts, which owns the buffers and exports the entry point.
//
// The arithmetic is src/engine/scores.ts' (argmaxRow and softmaxRow of logits.ts, isBlankArray)
// step for step, in the same precision, so the tfjs and WebGPU engines, which score on the CPU,
// give the same answers: the label is the first largest logit; each exponential is taken in f64
// of (logit - max), stored as f32, summed in f64, and the stored f32 is divided by the sum. Only
// the exponential's code differs (AssemblyScript's Math.exp, V8's): they may disagree in a
// double's last bit, which the f32 result almost never shows (test/engine/fused-scores.test.ts).

/**
 * Scores `n` digits: `logits` ([n][10] f32) become their softmax probabilities in place;
 * `scores` receives [n] labels (u8) followed by [n] blank flags (u8: 1 when the digit's raw
 * `side` x `side` pixels at `pixels` hold fewer than `minInk` values >= 128).
 */
export function scoreDigits(
  logits: usize,
  pixels: usize,
  scores: usize,
  n: i32,
  side: i32,
  minInk: i32,
): void {
  const bytes = <usize>(side * side);
  for (let s: usize = 0; s < <usize>n; s++) {
    const row = logits + s * 40;
    let max = -Infinity;
    let label: i32 = 0;
    for (let c = 0; c < 10; c++) {
      const v = <f64>load<f32>(row + ((<usize>c) << 2));
      if (v > max) {
        max = v;
        label = c;
      }
    }
    let sum: f64 = 0;
    for (let c: usize = 0; c < 10; c++) {
      const e = Math.exp(<f64>load<f32>(row + (c << 2)) - max);
      store<f32>(row + (c << 2), <f32>e);
      sum += e;
    }
    for (let c: usize = 0; c < 10; c++) {
      store<f32>(row + (c << 2), <f32>(<f64>load<f32>(row + (c << 2)) / sum));
    }
    store<u8>(scores + s, <u8>label);
    store<u8>(scores + <usize>n + s, isBlank(pixels + s * bytes, bytes, minInk) ? 1 : 0);
  }
}

/** Fewer than `minInk` of the `bytes` bytes at `at` are >= 128 (16 at a time). */
function isBlank(at: usize, bytes: usize, minInk: i32): bool {
  let ink: i32 = 0;
  let i: usize = 0;
  for (; i + 16 <= bytes && ink < minInk; i += 16) {
    // The top bit of each byte is set exactly for values >= 128.
    ink += popcnt<i32>(i8x16.bitmask(v128.load(at + i)));
  }
  for (; i < bytes && ink < minInk; i++) if (load<u8>(at + i) >= 128) ink++;
  return ink < minInk;
}
