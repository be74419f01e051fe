/**
 * The one vocabulary every options object of the library (and the CLI) is checked with: each
 * options type lists its valid keys once ({@link optionKeys}, checked at compile time against
 * the type), unknown keys are an {@link OptionError} naming the closest valid key, and every
 * message renders the value it found the same way ({@link describeValue}: `got the string "1"`).
 * It sits at the bottom of the layering (it imports only the error classes), so data, model,
 * backend, engine, train, predict and cli code all use it.
 *
 * @module
 * @internal
 */
import { OptionError } from './errors.js';

/**
 * The value an error message says it found: numbers, `true`/`false`, `null` and `undefined` as
 * written; every other type named, so that `'1'` cannot pass for `1`: `the string "1"`,
 * `an array of 3 items`, `a Float32Array of 10 elements`, `an object (Map)`, `a function`.
 */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') {
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) {
    return String(v);
  }
  if (typeof v === 'bigint') return `the bigint ${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (ArrayBuffer.isView(v)) {
    const kind = Object.prototype.toString.call(v).slice(8, -1);
    const n = (v as { length?: unknown }).length;
    return typeof n === 'number' ? `a ${kind} of ${n} elements` : `a ${kind}`;
  }
  if (Array.isArray(v)) return `an array of ${v.length} item${v.length === 1 ? '' : 's'}`;
  if (typeof v !== 'object') return typeof v;
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return 'an object';
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return `an object (${typeof name === 'string' && name !== '' ? name : 'no class'})`;
}

/** `fn: ` before a message, or nothing when there is no function name. */
const at = (fn: string): string => (fn === '' ? '' : `${fn}: `);

/**
 * Edit distance with adjacent transpositions (optimal string alignment), case-insensitive:
 * `batchsize` is 0 from `batchSize`, `titel` 1 from `title`.
 */
function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let before: number[] = [];
  let row = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const next = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min(
        (row[j] as number) + 1,
        (next[j - 1] as number) + 1,
        (row[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        d = Math.min(d, (before[j - 2] as number) + 1);
      }
      next[j] = d;
    }
    before = row;
    row = next;
  }
  return row[t.length] as number;
}

/**
 * The candidate closest to `name` by edit distance, if close enough to be a likely typo (at most
 * a third of the longer name's letters differ, and at least 1 is allowed), or one of which
 * `name` is a prefix of at least 3 letters (`limit` for `limitBatches`). `undefined` otherwise.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best !== undefined) {
    const allowed = Math.max(1, Math.floor(Math.max(name.length, best.length) / 3));
    if (bestDistance <= allowed) return best;
  }
  if (name.length >= 3) {
    const lower = name.toLowerCase();
    return candidates.find((c) => c.toLowerCase().startsWith(lower));
  }
  return undefined;
}

/** The keys of `T` that `K` leaves out: `never` when the list is complete. */
export type MissingKeys<T, K extends readonly PropertyKey[]> = Exclude<keyof T, K[number]>;

/**
 * The valid keys of an options type, written once and checked by the compiler both ways: a
 * listed key that `T` lacks, and a key of `T` left out, are type errors (the latter reports
 * `{ missing: 'theKey' }`). So a new option cannot be added to a type and forgotten here.
 *
 * ```ts
 * const TRAIN_KEYS = optionKeys<TrainOptions>()(['epochs', 'batchSize', ...]);
 * ```
 */
export function optionKeys<T>() {
  return <const K extends readonly (keyof T & string)[]>(
    keys: K & ([MissingKeys<T, K>] extends [never] ? unknown : { missing: MissingKeys<T, K> }),
  ): K => keys;
}

/**
 * `options` must be an object (not `null`, an array or a primitive); then every own key with a
 * value other than `undefined` must be one of `keys`. An unknown key is an {@link OptionError} naming it and the closest valid key,
 * or listing the valid keys when none is close: `train: unknown option "limt" (did you mean
 * "limit"?)`. `path` prefixes nested options' keys (`augment.` gives `"augment.rotaton"`).
 */
export function checkOptionKeys(
  fn: string,
  options: unknown,
  keys: readonly string[],
  path = '',
): void {
  const name = path === '' ? 'options' : path.replace(/\.$/, '');
  checkObject(fn, name, options);
  for (const [key, value] of Object.entries(options as object)) {
    // A key set to `undefined` asks for nothing (`{ ...settings, size: undefined }` clears one),
    // so only keys with a value can be a lost intent.
    if (keys.includes(key) || value === undefined) continue;
    const near = closestName(key, keys);
    const hint =
      near !== undefined
        ? `did you mean "${path}${near}"?`
        : `valid options: ${keys.map((k) => `${path}${k}`).join(', ')}`;
    throw new OptionError(`${path}${key}`, `${at(fn)}unknown option "${path}${key}" (${hint})`);
  }
}

/** `value` must be an object: not `null`, an array or a primitive. */
export function checkObject(fn: string, name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OptionError(name, `${at(fn)}${name} must be an object, got ${describeValue(value)}`);
  }
}

/** The rule an integer range states: `an integer >= 1`, `an integer from 1 to 256`. */
export function integerRule(min: number, max = Number.POSITIVE_INFINITY): string {
  return max === Number.POSITIVE_INFINITY
    ? `an integer >= ${min}`
    : `an integer from ${min} to ${max}`;
}

/** An integer from `min` to `max` (inclusive); `undefined` passes when `optional`. */
export function checkInt(
  fn: string,
  name: string,
  value: unknown,
  min: number,
  max = Number.POSITIVE_INFINITY,
  optional = false,
): void {
  if (optional && value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new OptionError(
      name,
      `${at(fn)}${name} must be ${integerRule(min, max)}, got ${describeValue(value)}`,
    );
  }
}

/** Bounds of {@link checkNumber}: each inclusive unless `...Exclusive`. */
export interface NumberBounds {
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

/** The rule a number range states: `a finite number > 0`, `a number in [0, 1)`. */
export function numberRule(bounds: NumberBounds = {}): string {
  const { min, max, minExclusive = false, maxExclusive = false } = bounds;
  if (min !== undefined && max !== undefined) {
    return `a number in ${minExclusive ? '(' : '['}${min}, ${max}${maxExclusive ? ')' : ']'}`;
  }
  if (min !== undefined) return `a finite number ${minExclusive ? '>' : '>='} ${min}`;
  if (max !== undefined) return `a finite number ${maxExclusive ? '<' : '<='} ${max}`;
  return 'a finite number';
}

/** A finite number within `bounds`; `undefined` passes when `optional`. */
export function checkNumber(
  fn: string,
  name: string,
  value: unknown,
  bounds: NumberBounds = {},
  optional = false,
): void {
  if (optional && value === undefined) return;
  const { min, max, minExclusive = false, maxExclusive = false } = bounds;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (min === undefined || (minExclusive ? value > min : value >= min)) &&
    (max === undefined || (maxExclusive ? value < max : value <= max));
  if (!ok) {
    throw new OptionError(
      name,
      `${at(fn)}${name} must be ${numberRule(bounds)}, got ${describeValue(value)}`,
    );
  }
}

/** A finite number; `undefined` passes when `optional`. */
export function checkFinite(fn: string, name: string, value: unknown, optional = false): void {
  checkNumber(fn, name, value, {}, optional);
}

/** `true`, `false` or (when optional, the default) `undefined`. */
export function checkBoolean(fn: string, name: string, value: unknown, optional = true): void {
  if (optional && value === undefined) return;
  if (typeof value !== 'boolean') {
    throw new OptionError(
      name,
      `${at(fn)}${name} must be true or false, got ${describeValue(value)}`,
    );
  }
}

/** A function or (when optional, the default) `undefined`. */
export function checkFunction(fn: string, name: string, value: unknown, optional = true): void {
  if (optional && value === undefined) return;
  if (typeof value !== 'function') {
    throw new OptionError(name, `${at(fn)}${name} must be a function, got ${describeValue(value)}`);
  }
}

/** A string or (when optional, the default) `undefined`. */
export function checkString(fn: string, name: string, value: unknown, optional = true): void {
  if (optional && value === undefined) return;
  if (typeof value !== 'string') {
    throw new OptionError(name, `${at(fn)}${name} must be a string, got ${describeValue(value)}`);
  }
}

/** An AbortSignal or (when optional, the default) `undefined`. */
export function checkSignal(fn: string, name: string, value: unknown, optional = true): void {
  if (optional && value === undefined) return;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as { aborted?: unknown }).aborted !== 'boolean' ||
    typeof (value as { addEventListener?: unknown }).addEventListener !== 'function'
  ) {
    throw new OptionError(
      name,
      `${at(fn)}${name} must be an AbortSignal, got ${describeValue(value)}`,
    );
  }
}

/** One of `choices`; `undefined` passes when `optional` (the default). Names the closest. */
export function checkChoice<T extends string>(
  fn: string,
  name: string,
  value: unknown,
  choices: readonly T[],
  optional = true,
): asserts value is T | undefined {
  if (optional && value === undefined) return;
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return;
  const near = typeof value === 'string' ? closestName(value, choices) : undefined;
  throw new OptionError(
    name,
    `${at(fn)}${name} must be ${choiceRule(choices)}, got ${describeValue(value)}${near !== undefined ? ` (did you mean "${near}"?)` : ''}`,
  );
}

/** `"a", "b" or "c"`. */
export function choiceRule(choices: readonly string[]): string {
  const quoted = choices.map((c) => JSON.stringify(c));
  return quoted.length <= 1
    ? (quoted[0] ?? 'nothing')
    : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}
