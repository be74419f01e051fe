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

/**
 * A trainable parameter as the model describes it; its values live in the model's engine (read
 * them with `Model.getWeights()`).
 *
 * Names follow PyTorch's `state_dict`, but shapes and value order are this library's layouts
 * (tfjs'), which differ from PyTorch's for every weight matrix:
 *
 * | parameter         | here (shape, row-major)                   | PyTorch                        |
 * |-------------------|-------------------------------------------|--------------------------------|
 * | `convN.weight`    | HWIO `[kh, kw, in, out]`: `[5, 5, 1, 6]`   | OIHW `[out, in, kh, kw]`       |
 * | `fcN.weight`      | `[in, out]`: fc3 `[84, 10]`                | `[out, in]`: `[10, 84]`        |
 * | LeNet `fc1.weight`| inputs in NHWC flatten order (h, w, c)     | NCHW flatten order (c, h, w)   |
 * | `*.bias`          | `[out]`                                   | `[out]`                        |
 *
 * So `model.getWeights()` cannot be copied into a PyTorch module as is: use
 * `exportPyTorchStateDict` / `importPyTorchStateDict`, which convert.
 *
 * @example
 * ```ts
 * for (const { name, shape } of model.parameters) console.log(name, shape); // 'conv1.weight' [5, 5, 1, 6] ...
 * ```
 */
export interface ParameterInfo {
  /** The name in the weights file, as in PyTorch's `state_dict`: e.g. `conv1.weight`, `fc3.bias`. */
  readonly name: string;
  /**
   * The shape in the library's layouts: conv kernels HWIO, dense kernels `[in, out]` (not
   * PyTorch's OIHW and `[out, in]`; see {@link ParameterInfo}).
   */
  readonly shape: readonly number[];
  /** Number of values: the product of `shape`. */
  readonly size: number;
}
