import { MNIST_MEAN, MNIST_STD } from '../data/preprocess.js';
import { OptionError } from '../errors.js';
import { pytorchDefaultInit } from '../model/init.js';
import type { Activation, LeNetSpec, Preprocessing } from '../model/types.js';
import { validateSpec } from '../model/weights.js';
import { EngineModel } from './model.js';
import type { Model } from './types.js';

/**
 * Options of {@link createLeNet}; every default is the reference's training network.
 *
 * @example
 * ```ts
 * // LeCun's classic variant: tanh, average pooling, 28x28 digits padded to 32x32.
 * const options: LeNetOptions = { activation: 'tanh', pooling: 'avg', resize: 'pad', seed: 7 };
 * const model = await createLeNet(options);
 * ```
 */
export interface LeNetOptions {
  /** `'max'` (default, the reference's training script) or `'avg'` (its first sketch). */
  pooling?: 'max' | 'avg';
  /** `'relu'` (default) or `'tanh'` (LeCun's original). */
  activation?: Activation;
  /** Apply the activation after conv2 too. Default `false`, as in the reference's training script. */
  conv2Activation?: boolean;
  /**
   * Input side: 32 (default, MNIST resized) or 28 (raw MNIST; fc1 then has 256 inputs). Any
   * integer from 16 to 4096 with `inputSize - 4` divisible by 4 works.
   */
  inputSize?: number;
  /** Normalisation mean of the input pipeline. Default: `MNIST_MEAN` (0.1307). */
  mean?: number;
  /** Normalisation standard deviation of the input pipeline. Default: `MNIST_STD` (0.3081). */
  std?: number;
  /**
   * How 28x28 digits become `inputSize`: `'bilinear'`, `'pad'`, or `'none'`. Default: `'none'`
   * when `inputSize` is 28, else `'bilinear'`.
   */
  resize?: 'bilinear' | 'pad' | 'none';
  /** Seed for the initial weights; omit for a random start. */
  seed?: number;
}

/**
 * Builds a LeNet-5 from tfjs-core ops and variables: conv 5x5 with 6 filters, activation, 2x2
 * pool, conv 5x5 with 16 filters, 2x2 pool, dense 400-120-84-10 (61,706 parameters), initialised
 * like PyTorch.
 * Starts no backend: the weights stay plain arrays until the model is first trained, evaluated
 * or used by a predictor, which binds the engine for the active backend.
 *
 * @example
 * ```ts
 * import { createLeNet } from 'lenet-mnist';
 * const model = await createLeNet({ seed: 1 });
 * console.log(model.formatSummary()); // conv1 [1, 6, 28, 28] ... Total params: 61,706
 * ```
 * @param options - Architecture, input pipeline and seed; see {@link LeNetOptions}.
 * @returns A new model with freshly initialised weights.
 * @throws {@link OptionError} for option values that describe no valid LeNet (an `inputSize` out of
 *   range, an unknown `pooling`, `activation` or `resize`, a `mean` that is not finite, a `std`
 *   that is not above 0, a `seed` that is not a finite number).
 */
export async function createLeNet(options: LeNetOptions = {}): Promise<Model> {
  const inputSize = options.inputSize ?? 32;
  const spec = validateSpec(
    {
      kind: 'lenet',
      inputSize,
      pooling: options.pooling ?? 'max',
      activation: options.activation ?? 'relu',
      conv2Activation: options.conv2Activation ?? false,
    },
    (msg) => {
      throw new OptionError('spec', `createLeNet: ${msg}`);
    },
  ) as LeNetSpec;
  const preprocessing = checkPreprocessing('createLeNet', {
    size: inputSize,
    resize: options.resize ?? (inputSize === 28 ? 'none' : 'bilinear'),
    mean: options.mean ?? MNIST_MEAN,
    std: options.std ?? MNIST_STD,
  });
  checkSeed('createLeNet', options.seed);
  return new EngineModel(spec, preprocessing, pytorchDefaultInit(spec, options.seed));
}

/** Checks the input-pipeline options of a model factory; returns them. */
export function checkPreprocessing(what: string, p: Preprocessing): Preprocessing {
  if (p.resize !== 'bilinear' && p.resize !== 'pad' && p.resize !== 'none') {
    throw new OptionError(
      'resize',
      `${what}: resize ${JSON.stringify(p.resize)}: expected "bilinear", "pad" or "none"`,
    );
  }
  if (typeof p.mean !== 'number' || !Number.isFinite(p.mean)) {
    throw new OptionError('mean', `${what}: mean must be a finite number, got ${String(p.mean)}`);
  }
  if (typeof p.std !== 'number' || !Number.isFinite(p.std) || p.std <= 0) {
    throw new OptionError(
      'std',
      `${what}: std must be a finite number above 0, got ${String(p.std)}`,
    );
  }
  return p;
}

/** A seed is optional; given, it must be a finite number. */
export function checkSeed(what: string, seed: unknown): void {
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isFinite(seed))) {
    throw new OptionError('seed', `${what}: seed must be a finite number, got ${String(seed)}`);
  }
}
