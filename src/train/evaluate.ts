import { batches, MAX_BATCH_SIZE } from '../data/batches.js';
import type { PreparedSet } from '../data/preprocess.js';
import { checkFastPath } from '../engine/choose.js';
import { crossEntropyRow } from '../engine/logits.js';
import { engineModel } from '../engine/model.js';
import type { Engine, FastPathOption, Model } from '../engine/types.js';
import { checkInt, checkOptionKeys, checkSignal, optionKeys } from '../options.js';
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
   * Images per forward pass: an integer from 1 to 2^24 (`MAX_BATCH_SIZE` in `lenet-mnist/data`). Default: 32 (the reference's test batch);
   * results do not depend on it.
   */
  batchSize?: number;
  /** Which kernels compute the logits (see {@link FastPathOption}). Default: `'auto'`. */
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
 *   {@link OptionError} when `batchSize` is not a positive integer or `fastPath` is unknown; the signal's reason when aborted.
 */
export async function evaluate(
  model: Model,
  data: PreparedSet,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  checkOptionKeys('evaluate', options, EVALUATE_OPTION_KEYS);
  const batchSize = options.batchSize ?? 32;
  checkInt('', 'batchSize', batchSize, 1, MAX_BATCH_SIZE);
  const fastPath = checkFastPath(options.fastPath);
  checkSignal('evaluate', 'signal', options.signal);
  assertCompatible(model, data, 'evaluate');
  const owner = engineModel(model);
  const engine = await owner.engineFor({ fastPath });
  // In turn with a trainer's steps, when the model is being trained.
  return owner.exclusive(() => evaluateOn(engine, data, batchSize, options.signal));
}

/** Images per forward pass when an engine splits them over its workers. */
const PARALLEL_BATCH = 1024;

/**
 * {@link evaluate} on an engine (the trainer's, for validation), on checked data; each image's
 * predicted digit goes to `predictions` when given.
 */
export async function evaluateOn(
  engine: Engine,
  data: PreparedSet,
  batchSize: number,
  signal?: AbortSignal,
  predictions?: Uint8Array,
): Promise<Evaluation> {
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let lossSum = 0;
  let correct = 0;
  // An engine with workers (the trainer's validation on the fused engine) splits each pass over
  // them: larger passes (results do not depend on the size) amortise the posting, and the next
  // batch is built while they run, as the engine copies a batch out before its first await.
  const parallel = engine.info.threads > 1;
  const size = parallel ? Math.max(batchSize, PARALLEL_BATCH) : batchSize;
  const iterator = batches(data, { batchSize: size, reuseBuffers: true })[Symbol.iterator]();
  let next = iterator.next();
  while (!next.done) {
    const batch = next.value;
    signal?.throwIfAborted();
    const pending = engine.forward(batch.images, batch.size);
    if (parallel) next = iterator.next();
    const logits = await pending;
    if (!parallel) next = iterator.next();
    const first = batch.index * size;
    for (let i = 0; i < batch.size; i++) {
      const label = batch.labels[i] as number;
      const { loss, argmax } = crossEntropyRow(logits, i * 10, label);
      if (predictions) predictions[first + i] = argmax;
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

// The valid keys of these options (checked by the compiler against the types: optionKeys).
export const EVALUATE_OPTION_KEYS = optionKeys<EvaluateOptions>()([
  'batchSize',
  'fastPath',
  'signal',
]);
