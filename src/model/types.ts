import type * as tf from '@tensorflow/tfjs-core';

/** Non-linearity used between layers. */
export type Activation = 'relu' | 'tanh';

/** Architecture of a LeNet-5 (see {@link createLeNet}). */
export interface LeNetSpec {
  /** Tells the architectures of a {@link ModelSpec} apart. */
  readonly kind: 'lenet';
  /** Side of the square input image: 32 for the reference (MNIST resized from 28 to 32). */
  readonly inputSize: number;
  /** Down-sampling after each convolution. */
  readonly pooling: 'max' | 'avg';
  /** Activation after conv1 and the two hidden dense layers. */
  readonly activation: Activation;
  /** Whether conv2 is followed by the activation too (the reference's training network: no). */
  readonly conv2Activation: boolean;
}

/** Architecture of a multilayer perceptron (see {@link createMlp}). */
export interface MlpSpec {
  /** Tells the architectures of a {@link ModelSpec} apart. */
  readonly kind: 'mlp';
  /** Side of the square input image (28: the 784 raw MNIST pixels). */
  readonly inputSize: number;
  /** Width of each hidden layer. */
  readonly hidden: readonly number[];
  /** Activation after each hidden layer. */
  readonly activation: Activation;
}

/** Any architecture this library builds. */
export type ModelSpec = LeNetSpec | MlpSpec;

/**
 * How raw 8-bit images become model input; stored with the weights so a predictor applies
 * exactly what training saw.
 */
export interface Preprocessing {
  /** Side of the model's square input. */
  readonly size: number;
  /** How 28x28 digits reach `size`: bilinear resize (reference), zero padding, or none. */
  readonly resize: 'bilinear' | 'pad' | 'none';
  /** Mean subtracted after scaling pixels to [0, 1]: the input is `(pixel / 255 - mean) / std`. */
  readonly mean: number;
  /** Standard deviation the centred pixels are divided by (see {@link Preprocessing.mean}). */
  readonly std: number;
}

/** One row of {@link Model.summary}. */
export interface LayerSummary {
  /** The layer's name, as in the PyTorch reference: `conv1`, `pool1`, ..., `fc3`. */
  readonly name: string;
  /** Output shape for a batch of one, channels first like PyTorch prints it: [1, 6, 28, 28]. */
  readonly outputShape: readonly number[];
  /** Trainable values of the layer (weights and biases); 0 for pooling and flattening. */
  readonly params: number;
}

/** A named trainable parameter. */
export interface Parameter {
  /** The name in the weights file, as in PyTorch's `state_dict`: e.g. `conv1.weight`, `fc3.bias`. */
  readonly name: string;
  /** The tfjs variable that holds the values; the model owns and disposes it. */
  readonly variable: tf.Variable;
}

/**
 * A classifier over 10 classes built from tfjs-core ops and variables, made by
 * {@link createLeNet}, {@link createMlp}, {@link loadModel} or {@link loadPretrained}. Once
 * {@link Model.dispose}d, its methods that touch the weights throw an `Error`.
 *
 * @example
 * ```ts
 * const model: Model = await createLeNet({ seed: 1 });
 * console.log(model.spec.kind, model.parameterCount); // 'lenet' 61706
 * await train(model, prepareImages(mnist.train));
 * const bytes = await model.save({ note: 'first run' });
 * model.dispose();
 * ```
 */
export interface Model {
  /** The architecture. */
  readonly spec: ModelSpec;
  /**
   * How input images must be prepared (size, resize, mean, std); stored with the weights, and
   * applied by predictors.
   */
  readonly preprocessing: Preprocessing;
  /** Trainable parameters in a fixed order (the weights file order). */
  readonly parameters: readonly Parameter[];
  /** Total number of trainable values (LeNet: 61,706). */
  readonly parameterCount: number;
  /** Number of classes. */
  readonly classes: number;
  /**
   * Logits for a batch of preprocessed images, NHWC `[n, size, size, 1]`. Pure tfjs ops, so it
   * can run under `tf.grad`; callers own the returned tensor.
   */
  apply(images: tf.Tensor4D): tf.Tensor2D;
  /** Layers with their output shapes and parameter counts. */
  summary(): LayerSummary[];
  /** The summary as a printable table. */
  formatSummary(): string;
  /** Facts stored with the weights (training recipe, accuracy); merged into the next save. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /**
   * Serialises architecture, preprocessing, weights and metadata (the stored metadata merged
   * with `metadata`) into the bytes that {@link loadModel} and {@link decodeWeights} read.
   */
  save(metadata?: Record<string, unknown>): Promise<Uint8Array>;
  /**
   * Copies of the current weights, in parameter order, read synchronously: fine on WASM; on
   * WebGPU prefer {@link Model.readWeights}, which does not block on the GPU.
   */
  getWeights(): Float32Array[];
  /** Copies of the current weights, read asynchronously (works on every backend). */
  readWeights(): Promise<Float32Array[]>;
  /**
   * Replaces every weight, in parameter order (validated first: count, lengths, finite values).
   *
   * @throws {@link WeightsFormatError} when the count or a length does not match, or a value is
   *   not finite; no weight changes then.
   */
  setWeights(weights: readonly Float32Array[]): void;
  /**
   * Increments whenever the weights change through the library (training, `setWeights`), so
   * caches of the weights (the fused kernels' copy) know when to refresh.
   */
  readonly weightsVersion: number;
  /** Call after changing {@link Model.parameters} variables directly, outside the library. */
  notifyWeightsChanged(): void;
  /** Frees the variables. The model is unusable afterwards. */
  dispose(): void;
  /** True after {@link Model.dispose}. */
  readonly isDisposed: boolean;
}
