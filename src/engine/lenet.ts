import { MNIST_MEAN, MNIST_STD } from '../data/preprocess.js';
import { OptionError } from '../errors.js';
import { pytorchDefaultInit } from '../model/init.js';
import type { Activation, LeNetSpec, ModelSpec, Preprocessing } from '../model/types.js';
import {
  LENET_INPUT_RULE,
  LENET_MIN_INPUT,
  MAX_INPUT_SIZE,
  validateSpec,
} from '../model/weights.js';
import {
  checkBoolean,
  checkChoice,
  checkNumber,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../options.js';
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
   * integer from 16 to 4096 with `inputSize - 4` divisible by 4 works (the two 2x2 pools then
   * divide evenly).
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
 * @throws {@link OptionError} for an unknown option (naming the closest valid one) or option
 *   values that describe no valid LeNet (an `inputSize` that is not an integer from 16 to 4096
 *   with `inputSize - 4` divisible by 4, an unknown `pooling`, `activation` or `resize`, a
 *   `conv2Activation` that is not a boolean, a `mean` that is not finite, a `std` that is not
 *   above 0, a `seed` that is not a finite number).
 */
export async function createLeNet(options: LeNetOptions = {}): Promise<Model> {
  const fn = 'createLeNet';
  checkOptionKeys(fn, options, LENET_KEYS);
  const inputSize = options.inputSize ?? 32;
  checkLeNetInputSize(fn, 'inputSize', inputSize);
  checkChoice(fn, 'pooling', options.pooling, ['max', 'avg']);
  checkChoice(fn, 'activation', options.activation, ['relu', 'tanh']);
  checkBoolean(fn, 'conv2Activation', options.conv2Activation);
  checkChoice(fn, 'resize', options.resize, ['bilinear', 'pad', 'none']);
  const spec: LeNetSpec = {
    kind: 'lenet',
    inputSize,
    pooling: options.pooling ?? 'max',
    activation: options.activation ?? 'relu',
    conv2Activation: options.conv2Activation ?? false,
  };
  return newModel(fn, spec, options.resize ?? (inputSize === 28 ? 'none' : 'bilinear'), options);
}

const LENET_KEYS = optionKeys<LeNetOptions>()([
  'pooling',
  'activation',
  'conv2Activation',
  'inputSize',
  'mean',
  'std',
  'resize',
  'seed',
]);

/**
 * A LeNet input side: the rule {@link validateSpec} checks (an integer from 16 to 4096 whose
 * `size - 4` is divisible by 4, so that both 2x2 pools divide evenly), as an {@link OptionError}
 * naming the option.
 */
export function checkLeNetInputSize(fn: string, name: string, value: unknown): void {
  if (
    !Number.isInteger(value) ||
    (value as number) < LENET_MIN_INPUT ||
    (value as number) > MAX_INPUT_SIZE ||
    ((value as number) - 4) % 4 !== 0
  ) {
    throw new OptionError(
      name,
      `${fn}: ${name} must be ${LENET_INPUT_RULE} (e.g. 28, 32), got ${describeValue(value)}`,
    );
  }
}

/**
 * The end of a model factory (`fn`): `spec` validated, the input pipeline (`resize`, and `mean`
 * and `std` from `options`, MNIST's by default) and `seed` checked, and a model of `spec` with
 * PyTorch's default initialisation from that seed.
 */
export function newModel(
  fn: string,
  spec: ModelSpec,
  resize: Preprocessing['resize'],
  options: { mean?: number; std?: number; seed?: number },
): Model {
  const checked = validateSpec(spec, (msg) => {
    throw new OptionError('spec', `${fn}: ${msg}`);
  });
  const preprocessing = checkPreprocessing(fn, {
    size: spec.inputSize,
    resize,
    mean: options.mean ?? MNIST_MEAN,
    std: options.std ?? MNIST_STD,
  });
  checkSeed(fn, options.seed);
  return new EngineModel(checked, preprocessing, pytorchDefaultInit(checked, options.seed));
}

/** Checks the input-pipeline options of a model factory; returns them. */
export function checkPreprocessing(what: string, p: Preprocessing): Preprocessing {
  checkChoice(what, 'resize', p.resize, ['bilinear', 'pad', 'none'], false);
  checkNumber(what, 'mean', p.mean);
  checkNumber(what, 'std', p.std, { min: 0, minExclusive: true });
  return p;
}

/** A seed is optional; given, it must be a finite number. */
export function checkSeed(what: string, seed: unknown): void {
  checkNumber(what, 'seed', seed, {}, true);
}
