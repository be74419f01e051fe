import { isBlankArray } from '../engine/scores.js';
import { checkImage, extractInto, resampleArea } from './extract.js';
import { borderMean, describe, type ImageDataLike, InputError } from './image.js';

// Where callers find the error they catch for an input (its home is image.ts).
export { type ImageDataLike, InputError } from './image.js';

/**
 * What a predictor accepts: a 28x28 or 32x32 grayscale image, row-major, white digit on black
 * like MNIST (`Uint8Array`/`Uint8ClampedArray` 0-255, or `Float32Array` 0-1), or an RGBA image of
 * any size.
 *
 * @example
 * ```ts
 * const inputs: DigitImage[] = [
 *   imageAt(mnist.test, 0), // Uint8Array(784), as MNIST
 *   ctx.getImageData(0, 0, canvas.width, canvas.height), // a drawing on a canvas
 * ];
 * const predictions = await predictor.predictBatch(inputs);
 * ```
 */
export type DigitImage = Uint8Array | Uint8ClampedArray | Float32Array | ImageDataLike;

/**
 * Options for turning an input image into an MNIST-style digit (see {@link PredictorOptions}).
 *
 * @example
 * ```ts
 * // A 28x28 grayscale scan of dark ink on white paper.
 * const options: ImageConversionOptions = { invert: true };
 * ```
 */
export interface ImageConversionOptions {
  /**
   * The image shows a dark digit on a light background (pen on paper): invert it. `'auto'`
   * decides from the border's brightness. Default: `false` for grayscale arrays, `'auto'` for RGBA.
   */
  invert?: boolean | 'auto';
  /**
   * Re-frame an RGBA digit the way MNIST was made: crop to the ink, scale its longer side to
   * 20 pixels, and centre its centre of mass in 28x28. Default `true` for RGBA input.
   */
  frame?: boolean;
}

/**
 * Checks conversion options: an object whose `invert` is `true`, `false` or `'auto'` and whose
 * `frame` is a boolean (both optional).
 *
 * @throws {@link InputError} naming the option and what was found.
 */
export function checkConversionOptions(options: unknown, what: string): ImageConversionOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InputError(`${what}: options must be an object, got ${describe(options)}`);
  }
  const { invert, frame } = options as ImageConversionOptions;
  if (invert !== undefined && invert !== true && invert !== false && invert !== 'auto') {
    throw new InputError(
      `${what}: invert must be true, false or 'auto', got ${typeof invert === 'string' ? JSON.stringify(invert) : describe(invert)}`,
    );
  }
  if (frame !== undefined && typeof frame !== 'boolean') {
    throw new InputError(`${what}: frame must be true or false, got ${describe(frame)}`);
  }
  return options as ImageConversionOptions;
}

/**
 * Converts any accepted input to a square 8-bit grayscale image, white on black, of side 28 or
 * 32 (returned with its side). Whatever it is given, it returns such an image or throws an
 * {@link InputError}.
 *
 * @throws {@link InputError} for an input that is not a 28x28/32x32 grayscale array or an
 *   ImageData-like object (wrong type, size, value range, dimensions or data length), or
 *   invalid options (`invert` other than `true`/`false`/`'auto'`, `frame` not a boolean).
 */
export function toGrayDigit(
  image: DigitImage,
  options: ImageConversionOptions = {},
  what = 'image',
): GrayDigit {
  checkConversionOptions(options, what);
  if (image instanceof Float32Array) {
    const side = squareSide(image.length, what);
    const pixels = new Uint8Array(image.length);
    for (let i = 0; i < image.length; i++) {
      const v = image[i] as number;
      if (!(v >= 0 && v <= 1)) {
        throw new InputError(
          `${what}: Float32Array values must be in [0, 1], found ${v} at index ${i}; pass a Uint8Array for 0-255 pixels`,
        );
      }
      pixels[i] = Math.round(v * 255);
    }
    return arrayDigit(maybeInvert(pixels, side, options.invert ?? false), side);
  }
  if (image instanceof Uint8Array || image instanceof Uint8ClampedArray) {
    const side = squareSide(image.length, what);
    const pixels = new Uint8Array(image.buffer, image.byteOffset, image.length);
    return arrayDigit(maybeInvert(pixels, side, options.invert ?? false), side);
  }
  if (
    image !== null &&
    typeof image === 'object' &&
    !ArrayBuffer.isView(image) &&
    'data' in image &&
    'width' in image &&
    'height' in image
  ) {
    return fromRgba(image, options, what);
  }
  throw new InputError(
    `${what}: expected a 28x28 or 32x32 Uint8Array/Uint8ClampedArray/Float32Array or an ImageData-like { data, width, height }, got ${describe(image)}`,
  );
}

/**
 * Converts every image of a batch with {@link toGrayDigit}, checking the batch itself first:
 * it must be an array (or array-like list) with no holes; a sparse array such as `new Array(3)`
 * is refused rather than read as `undefined` images.
 *
 * @param images - The batch.
 * @param options - As {@link toGrayDigit}.
 * @returns One converted image per input, in order.
 * @throws {@link InputError} naming the offending image (`images[i]`), a hole, or a batch that
 *   is not an array.
 *
 * @example
 * ```ts
 * const digits = toGrayDigits([imageAt(mnist.test, 0), canvasImageData]);
 * ```
 */
export function toGrayDigits(
  images: readonly DigitImage[],
  options: ImageConversionOptions = {},
): GrayDigit[] {
  if (!Array.isArray(images)) {
    throw new InputError(`images: expected an array of images, got ${describe(images)}`);
  }
  checkConversionOptions(options, 'images');
  const out: GrayDigit[] = [];
  for (let i = 0; i < images.length; i++) {
    if (!(i in images)) {
      throw new InputError(
        `images[${i}]: missing (the array has a hole at index ${i}; a sparse array such as new Array(n) holds no images)`,
      );
    }
    out.push(toGrayDigit(images[i] as DigitImage, options, `images[${i}]`));
  }
  return out;
}

function squareSide(length: number, what: string): number {
  if (length === 28 * 28) return 28;
  if (length === 32 * 32) return 32;
  throw new InputError(
    `${what}: a grayscale image must have 784 (28x28) or 1024 (32x32) pixels, found ${length}; pass RGBA { data, width, height } for other sizes`,
  );
}

function maybeInvert(pixels: Uint8Array, side: number, invert: boolean | 'auto'): Uint8Array {
  const flip = invert === 'auto' ? borderMean(pixels, side, side) > 127 : invert;
  if (!flip) return pixels;
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = 255 - (pixels[i] as number);
  return out;
}

function fromRgba(image: ImageDataLike, options: ImageConversionOptions, what: string): GrayDigit {
  const { data, width, height, channels } = checkImage(image, what);
  const invert = options.invert ?? 'auto';
  if (options.frame === false) {
    // Already framed by the caller: only grayscale, polarity and size change.
    const gray = new Uint8Array(width * height);
    for (let i = 0, p = 0; i < gray.length; i++, p += channels) {
      if (channels === 1) {
        gray[i] = data[p] as number;
        continue;
      }
      const a = (data[p + 3] as number) / 255;
      const luma =
        0.299 * (data[p] as number) +
        0.587 * (data[p + 1] as number) +
        0.114 * (data[p + 2] as number);
      gray[i] = Math.round(luma * a + 255 * (1 - a));
    }
    const flip = invert === 'auto' ? borderMean(gray, width, height) > 127 : invert;
    if (flip) for (let i = 0; i < gray.length; i++) gray[i] = 255 - (gray[i] as number);
    if ((width === 28 || width === 32) && width === height) return arrayDigit(gray, width);
    return arrayDigit(resampleArea(gray, width, 0, 0, width, height, 28, 28), 28);
  }
  const pixels = new Uint8Array(784);
  const { empty } = extractInto(data, width, height, channels, invert, pixels);
  return { pixels, side: 28, empty };
}

/**
 * A digit that is already MNIST style (an array, or a caller-framed image): empty when fewer
 * than `MIN_INK_PIXELS` (5, engine/scores.ts) pixels reach half intensity.
 */
export function arrayDigit(pixels: Uint8Array, side: number): GrayDigit {
  return { pixels, side, empty: isBlankArray(pixels) };
}

/** A digit as the model reads it: 8-bit pixels, white on black, `side` x `side`. */
export interface GrayDigit {
  pixels: Uint8Array;
  side: number;
  /** No digit was found in the input. */
  empty: boolean;
}
