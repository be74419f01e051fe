import type { FastPathOption } from '../backend/fast_path.js';
import { batches } from '../data/batches.js';
import type { PreparedSet } from '../data/preprocess.js';
import type { Model } from '../model/types.js';
import { createLogitsRunner, type LogitsRunner } from '../predict/logits.js';
import { assertCompatible } from './compat.js';

/**
 * Options of {@link evaluate}.
 *
 * @example
 * ```ts
 * const options: EvaluateOptions = { batchSize: 256, signal: AbortSignal.timeout(60_000) };
 * ```
 */
export interface EvaluateOptions {
  /**
   * Images per forward pass: a positive integer. Default: 32 (the reference's test batch);
   * results do not depend on it.
   */
  batchSize?: number;
  /** Use the fused WASM kernels when they apply (`'auto'`) or never (`'off'`). Default: `'auto'`. */
  fastPath?: FastPathOption;
  /** Stops between batches; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * What {@link evaluate} measures.
 *
 * @example
 * ```ts
 * const { accuracy, confusion }: Evaluation = await evaluate(model, prepareImages(mnist.test));
 * const sevensReadAsOnes = confusion[7]?.[1]; // how often a 7 was predicted as a 1
 * ```
 */
export interface Evaluation {
  /** Mean softmax cross-entropy per image (`NaN` for an empty dataset). */
  loss: number;
  /** Fraction of images classified correctly, 0..1 (`NaN` for an empty dataset). */
  accuracy: number;
  /** Number of images evaluated. */
  count: number;
  /** `confusion[actual][predicted]` counts, 10x10. */
  confusion: number[][];
}

/**
 * Average loss, accuracy and confusion matrix of `model` on a prepared dataset.
 *
 * @example
 * ```ts
 * const { test } = await loadMnist();
 * const result = await evaluate(model, prepareImages(test));
 * console.log(`test accuracy ${(result.accuracy * 100).toFixed(2)}%`);
 * ```
 * @param model - The model to score; it is not changed.
 * @param data - Labelled images from {@link prepareImages}, prepared as the model expects.
 * @param options - `batchSize` (32), `fastPath` (`'auto'`), `signal`; see {@link EvaluateOptions}.
 * @returns Loss, accuracy, count and confusion matrix over every image of `data`.
 * @throws {@link DatasetError} when the dataset's size or normalisation differs from the model's;
 *   `RangeError` when `batchSize` is not a positive integer; the signal's reason when aborted.
 */
export async function evaluate(
  model: Model,
  data: PreparedSet,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const runner = await createLogitsRunner(model, options.fastPath);
  try {
    return await evaluateWith(runner, model, data, options);
  } finally {
    runner.dispose();
  }
}

/** {@link evaluate} with a given runner (the trainer reuses its fused kernels). */
export async function evaluateWith(
  runner: LogitsRunner,
  model: Model,
  data: PreparedSet,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  assertCompatible(model, data, 'evaluate');
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let lossSum = 0;
  let correct = 0;
  for (const batch of batches(data, { batchSize: options.batchSize ?? 32, reuseBuffers: true })) {
    options.signal?.throwIfAborted();
    const logits = await runner.logits(batch.images, batch.size);
    for (let i = 0; i < batch.size; i++) {
      const label = batch.labels[i] as number;
      const { loss, argmax } = crossEntropyRow(logits, i * 10, label);
      lossSum += loss;
      if (argmax === label) correct++;
      const row = confusion[label] as number[];
      row[argmax] = (row[argmax] as number) + 1;
    }
  }
  const count = data.count;
  return {
    loss: count ? lossSum / count : Number.NaN,
    accuracy: count ? correct / count : Number.NaN,
    count,
    confusion,
  };
}

/** Softmax cross-entropy of one logits row (stable log-sum-exp) and its first argmax. */
export function crossEntropyRow(
  logits: Float32Array,
  offset: number,
  label: number,
): { loss: number; argmax: number } {
  let max = Number.NEGATIVE_INFINITY;
  let argmax = 0;
  for (let c = 0; c < 10; c++) {
    const v = logits[offset + c] as number;
    if (v > max) {
      max = v;
      argmax = c;
    }
  }
  let sum = 0;
  for (let c = 0; c < 10; c++) sum += Math.exp((logits[offset + c] as number) - max);
  return { loss: Math.log(sum) + max - (logits[offset + label] as number), argmax };
}
