// What a prediction reads off each digit's logits and raw pixels: its label, its softmax
// probabilities and whether it holds any ink. The fused WASM engine computes the same inside its
// module (asm/scores.ts, step for step); the engines that compute on floats use this
// (markBlank, then scoreLogits).
import { argmaxRow, softmaxRow } from './logits.js';

/**
 * The fewest half-intensity (>= 128) pixels an MNIST-style digit array needs to hold a digit;
 * with fewer it is blank (a blank sheet, paper noise). MNIST's thinnest 1s have dozens.
 */
export const MIN_INK_PIXELS = 5;

/**
 * Where `Engine.classifyPixels` writes the scores of `n` digits, each array from index 0: they
 * may be views into larger arrays the caller owns.
 */
export interface DigitScores {
  /** At least n: the most likely digit (the first largest logit) of digit `i` at `i`. */
  readonly labels: Uint8Array;
  /** At least n * 10: the softmax probabilities of digit `i` at `i * 10 .. i * 10 + 9`. */
  readonly probabilities: Float32Array;
  /** At least n: 1 where digit `i`'s raw pixels are blank (see {@link isBlankArray}), else 0. */
  readonly blank: Uint8Array;
}

/** Fresh {@link DigitScores} for `n` digits. */
export function newScores(n: number): DigitScores {
  return {
    labels: new Uint8Array(n),
    probabilities: new Float32Array(n * 10),
    blank: new Uint8Array(n),
  };
}

/**
 * An MNIST-style array (or its `length` bytes from `start`) with fewer than
 * {@link MIN_INK_PIXELS} half-intensity pixels.
 */
export function isBlankArray(pixels: Uint8Array, start = 0, length = pixels.length): boolean {
  let ink = 0;
  for (let i = start; i < start + length && ink < MIN_INK_PIXELS; i++) {
    if ((pixels[i] as number) >= 128) ink++;
  }
  return ink < MIN_INK_PIXELS;
}

/**
 * The blank flags of `n` raw digits (`side` x `side` each, consecutive in `pixels`) into
 * `blank`: the part of a CPU scoring that reads the pixels, done before the engine awaits its
 * forward pass (the caller may reuse the pixels from then on).
 */
export function markBlank(pixels: Uint8Array, side: number, n: number, blank: Uint8Array): void {
  const bytes = side * side;
  for (let i = 0; i < n; i++) blank[i] = isBlankArray(pixels, i * bytes, bytes) ? 1 : 0;
}

/** The labels and softmax probabilities of `n` digits from their logits (`[n, 10]`) into `out`. */
export function scoreLogits(logits: Float32Array, n: number, out: DigitScores): void {
  for (let i = 0; i < n; i++) {
    const { argmax, max } = argmaxRow(logits, i * 10);
    out.labels[i] = argmax;
    softmaxRow(logits, i * 10, max, out.probabilities, i * 10);
  }
}

/** Bytes of {@link scoresIn}'s layout for `n` digits. */
export const scoreBytes = (n: number): number => n * 42;

/**
 * {@link DigitScores} of `n` digits laid out in one buffer, as a worker's share travels: the
 * probabilities (`n * 10` f32), then the labels, then the blank flags.
 */
export function scoresIn(buffer: ArrayBuffer, n: number): DigitScores {
  return {
    probabilities: new Float32Array(buffer, 0, n * 10),
    labels: new Uint8Array(buffer, n * 40, n),
    blank: new Uint8Array(buffer, n * 41, n),
  };
}
