// What both the predictors' input checks (input.ts) and the photo pipeline (extract.ts) speak
// of: the image shape they take, the error for one they cannot read, and how a bad value is
// described in that error.
import { LenetMnistError } from '../errors.js';

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
 * The mean of the pixels on the border of a `w`x`h` grayscale image (each corner counted twice):
 * paper more often than ink, so it tells which way the picture runs.
 */
export function borderMean(pixels: Uint8Array, w: number, h: number): number {
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
