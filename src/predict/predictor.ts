import { resolveThreads, type ThreadsOption } from '../backend/env.js';
import { prepareImages } from '../data/preprocess.js';
import { checkFastPath } from '../engine/choose.js';
import { engineModel } from '../engine/model.js';
import { type DigitScores, newScores } from '../engine/scores.js';
import type { Engine, EngineKind, FastPathOption, Model } from '../engine/types.js';
import { OptionError } from '../errors.js';
import type { Preprocessing } from '../model/types.js';
import { checkInt, checkOptionKeys, describeValue, optionKeys } from '../options.js';
import {
  checkConversionOptions,
  type DigitImage,
  type GrayDigit,
  type ImageConversionOptions,
  InputError,
  toGrayDigit,
} from './input.js';

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
  /**
   * No digit was found: a blank sheet, a uniform or gradient background, paper noise (for
   * MNIST-style arrays: fewer than 5 pixels at half intensity). `label` and `probabilities` are
   * still the model's reading of the (blank) input; apps should say "no digit" instead.
   */
  empty: boolean;
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
  /**
   * Images per forward pass (per thread, see `threads`) in `predictBatch` and `classifyInto`: a
   * positive integer. Default: 256.
   */
  batchSize?: number;
  /**
   * Threads sharing large batches in `predictBatch` and `classifyInto`, the same setting as
   * `train`'s `threads`: `'auto'` (default) one per reported CPU core, at most 4 (1 where the
   * runtime cannot start workers); a number is used as given. On the fused WASM engine a batch
   * of at least 64 digits is split over workers, started on first use and stopped after 2 s
   * unused or when the model is disposed; smaller batches and single digits stay on the calling
   * thread. Results are the same bit for bit on any count.
   */
  threads?: ThreadsOption;
  /**
   * `'auto'` (default) uses a fused forward pass for the default LeNet (on WebGPU, the fused
   * engine that was faster for single images in calibration); `'wasm'`/`'webgpu'` force one,
   * `'off'` always runs tfjs ops (see {@link FastPathOption}).
   */
  fastPath?: FastPathOption;
}

/**
 * Many 8-bit grayscale digits in one array, as an IDX file or {@link loadMnist} holds them:
 * `count` images of `height` x `width` pixels (28x28 or 32x32), row-major, one after another,
 * white on black. An {@link ImageSet} or {@link PreparedSet} is one.
 *
 * @example
 * ```ts
 * const batch: PixelBatch = { images: idxBytes.subarray(16), count: 10000, height: 28, width: 28 };
 * ```
 */
export interface PixelBatch {
  /** At least `count * height * width` pixels, 0-255. */
  readonly images: Uint8Array;
  /** Number of images to classify: the first `count`. */
  readonly count: number;
  /** 28 or 32. */
  readonly height: number;
  /** Equal to `height`. */
  readonly width: number;
}

/**
 * Where {@link Predictor.classifyInto} writes its results, in place: one label per image and,
 * when given, 10 probabilities per image.
 *
 * @example
 * ```ts
 * const out: ClassifyOutput = {
 *   labels: new Uint8Array(10000),
 *   probabilities: new Float32Array(10000 * 10),
 * };
 * ```
 */
export interface ClassifyOutput {
  /** Receives the most likely digit of image `i` at index `i`; at least n entries. */
  readonly labels: Uint8Array | Int32Array;
  /**
   * Optional: receives the softmax probabilities of image `i` at `i * 10 .. i * 10 + 9`; at least
   * `n * 10` entries.
   */
  readonly probabilities?: Float32Array;
  /**
   * Optional: receives 1 at index `i` where image `i` holds no digit (a blank sheet, a uniform or
   * gradient background, paper noise: `Prediction.empty`), else 0; at least n entries.
   */
  readonly empty?: Uint8Array;
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
  /**
   * Classifies many images into arrays the app owns, for apps that score many digits. `images`
   * is a `Uint8Array` of consecutive 28x28 digits (IDX-style, a multiple of 784 bytes), a
   * {@link PixelBatch} (28x28 or 32x32), or an array of any {@link DigitImage}s; for the first
   * two (without `invert`), nothing is allocated per image. Labels and probabilities are exactly those of {@link Predictor.predict}
   * and {@link Predictor.predictBatch} for the same images. On the fused engine, raw digits are
   * resized (Pillow-exact), normalised, classified and softmaxed inside the kernels' module, on
   * the thread that runs their share, and the results written straight into `out`.
   *
   * Every argument is checked before anything is computed or written.
   *
   * @param images - The digits.
   * @param out - `labels` (`Uint8Array` or `Int32Array`, at least n) and optional
   *   `probabilities` (`Float32Array`, at least n * 10), written from index 0.
   * @returns n, the number of images classified.
   * @throws {@link InputError} for `images` of another type, a `Uint8Array` whose length is not
   *   a multiple of 784, a {@link PixelBatch} with a bad `count`/size or too few pixels, or an
   *   array image of the wrong type, size or value range (the message gives its index);
   *   {@link OptionError} (option `'out'`, `'out.labels'` or `'out.probabilities'`) for an `out`
   *   that is not an object, or arrays of another type or too short for n images.
   *
   * @example
   * ```ts
   * const { test } = await loadMnist();
   * const labels = new Uint8Array(test.count);
   * const probabilities = new Float32Array(test.count * 10);
   * const n = await predictor.classifyInto(test, { labels, probabilities });
   * let correct = 0;
   * for (let i = 0; i < n; i++) if (labels[i] === test.labels[i]) correct++;
   * ```
   */
  classifyInto(
    images: Uint8Array | PixelBatch | readonly DigitImage[],
    out: ClassifyOutput,
  ): Promise<number>;
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
 * @throws {@link OptionError} for an unknown option (naming the closest valid one), when
 *   `batchSize` is not a positive integer or `fastPath` is unknown;
 *   {@link FusedLeNetError} when the fused kernels apply but cannot load. {@link InputError} comes
 *   later, from `predict`, `predictBatch` and `classifyInto`, for inputs of the wrong type, size
 *   or value range.
 */
export async function createPredictor(
  model: Model,
  options: PredictorOptions = {},
): Promise<Predictor> {
  checkOptionKeys('createPredictor', options, PREDICTOR_KEYS);
  const fastPath = checkFastPath(options.fastPath);
  const batchSize = options.batchSize ?? 256;
  checkInt('createPredictor', 'batchSize', batchSize, 1);
  const { threads } = resolveThreads(options.threads ?? 'auto', { kind: 'fused', batchSize });
  const predictor = new EnginePredictor(model, options, fastPath, batchSize, threads);
  // Bound now, so the first prediction is not the one that loads the kernels.
  await predictor.engineNow();
  return predictor;
}

/**
 * A digit as 8-bit pixels, `side` x `side`, and whether it holds any ink (`empty` absent for an
 * array read as it is: the engine's blank flag of its pixels decides).
 */
type Digit = Omit<GrayDigit, 'empty'> & { readonly empty?: boolean };

/**
 * Converted digits: the 8-bit pixels, side (28 or 32) and emptiness of each (1: no digit;
 * {@link BLANK_FROM_PIXELS}: the engine's blank flag of its pixels decides).
 */
interface Digits {
  readonly pixels: Uint8Array[];
  readonly sides: Uint8Array;
  readonly empty: Uint8Array;
  /** Some side is not 28 (runs of one side must be found). */
  mixed: boolean;
}

/** `Digits.empty` of a digit read as it is: its emptiness is the engine's blank flag. */
const BLANK_FROM_PIXELS = 2;

function newDigits(n: number): Digits {
  // Filled for 28x28 arrays read as they are, the common case: setDigit overwrites the others.
  const sides = new Uint8Array(n).fill(28);
  const empty = new Uint8Array(n).fill(BLANK_FROM_PIXELS);
  return { pixels: new Array(n), sides, empty, mixed: false };
}

function setDigit(digits: Digits, i: number, digit: Digit): void {
  digits.pixels[i] = digit.pixels;
  digits.sides[i] = digit.side;
  digits.empty[i] = digit.empty === undefined ? BLANK_FROM_PIXELS : digit.empty ? 1 : 0;
  if (digit.side !== 28) digits.mixed = true;
}

/**
 * Where a call's scores go, each indexed by image from the call's first: arrays the call owns or
 * the app's (`classifyInto`). An absent one, or `Int32Array` labels, go through the predictor's
 * scratch.
 */
interface ScoreSinks {
  readonly labels?: Uint8Array | Int32Array;
  readonly probabilities?: Float32Array;
  readonly blank?: Uint8Array;
}

/**
 * The {@link Predictor} {@link createPredictor} makes: it converts inputs to 8-bit digits and
 * hands them, in batches of one side, to the model's engine, which prepares them as the model's
 * preprocessing prescribes (the one home of preprocessing) and computes the logits.
 */
class EnginePredictor implements Predictor {
  readonly #owner: ReturnType<typeof engineModel>;
  readonly #options: PredictorOptions;
  readonly #request: { fastPath: FastPathOption; workload: 'inference' };
  /** Images per call to the engine: `batchSize` for each thread. */
  readonly #perCall: number;
  readonly #pre: Preprocessing;
  /** Digit sides known to resize to the model's input (checked once, for a typed error). */
  readonly #checkedSides: Set<number>;
  /** Grayscale arrays that need no conversion are read as they are (invert off, its default). */
  readonly #readsGrayAsIs: boolean;
  /** Threads that may share a batch (see {@link PredictorOptions.threads}). */
  readonly #threads: number;
  /** Scratch for one batch's digits (the engine reads them before its first await). */
  #pixels = new Uint8Array(0);
  /**
   * Scratch for the scores of one call to the engine that no sink takes, held by one call at a
   * time (an overlapping call makes its own).
   */
  #spareScores: DigitScores | undefined;

  constructor(
    model: Model,
    options: PredictorOptions,
    fastPath: FastPathOption,
    batchSize: number,
    threads: number,
  ) {
    this.#threads = threads;
    this.#owner = engineModel(model);
    this.#options = options;
    this.#request = { fastPath, workload: 'inference' };
    // Each thread takes up to `batchSize` images of a call to the engine.
    this.#perCall = batchSize * threads;
    this.#pre = model.preprocessing;
    this.#checkedSides = new Set([model.preprocessing.size]);
    this.#readsGrayAsIs = options.invert === undefined || options.invert === false;
  }

  get path(): EngineKind {
    return this.#owner.engine?.kind ?? 'tfjs';
  }

  /** The model's engine now (bound again if the backend changed). */
  async engineNow(): Promise<Engine> {
    return this.#owner.boundEngine(this.#request) ?? (await this.#owner.engineFor(this.#request));
  }

  async predict(image: DigitImage): Promise<Prediction> {
    const { pixels, side, empty } = this.#grayOf(image, 'image');
    const scores = newScores(1);
    await this.#score(await this.engineNow(), pixels, side, 0, 1, scores);
    return {
      label: scores.labels[0] as number,
      probabilities: scores.probabilities,
      empty: empty ?? scores.blank[0] === 1,
    };
  }

  async predictBatch(images: readonly DigitImage[]): Promise<Prediction[]> {
    if (!Array.isArray(images)) throw new InputError('predictBatch expects an array of images');
    const n = images.length;
    // One buffer for the call's probabilities; each prediction holds a view of its 10.
    const sinks = newScores(n);
    const digits = this.#convertAll(images);
    await this.#runDigits(digits, sinks);
    return toPredictions(sinks, digits.empty);
  }

  async classifyInto(
    images: Uint8Array | PixelBatch | readonly DigitImage[],
    out: ClassifyOutput,
  ): Promise<number> {
    const n = countOf(images);
    const { labels, probabilities, empty } = checkOutput(out, n);
    if (Array.isArray(images)) {
      checkConversionOptions(this.#options, 'images');
      const digits = this.#convertAll(images);
      await this.#runDigits(digits, { labels, probabilities, blank: empty });
      if (empty) mergeEmpty(empty, digits.empty);
      return n;
    }
    const batch = images instanceof Uint8Array ? null : (images as PixelBatch);
    const src = batch ? batch.images : (images as Uint8Array);
    await this.#classifyPacked(src, batch ? batch.height : 28, n, {
      labels,
      probabilities,
      blank: empty,
    });
    return n;
  }

  dispose(): void {}

  /** `n` consecutive digits of one side, in batches (converted one by one when inverting). */
  async #classifyPacked(src: Uint8Array, side: number, n: number, sinks: ScoreSinks) {
    const bytes = side * side;
    if (!this.#readsGrayAsIs) {
      // Inverting needs a converted copy of each digit: the per-image path.
      const digits = newDigits(n);
      for (let i = 0; i < n; i++) {
        const digit = src.subarray(i * bytes, (i + 1) * bytes);
        setDigit(digits, i, toGrayDigit(digit, this.#options, `image ${i}`));
      }
      await this.#runDigits(digits, sinks);
      if (sinks.blank) sinks.blank.set(digits.empty);
      return;
    }
    // Read in place (no copy per image); blank flags straight from the engine.
    for (let first = 0; first < n; first += this.#perCall) {
      const m = Math.min(this.#perCall, n - first);
      const digits = src.subarray(first * bytes, (first + m) * bytes);
      await this.#score(await this.engineNow(), digits, side, first, m, sinks);
    }
  }

  /**
   * Scores `n` digits of `side` x `side`, consecutive in `src` (images `first` on of the call),
   * into `sinks` from index `first` (the ones a sink does not take go through scratch).
   */
  async #score(
    engine: Engine,
    src: Uint8Array,
    side: number,
    first: number,
    n: number,
    sinks: ScoreSinks,
  ): Promise<void> {
    if (!this.#checkedSides.has(side)) {
      toModelSide(new Uint8Array(side * side), side, this.#pre, `image ${first}`);
      this.#checkedSides.add(side);
    }
    const { labels, probabilities, blank } = sinks;
    const direct =
      labels instanceof Uint8Array && probabilities !== undefined && blank !== undefined;
    const spare = direct ? undefined : this.#takeSpare(n);
    const out: DigitScores = {
      labels:
        labels instanceof Uint8Array ? rows(labels, first, n, 1) : (spare as DigitScores).labels,
      probabilities: probabilities
        ? rows(probabilities, first, n, 10)
        : (spare as DigitScores).probabilities,
      blank: blank ? rows(blank, first, n, 1) : (spare as DigitScores).blank,
    };
    // In turn with a trainer's steps, when the model is being trained (never under a step); a
    // call that must wait keeps its own copy of the digits (the caller's scratch moves on).
    const digits = this.#owner.mustWait() ? src.slice() : src;
    try {
      await this.#owner.exclusive(() =>
        engine.classifyPixels(digits, side, n, this.#pre, out, this.#threads),
      );
      if (labels !== undefined && !(labels instanceof Uint8Array)) {
        labels.set(out.labels.subarray(0, n), first);
      }
    } finally {
      if (spare !== undefined) this.#spareScores = spare;
    }
  }

  /** The scratch scores for up to `n` digits, taken until given back. */
  #takeSpare(n: number): DigitScores {
    const spare = this.#spareScores;
    this.#spareScores = undefined;
    if (spare !== undefined && spare.labels.length >= n) return spare;
    return newScores(Math.max(n, this.#perCall));
  }

  /**
   * A digit as 8-bit pixels and side: grayscale arrays as they are (emptiness left to the
   * engine), anything else converted.
   */
  #grayOf(image: DigitImage, what: string): Digit {
    if (
      this.#readsGrayAsIs &&
      (image instanceof Uint8Array || image instanceof Uint8ClampedArray) &&
      (image.length === 784 || image.length === 1024)
    ) {
      const side = image.length === 784 ? 28 : 32;
      if (image instanceof Uint8Array) return { pixels: image, side };
      return { pixels: new Uint8Array(image.buffer, image.byteOffset, image.length), side };
    }
    return toGrayDigit(image, this.#options, what);
  }

  /**
   * Converts every image of an array (the first bad one throws), before any work. 28x28
   * grayscale arrays read as they are cost no allocation per image.
   */
  #convertAll(images: readonly DigitImage[]): Digits {
    const digits = newDigits(images.length);
    // An index loop, not map: a hole in a sparse array must fail as a missing image.
    for (let i = 0; i < images.length; i++) {
      if (this.#readsGrayAsIs) {
        i = takeGrayArrays(images, i, digits);
        if (i === images.length) break;
      }
      setDigit(digits, i, this.#grayOf(images[i] as DigitImage, `image ${i}`));
    }
    return digits;
  }

  /** Scores converted digits in batches, runs of one side at a time, into `sinks`. */
  async #runDigits(digits: Digits, sinks: ScoreSinks): Promise<void> {
    const { pixels: list, sides } = digits;
    for (let first = 0; first < list.length; ) {
      const side = sides[first] as number;
      const n = digits.mixed
        ? runLength(sides, first, this.#perCall)
        : Math.min(this.#perCall, list.length - first);
      const bytes = side * side;
      const engine = await this.engineNow();
      if (this.#pixels.length < n * bytes) this.#pixels = new Uint8Array(this.#perCall * 1024);
      packDigits(list, first, n, bytes, this.#pixels);
      // The engine reads the scratch pixels before its first await.
      await this.#score(engine, this.#pixels, side, first, n, sinks);
      first += n;
    }
  }
}

// The per-image loops of #convertAll and #runDigits live in small functions: inside the
// methods (one of them async), V8 optimised the whole method on stack to run them, compiles
// long enough to slow the first calls of a fresh predictor while every core computes
// (BENCHMARKS.md, issue 23).

/**
 * Takes the 28x28 grayscale arrays from `images[first]` on as they are (no allocation), up to
 * the first other image; returns its index (`images.length` when there is none).
 */
function takeGrayArrays(images: readonly DigitImage[], first: number, digits: Digits): number {
  let i = first;
  for (; i < images.length; i++) {
    const image = images[i];
    if (!(image instanceof Uint8Array) || image.length !== 784) break;
    digits.pixels[i] = image; // side 28, emptiness from its pixels: newDigits' defaults
  }
  return i;
}

/** How many digits from `first` on have its side, at most `max`. */
function runLength(sides: Uint8Array, first: number, max: number): number {
  const side = sides[first];
  let n = 0;
  while (n < max && first + n < sides.length && sides[first + n] === side) n++;
  return n;
}

/** Copies `n` digits of `bytes` bytes from `list[first]` on into `dst`, back to back. */
function packDigits(
  list: readonly Uint8Array[],
  first: number,
  n: number,
  bytes: number,
  dst: Uint8Array,
): void {
  for (let i = 0; i < n; i++) dst.set(list[first + i] as Uint8Array, i * bytes);
}

/** The number of images in `classifyInto`'s input, checking its shape. */
function countOf(images: unknown): number {
  if (Array.isArray(images)) return images.length;
  if (images instanceof Uint8Array) {
    if (images.length % 784 !== 0) {
      throw new InputError(
        `classifyInto: a Uint8Array holds consecutive 28x28 digits, so its length must be a multiple of 784, found ${images.length}; pass { images, count, height: 32, width: 32 } for 32x32 digits`,
      );
    }
    return images.length / 784;
  }
  if (typeof images === 'object' && images !== null && 'images' in images) {
    const { images: pixels, count, height, width } = images as PixelBatch;
    if (!(pixels instanceof Uint8Array)) {
      throw new InputError('classifyInto: images.images must be a Uint8Array of pixels');
    }
    if ((height !== 28 && height !== 32) || width !== height) {
      throw new InputError(
        `classifyInto: images must be 28x28 or 32x32, found ${String(height)}x${String(width)}`,
      );
    }
    if (!Number.isInteger(count) || count < 0) {
      throw new InputError(`classifyInto: count must be an integer >= 0, found ${String(count)}`);
    }
    if (pixels.length < count * height * width) {
      throw new InputError(
        `classifyInto: ${count} images of ${height}x${width} need ${count * height * width} pixels, found ${pixels.length}`,
      );
    }
    return count;
  }
  throw new InputError(
    'classifyInto: images must be a Uint8Array of 28x28 digits, a { images, count, height, width } batch or an array of images',
  );
}

/** Checks `classifyInto`'s output arrays against `n` images. */
function checkOutput(out: unknown, n: number): ClassifyOutput {
  if (typeof out !== 'object' || out === null) {
    throw new OptionError(
      'out',
      'classifyInto: out must be an object { labels, probabilities?, empty? }',
    );
  }
  const { labels, probabilities, empty } = out as ClassifyOutput;
  if (empty !== undefined && (!(empty instanceof Uint8Array) || empty.length < n)) {
    throw new OptionError(
      'out.empty',
      `classifyInto: out.empty must be a Uint8Array of at least ${n} entries, got ${describeValue(empty)}`,
    );
  }
  if (!(labels instanceof Uint8Array || labels instanceof Int32Array)) {
    throw new OptionError(
      'out.labels',
      'classifyInto: out.labels must be a Uint8Array or Int32Array',
    );
  }
  if (labels.length < n) {
    throw new OptionError(
      'out.labels',
      `classifyInto: out.labels holds ${labels.length} labels, fewer than the ${n} images`,
    );
  }
  if (probabilities !== undefined) {
    if (!(probabilities instanceof Float32Array)) {
      throw new OptionError(
        'out.probabilities',
        'classifyInto: out.probabilities must be a Float32Array',
      );
    }
    if (probabilities.length < n * 10) {
      throw new OptionError(
        'out.probabilities',
        `classifyInto: out.probabilities holds ${probabilities.length} values, fewer than 10 for each of the ${n} images (${n * 10})`,
      );
    }
  }
  return { labels, probabilities, empty };
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

/** Rows `first .. first + n` of `width` values each: `array` itself when that is all of it. */
function rows<T extends Uint8Array | Float32Array>(
  array: T,
  first: number,
  n: number,
  width: number,
): T {
  if (first === 0 && array.length === n * width) return array;
  return array.subarray(first * width, (first + n) * width) as T;
}

/** The predictions of a call from its scores and its digits' emptiness (`Digits.empty`). */
function toPredictions(scores: DigitScores, empty: Uint8Array): Prediction[] {
  const { labels, probabilities, blank } = scores;
  const out: Prediction[] = new Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    out[i] = {
      label: labels[i] as number,
      probabilities: probabilities.subarray(i * 10, i * 10 + 10),
      empty: (empty[i] === BLANK_FROM_PIXELS ? blank[i] : empty[i]) === 1,
    };
  }
  return out;
}

/** `classifyInto`'s empty flags: the engine's blank flags where they decide, else `Digits.empty`. */
function mergeEmpty(flags: Uint8Array, empty: Uint8Array): void {
  for (let i = 0; i < empty.length; i++) {
    if (empty[i] !== BLANK_FROM_PIXELS) flags[i] = empty[i] as number;
  }
}

const PREDICTOR_KEYS = optionKeys<PredictorOptions>()([
  'invert',
  'frame',
  'batchSize',
  'fastPath',
  'threads',
]);
