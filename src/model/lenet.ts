import { ensureBackend } from '../backend/select.js';
import { MNIST_MEAN, MNIST_STD } from '../data/preprocess.js';
import { pytorchDefaultInit, SequentialModel } from './sequential.js';
import type { Activation, LeNetSpec, Model, Preprocessing } from './types.js';
import { validateSpec, WeightsFormatError } from './weights.js';

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
  /** Normalisation mean of the input pipeline. Default: {@link MNIST_MEAN} (0.1307). */
  mean?: number;
  /** Normalisation standard deviation of the input pipeline. Default: {@link MNIST_STD} (0.3081). */
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
 * Initialises the default backend first if the app has not called `initBackend`.
 *
 * @example
 * ```ts
 * import { createLeNet } from 'lenet-mnist';
 * const model = await createLeNet({ seed: 1 });
 * console.log(model.formatSummary()); // conv1 [1, 6, 28, 28] ... Total params: 61,706
 * ```
 * @param options - Architecture, input pipeline and seed; see {@link LeNetOptions}.
 * @returns A new model with freshly initialised weights.
 * @throws {@link WeightsFormatError} for option values that describe no valid LeNet (an
 *   `inputSize` out of range, an unknown `pooling` or `activation`); {@link BackendError} if the
 *   default backend cannot start.
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
      throw new WeightsFormatError(`createLeNet: ${msg}`);
    },
  ) as LeNetSpec;
  const preprocessing: Preprocessing = {
    size: inputSize,
    resize: options.resize ?? (inputSize === 28 ? 'none' : 'bilinear'),
    mean: options.mean ?? MNIST_MEAN,
    std: options.std ?? MNIST_STD,
  };
  await ensureBackend();
  return new SequentialModel(spec, preprocessing, pytorchDefaultInit(spec, options.seed));
}
