// Arithmetic on rows of 10 logits, shared by evaluation and prediction.

/** Index of the first largest of the 10 logits at `offset`, and that logit. */
export function argmaxRow(logits: Float32Array, offset: number): { argmax: number; max: number } {
  let max = Number.NEGATIVE_INFINITY;
  let argmax = 0;
  for (let c = 0; c < 10; c++) {
    const v = logits[offset + c] as number;
    if (v > max) {
      max = v;
      argmax = c;
    }
  }
  return { argmax, max };
}

/**
 * Softmax of the 10 logits at `offset` into `out` from `outOffset` (stable: shifted by the row's
 * maximum).
 */
export function softmaxRow(
  logits: Float32Array,
  offset: number,
  max: number,
  out: Float32Array,
  outOffset = 0,
): void {
  let sum = 0;
  for (let c = 0; c < 10; c++) {
    const e = Math.exp((logits[offset + c] as number) - max);
    out[outOffset + c] = e;
    sum += e;
  }
  for (let c = 0; c < 10; c++) out[outOffset + c] = (out[outOffset + c] as number) / sum;
}

/** Softmax cross-entropy of the 10 logits at `offset` against `label` (stable log-sum-exp). */
export function crossEntropyRow(
  logits: Float32Array,
  offset: number,
  label: number,
): { loss: number; argmax: number } {
  const { argmax, max } = argmaxRow(logits, offset);
  let sum = 0;
  for (let c = 0; c < 10; c++) sum += Math.exp((logits[offset + c] as number) - max);
  return { loss: Math.log(sum) + max - (logits[offset + label] as number), argmax };
}
