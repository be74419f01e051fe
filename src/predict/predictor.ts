import { normalizationTable, prepareImages } from '../data/preprocess.js';
import { checkFastPath } from '../engine/choose.js';
import { argmaxRow, softmaxRow } from '../engine/logits.js';
import { engineModel } from '../engine/model.js';
import type { EngineKind, FastPathOption, Model } from '../engine/types.js';
import { OptionError } from '../errors.js';
import type { Preprocessing } from '../model/types.js';
import { type DigitImage, type ImageConversionOptions, InputError, toGrayDigit } from './input.js';

/**
 * One prediction.
 *
 * @example
 * ```ts
 * const { label, probabilities }: Prediction = await predictor.predict(pixels);
 * console.log(`${label} (${(Math.max(...probabilities) * 100).toFixed(1)}% sure)`);
 * ```
 */
export interface Prediction {
  /** The most likely digit. */
  label: number;
  /** Softmax probabilities of the 10 classes, indexed by digit; they sum to 1. */
  probabilities: Float32Array;
}

/**
 * Options of {@link createPredictor}, with the image conversion of
 * {@link ImageConversionOptions}.
 *
 * @example
 * ```ts
 * // Photos of digits written with a pen on paper, classified in batches of 64.
 * const options: PredictorOptions = { invert: true, batchSize: 64 };
 * const predictor = await createPredictor(model, options);
 * ```
 */
export interface PredictorOptions extends ImageConversionOptions {
  /** Images per forward pass in `predictBatch`: a positive integer. Default: 256. */
  batchSize?: number;
  /**
   * `'auto'` (default) uses a fused forward pass for the default LeNet (on WebGPU, the fused
   * engine that was faster for single images in calibration); `'wasm'`/`'webgpu'` force one,
   * `'off'` always runs tfjs ops (see {@link FastPathOption}).
   */
  fastPath?: FastPathOption;
}

/**
 * Classifies digit images with a model; see {@link createPredictor}.
 *
 * @example
 * ```ts
 * const predictor: Predictor = await createPredictor(model);
 * const labels = (await predictor.predictBatch(images)).map((p) => p.label);
 * predictor.dispose();
 * ```
 */
export interface Predictor {
  /**
   * Which implementation runs the model (`'fused'` WASM SIMD kernels, `'webgpu'` WGSL kernels or
   * `'tfjs'` ops): the
   * model's engine, which may change when the backend does.
   */
  readonly path: EngineKind;
  /**
   * Classifies one image.
   *
   * @throws {@link InputError} for an image of the wrong type, size or value range.
   */
  predict(image: DigitImage): Promise<Prediction>;
  /**
   * Classifies many images, batched internally; the result has one prediction per image, in
   * order.
   *
   * @throws {@link InputError} if `images` is not an array, or for the first image of the wrong
   *   type, size or value range (the message gives its index).
   */
  predictBatch(images: readonly DigitImage[]): Promise<Prediction[]>;
  /** Frees the predictor's resources (not the model). */
  dispose(): void;
}

/**
 * Wraps a model for classifying images, applying exactly the preprocessing the model was trained
 * with (resize from 28 to 32, normalisation). Accepts 28x28/32x32 grayscale arrays (white digit on
 * black, like MNIST) and canvas `ImageData` of any size (re-framed like MNIST, dark-on-light
 * detected and inverted). The predictor follows later changes of the model's weights.
 *
 * @example
 * ```ts
 * import { createPredictor, loadPretrained } from 'lenet-mnist';
 * const predictor = await createPredictor(await loadPretrained());
 * const { label, probabilities } = await predictor.predict(ctx.getImageData(0, 0, 280, 280));
 * ```
 * @param model - The model to run; the predictor does not own it.
 * @param options - `invert`, `frame`, `batchSize` (256), `fastPath` (`'auto'`); see
 *   {@link PredictorOptions}.
 * @returns A predictor; dispose it when done.
 * @throws {@link OptionError} when `batchSize` is not a positive integer or `fastPath` is unknown;
 *   {@link FusedLeNetError} when the fused kernels apply but cannot load. {@link InputError} comes
 *   later, from `predict` and `predictBatch`, for inputs of the wrong type, size or value range.
 */
export async function createPredictor(
  model: Model,
  options: PredictorOptions = {},
): Promise<Predictor> {
  const owner = engineModel(model);
  const fastPath = checkFastPath(options.fastPath);
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new OptionError('batchSize', `batchSize must be a positive integer, got ${batchSize}`);
  const request = { fastPath, workload: 'inference' as const };
  // Bound now, so the first prediction is not the one that loads the kernels.
  await owner.engineFor(request);
  const pre = model.preprocessing;
  const table = normalizationTable(pre.mean, pre.std);
  const inputSize = pre.size * pre.size;
  let buffer = new Float32Array(inputSize);

  const writeInput = (image: DigitImage, dst: Float32Array, offset: number, what: string) => {
    const { pixels, side } = toGrayDigit(image, options, what);
    const sized = toModelSide(pixels, side, pre, what);
    for (let i = 0; i < inputSize; i++) dst[offset + i] = table[sized[i] as number] as number;
  };

  const run = async (
    images: readonly DigitImage[],
    first: number,
    n: number,
  ): Promise<Prediction[]> => {
    if (buffer.length < n * inputSize) buffer = new Float32Array(n * inputSize);
    // An index loop, not forEach: a hole in a sparse array must fail as a missing image.
    for (let i = 0; i < n; i++) {
      writeInput(images[first + i] as DigitImage, buffer, i * inputSize, `image ${first + i}`);
    }
    const engine = owner.boundEngine(request) ?? (await owner.engineFor(request));
    return toPredictions(await engine.forward(buffer, n), n);
  };

  return {
    get path() {
      return owner.engine?.kind ?? 'tfjs';
    },
    async predict(image) {
      return (await run([image], 0, 1))[0] as Prediction;
    },
    async predictBatch(images) {
      if (!Array.isArray(images)) throw new InputError('predictBatch expects an array of images');
      const out: Prediction[] = [];
      for (let i = 0; i < images.length; i += batchSize) {
        out.push(...(await run(images, i, Math.min(batchSize, images.length - i))));
      }
      return out;
    },
    dispose: () => {},
  };
}

function toModelSide(
  pixels: Uint8Array,
  side: number,
  pre: Preprocessing,
  what: string,
): Uint8Array {
  if (side === pre.size) return pixels;
  try {
    const set = { images: pixels, labels: ONE_LABEL, count: 1, height: side, width: side };
    return prepareImages(set, { size: pre.size, resize: pre.resize, mean: pre.mean, std: pre.std })
      .images;
  } catch (err) {
    throw new InputError(
      `${what}: a ${side}x${side} image cannot feed a model trained on ${pre.size}x${pre.size} input (${(err as Error).message})`,
    );
  }
}

const ONE_LABEL = new Uint8Array(1);

function toPredictions(logits: Float32Array, n: number): Prediction[] {
  const out: Prediction[] = [];
  for (let r = 0; r < n; r++) {
    const { argmax, max } = argmaxRow(logits, r * 10);
    const probabilities = new Float32Array(10);
    softmaxRow(logits, r * 10, max, probabilities);
    out.push({ label: argmax, probabilities });
  }
  return out;
}
