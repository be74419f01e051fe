import { MNIST_MEAN, MNIST_STD } from '../data/preprocess.js';
import { OptionError } from '../errors.js';
import { pytorchDefaultInit } from '../model/init.js';
import type { Activation, MlpSpec } from '../model/types.js';
import { validateSpec } from '../model/weights.js';
import { checkPreprocessing, checkSeed } from './lenet.js';
import { EngineModel } from './model.js';
import type { Model } from './types.js';

/**
 * Options of {@link createMlp}.
 *
 * @example
 * ```ts
 * const options: MlpOptions = { hidden: [300, 100], activation: 'tanh', seed: 1 };
 * const mlp = await createMlp(options);
 * ```
 */
export interface MlpOptions {
  /** Hidden layer widths: up to 16 positive integers. Default: `[256, 128]`. */
  hidden?: readonly number[];
  /** Activation after each hidden layer. Default: `'relu'`. */
  activation?: Activation;
  /**
   * Input side. Default: 28 (the 784 raw MNIST pixels, no resize); other sizes get a bilinear
   * resize.
   */
  inputSize?: number;
  /** Normalisation mean of the input pipeline. Default: `MNIST_MEAN` (0.1307). */
  mean?: number;
  /** Normalisation standard deviation of the input pipeline. Default: `MNIST_STD` (0.3081). */
  std?: number;
  /** Seed for the initial weights; omit for a random start. */
  seed?: number;
}

/**
 * Builds the multilayer perceptron the reference explains before LeNet: the 28x28 image
 * flattened to 784 inputs, fully connected hidden layers, 10 outputs. Trains with the same
 * `train` as LeNet, so the two can be compared.
 *
 * @example
 * ```ts
 * import { createMlp, train } from 'lenet-mnist';
 * const mlp = await createMlp({ hidden: [128, 64], seed: 1 });
 * console.log(mlp.parameterCount); // 109,386
 * ```
 * @param options - Hidden widths, activation, input pipeline and seed; see {@link MlpOptions}.
 * @returns A new model with freshly initialised weights.
 * @throws {@link OptionError} for option values that describe no valid MLP (more than 16 hidden
 *   layers, a width or `inputSize` that is not a positive integer, an unknown `activation`, a
 *   `mean` that is not finite, a `std` that is not above 0, a `seed` that is not a finite number).
 */
export async function createMlp(options: MlpOptions = {}): Promise<Model> {
  const inputSize = options.inputSize ?? 28;
  const spec = validateSpec(
    {
      kind: 'mlp',
      inputSize,
      hidden: options.hidden ?? [256, 128],
      activation: options.activation ?? 'relu',
    },
    (msg) => {
      throw new OptionError('spec', `createMlp: ${msg}`);
    },
  ) as MlpSpec;
  const preprocessing = checkPreprocessing('createMlp', {
    size: inputSize,
    resize: inputSize === 28 ? 'none' : 'bilinear',
    mean: options.mean ?? MNIST_MEAN,
    std: options.std ?? MNIST_STD,
  });
  checkSeed('createMlp', options.seed);
  return new EngineModel(spec, preprocessing, pytorchDefaultInit(spec, options.seed));
}
