import { OptionError } from '../errors.js';
import type { Activation, MlpSpec } from '../model/types.js';
import { MAX_INPUT_SIZE, MLP_MAX_LAYERS, MLP_MAX_WIDTH } from '../model/weights.js';
import { checkChoice, checkInt, checkOptionKeys, describeValue, optionKeys } from '../options.js';
import { newModel } from './lenet.js';
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
  /** Hidden layer widths: up to 16, each an integer from 1 to 65536. Default: `[256, 128]`. */
  hidden?: readonly number[];
  /** Activation after each hidden layer. Default: `'relu'`. */
  activation?: Activation;
  /**
   * Input side: an integer from 1 to 4096. Default: 28 (the 784 raw MNIST pixels, no resize);
   * other sizes get a bilinear resize.
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
 * @throws {@link OptionError} for an unknown option (naming the closest valid one) or option
 *   values that describe no valid MLP (more than 16 hidden layers, a width that is not an
 *   integer from 1 to 65536, an `inputSize` that is not one from 1 to 4096, an unknown `activation`, a
 *   `mean` that is not finite, a `std` that is not above 0, a `seed` that is not a finite number).
 */
export async function createMlp(options: MlpOptions = {}): Promise<Model> {
  const fn = 'createMlp';
  checkOptionKeys(fn, options, MLP_KEYS);
  const inputSize = options.inputSize ?? 28;
  checkInt(fn, 'inputSize', inputSize, 1, MAX_INPUT_SIZE);
  const hidden = options.hidden ?? [256, 128];
  if (!Array.isArray(hidden) || hidden.length > MLP_MAX_LAYERS) {
    throw new OptionError(
      'hidden',
      `${fn}: hidden must be an array of up to ${MLP_MAX_LAYERS} layer widths, got ${describeValue(hidden)}`,
    );
  }
  hidden.forEach((width, i) => {
    checkInt(fn, `hidden[${i}]`, width, 1, MLP_MAX_WIDTH);
  });
  checkChoice(fn, 'activation', options.activation, ['relu', 'tanh']);
  const spec: MlpSpec = {
    kind: 'mlp',
    inputSize,
    hidden,
    activation: options.activation ?? 'relu',
  };
  return newModel(fn, spec, inputSize === 28 ? 'none' : 'bilinear', options);
}

const MLP_KEYS = optionKeys<MlpOptions>()([
  'hidden',
  'activation',
  'inputSize',
  'mean',
  'std',
  'seed',
]);
