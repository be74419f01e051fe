import { LenetMnistError } from '../errors.js';
import { checkImage, extractInto, resampleArea } from './extract.js';

/**
 * An RGBA image as a canvas gives it (`ctx.getImageData(...)`), or anything shaped like one.
 * Transparent pixels count as white paper.
 *
 * @example
 * ```ts
 * const image: ImageDataLike = { data: rgbaBytes, width: 200, height: 200 };
 * const { label } = await predictor.predict(image);
 * ```
 */
export interface ImageDataLike {
  /** `width * height * 4` bytes: red, green, blue, alpha for each pixel, row by row. */
  readonly data: Uint8ClampedArray | Uint8Array;
  /** Width in pixels, a positive integer. */
  readonly width: number;
  /** Height in pixels, a positive integer (at most 2^26 pixels in all). */
  readonly height: number;
}

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
 * An input image is not something a predictor can read; the message says what was found (type,
 * size or value range) and, for `predictBatch`, which image. Thrown by {@link Predictor.predict}
 * and {@link Predictor.predictBatch}.
 *
 * @example
 * ```ts
 * try {
 *   show(await predictor.predict(pixels));
 * } catch (err) {
 *   if (err instanceof InputError) console.warn(err.message); // e.g. '... must have 784 (28x28) or 1024 (32x32) pixels ...'
 *   else throw err;
 * }
 * ```
 */
export class InputError extends LenetMnistError {}

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

/** A short, throw-proof description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) {
    const type = Object.prototype.toString.call(v).slice(8, -1);
    const length = (v as Partial<Uint8Array>).length;
    return typeof length === 'number' ? `${type}(${length})` : type;
  }
  if (Array.isArray(v)) return `an Array(${v.length})`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${v}`;
  if (typeof v !== 'object') return typeof v;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? name : 'object';
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

function borderMean(pixels: Uint8Array, w: number, h: number): number {
  let sum = 0;
  let n = 0;
  for (let x = 0; x < w; x++) {
    sum += (pixels[x] as number) + (pixels[(h - 1) * w + x] as number);
    n += 2;
  }
  for (let y = 1; y < h - 1; y++) {
    sum += (pixels[y * w] as number) + (pixels[y * w + w - 1] as number);
    n += 2;
  }
  return sum / n;
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
 * than {@link MIN_INK_PIXELS} pixels reach half intensity. MNIST's thinnest 1s have dozens.
 */
export function arrayDigit(pixels: Uint8Array, side: number): GrayDigit {
  let ink = 0;
  for (let i = 0; i < pixels.length; i++) if ((pixels[i] as number) >= 128) ink++;
  return { pixels, side, empty: ink < MIN_INK_PIXELS };
}

/** The fewest half-intensity pixels an MNIST-style array needs to hold a digit. */
export const MIN_INK_PIXELS = 5;

/** A digit as the model reads it: 8-bit pixels, white on black, `side` x `side`. */
export interface GrayDigit {
  pixels: Uint8Array;
  side: number;
  /** No digit was found in the input. */
  empty: boolean;
}

function checkSize(width: unknown, height: unknown, what: string): void {
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    (width as number) < 1 ||
    (height as number) < 1 ||
    (width as number) * (height as number) > 1 << 26
  ) {
    throw new InputError(
      `${what}: width/height must be positive integers (at most 2^26 pixels), found ${describe(width)}x${describe(height)}`,
    );
  }
}

/**
 * MNIST's own normalisation (LeCun et al.): the digit's bounding box scaled so its longer side is
 * 20 pixels (anti-aliased), placed in 28x28 with its centre of mass at the centre. Predictors do
 * this to RGBA input themselves (see {@link ImageConversionOptions.frame}); call it to frame
 * grayscale drawings of other sizes, or to show the user what the model sees.
 *
 * @param gray - `height * width` 8-bit pixels, row-major, white digit on black; pixels above 32
 *   count as ink. A `Uint8Array` or `Uint8ClampedArray`.
 * @param width - Width of `gray` in pixels, a positive integer.
 * @param height - Height of `gray` in pixels, a positive integer (at most 2^26 pixels in all).
 * @returns A new 28x28 image (784 pixels); all zero when there is no ink.
 * @throws {@link InputError} if `gray` is not a `Uint8Array`/`Uint8ClampedArray` of exactly
 *   `width * height` pixels, or a size is not a positive integer.
 *
 * @example
 * ```ts
 * const digit = frameLikeMnist(drawing, 200, 200); // Uint8Array(784)
 * console.log(formatDigitAscii(digit, 28, 28));
 * const { label } = await predictor.predict(digit);
 * ```
 */
export function frameLikeMnist(gray: Uint8Array, width: number, height: number): Uint8Array {
  checkSize(width, height, 'frameLikeMnist');
  const g: unknown = gray;
  if (!(g instanceof Uint8Array || g instanceof Uint8ClampedArray) || g.length !== width * height) {
    throw new InputError(
      `frameLikeMnist: gray must be a Uint8Array of width x height = ${width * height} pixels, found ${describe(gray)}`,
    );
  }
  const threshold = 32;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if ((gray[y * width + x] as number) > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  const out = new Uint8Array(28 * 28);
  if (x1 < 0) return out; // no ink: an empty image
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  const digit = resampleArea(gray, width, x0, y0, bw, bh, tw, th);
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = digit[y * tw + x] as number;
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  const offX = Math.round(14 - (mass ? cx / mass : tw / 2) - 0.5);
  const offY = Math.round(14 - (mass ? cy / mass : th / 2) - 0.5);
  for (let y = 0; y < th; y++) {
    const oy = y + offY;
    if (oy < 0 || oy >= 28) continue;
    for (let x = 0; x < tw; x++) {
      const ox = x + offX;
      if (ox >= 0 && ox < 28) out[oy * 28 + ox] = digit[y * tw + x] as number;
    }
  }
  return out;
}
