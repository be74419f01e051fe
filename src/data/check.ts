/**
 * Argument checks shared by the data layer: each throws the library's own error (an
 * {@link OptionError} for options and arguments, a {@link DatasetError} for an unusable set)
 * before any work or allocation.
 *
 * @module
 * @internal
 */
import { OptionError } from '../errors.js';
import { DatasetError } from './errors.js';

/** A short description of a value for error messages. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) {
    return String(v);
  }
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (ArrayBuffer.isView(v)) return `a ${Object.prototype.toString.call(v).slice(8, -1)}`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v !== 'object') return typeof v;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return `an object (${typeof name === 'string' ? name : 'no class'})`;
}

/** `options` must be an object (not null or an array). */
export function checkOptions(fn: string, options: unknown, name = 'options'): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError(name, `${fn}: ${name} must be an object, got ${describeValue(options)}`);
  }
}

/** An integer from `min` to `max` (inclusive); `undefined` passes when `optional`. */
export function checkInt(
  fn: string,
  name: string,
  value: unknown,
  min: number,
  max: number,
  optional = false,
): void {
  if (optional && value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new OptionError(
      name,
      `${fn}: ${name} must be an integer from ${min} to ${max}, got ${describeValue(value)}`,
    );
  }
}

/** `true`, `false` or (when optional) `undefined`. */
export function checkBoolean(fn: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new OptionError(
      name,
      `${fn}: ${name} must be true or false, got ${describeValue(value)}`,
    );
  }
}

/** A finite number; `undefined` passes when `optional`. */
export function checkFinite(fn: string, name: string, value: unknown, optional = false): void {
  if (optional && value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new OptionError(
      name,
      `${fn}: ${name} must be a finite number, got ${describeValue(value)}`,
    );
  }
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
