/**
 * Argument checks shared by the data layer: each throws the library's own error (an
 * {@link OptionError} for options and arguments, a {@link DatasetError} for an unusable set)
 * before any work or allocation.
 *
 * @module
 * @internal
 */
import { OptionError } from '../errors.js';
import { checkObject, describeValue } from '../options.js';
import { DatasetError } from './errors.js';

export { checkBoolean, checkFinite, checkInt, describeValue } from '../options.js';

/** `options` must be an object (not null or an array). */
export function checkOptions(fn: string, options: unknown, name = 'options'): void {
  checkObject(fn, name, options);
}

/** A `Uint8Array` (a `Uint8ClampedArray` too, when `clamped`). */
export function checkBytes(fn: string, name: string, value: unknown, clamped = false): void {
  if (!(value instanceof Uint8Array || (clamped && value instanceof Uint8ClampedArray))) {
    throw new OptionError(
      name,
      `${fn}: ${name} must be a Uint8Array${clamped ? ' or Uint8ClampedArray' : ''}, got ${describeValue(value)}`,
    );
  }
}

/** The most pixels one typed array may hold here (V8's limit on 64-bit hosts is 2^32 - 1). */
export const MAX_ELEMENTS = 2 ** 32 - 1;

/**
 * An {@link ImageSet} (or {@link PreparedSet}) whose fields agree: `count` a non-negative
 * integer, `height`/`width` positive integers, `images` a `Uint8Array` of at least `count *
 * height * width` pixels, `labels` a `Uint8Array` of at least `count` labels (a longer array
 * serves its first `count` samples); with `prepared`, `mean` finite and `std` above 0.
 */
export function checkImageSet(fn: string, set: unknown, prepared = false): void {
  const bad = (what: string): never => {
    throw new DatasetError(`${fn}: the set is unusable: ${what}`);
  };
  if (typeof set !== 'object' || set === null)
    bad(`expected an image set, got ${describeValue(set)}`);
  const s = set as Record<string, unknown>;
  const { count, height, width, images, labels } = s;
  if (!Number.isSafeInteger(count) || (count as number) < 0) {
    bad(`count must be a non-negative integer, got ${describeValue(count)}`);
  }
  for (const [name, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      bad(`${name} must be a positive integer, got ${describeValue(v)}`);
    }
  }
  const pixels = (count as number) * (height as number) * (width as number);
  if (!(images instanceof Uint8Array) || images.length < pixels) {
    bad(
      `images must be a Uint8Array of at least count x height x width = ${count} x ${height} x ${width} = ${pixels} pixels, got ${describeValue(images)}${images instanceof Uint8Array ? ` of ${images.length}` : ''}`,
    );
  }
  if (!(labels instanceof Uint8Array) || labels.length < (count as number)) {
    bad(
      `labels must be a Uint8Array of at least ${count} labels, got ${describeValue(labels)}${labels instanceof Uint8Array ? ` of ${labels.length}` : ''}`,
    );
  }
  if (prepared) {
    if (typeof s.mean !== 'number' || !Number.isFinite(s.mean)) {
      bad(`mean must be a finite number, got ${describeValue(s.mean)}`);
    }
    if (typeof s.std !== 'number' || !Number.isFinite(s.std) || s.std <= 0) {
      bad(`std must be a finite number above 0, got ${describeValue(s.std)}`);
    }
  }
}
