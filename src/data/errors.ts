import { LenetMnistError } from '../errors.js';

/**
 * Where and why an IDX file was rejected; the fields that apply are set, the others `undefined`.
 *
 * @example
 * ```ts
 * throw new IdxFormatError('bad magic', { source: 'a.idx', offset: 0, expected: '0x00 0x00', found: '0x1f 0x8b' });
 * ```
 */
export interface IdxFormatErrorDetails {
  /** The file name or URL given as `source`, if any. */
  source?: string | undefined;
  /** Byte offset in the (decompressed) file where the problem was found. */
  offset?: number | undefined;
  /** What the format requires at `offset`. */
  expected?: string | undefined;
  /** What the file holds there instead. */
  found?: string | undefined;
}

/**
 * An IDX file is malformed: bad magic bytes, unknown type code, no dimensions, a truncated
 * header, a payload whose size does not match the declared shape, or corrupt gzip data.
 *
 * The message names the file (when a `source` was given), the byte offset, and what was
 * expected versus found; the same facts are available as fields.
 *
 * @example
 * ```ts
 * try {
 *   parseIdx(bytes, { source: 'train-images-idx3-ubyte' });
 * } catch (err) {
 *   if (err instanceof IdxFormatError) console.error(err.offset, err.expected, err.found);
 *   throw err;
 * }
 * ```
 */
export class IdxFormatError extends LenetMnistError {
  /** The file name or URL given as `source`, if any. */
  readonly source: string | undefined;
  /** Byte offset where the problem was found, when it has one. */
  readonly offset: number | undefined;
  /** What the format requires. */
  readonly expected: string | undefined;
  /** What the file holds instead. */
  readonly found: string | undefined;

  constructor(message: string, details: IdxFormatErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.source = details.source;
    this.offset = details.offset;
    this.expected = details.expected;
    this.found = details.found;
  }
}

/**
 * Which record of a dataset was rejected; the fields that apply are set.
 *
 * @example
 * ```ts
 * throw new DatasetError('label 12 at index 7 is out of range', { source: 'labels', index: 7, value: 12 });
 * ```
 */
export interface DatasetErrorDetails {
  /** The file (or files) the dataset came from, if known. */
  source?: string | undefined;
  /** Index of the offending record (e.g. the label), when there is one. */
  index?: number | undefined;
  /** The offending value, when there is one. */
  value?: number | undefined;
}

/**
 * A dataset cannot be used: its files are missing, image and label files disagree (counts,
 * types, shapes), a label is out of range, or no data source is configured. The message says
 * what was found and how to fix it.
 *
 * @example
 * ```ts
 * try {
 *   await loadMnist({ dir: './data' });
 * } catch (err) {
 *   if (err instanceof DatasetError) console.error(err.message); // says how to get the files
 *   throw err;
 * }
 * ```
 */
export class DatasetError extends LenetMnistError {
  /** The file (or files) the dataset came from, if known. */
  readonly source: string | undefined;
  /** Index of the offending record, when there is one. */
  readonly index: number | undefined;
  /** The offending value, when there is one. */
  readonly value: number | undefined;

  constructor(message: string, details: DatasetErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.source = details.source;
    this.index = details.index;
    this.value = details.value;
  }
}

/**
 * One failed try to fetch a file from one mirror.
 *
 * @example
 * ```ts
 * const a: DownloadAttempt = { url: 'http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz', reason: 'HTTP 403 Forbidden' };
 * ```
 */
export interface DownloadAttempt {
  /** The URL that was requested. */
  readonly url: string;
  /** Why it failed: HTTP status, network error, timeout, bad gzip data or SHA-256 mismatch. */
  readonly reason: string;
}

/**
 * A dataset file could not be fetched from any mirror. `attempts` lists every URL tried, in
 * order, with the reason it failed; the message lists them too.
 *
 * It extends {@link DatasetError}, so one `instanceof DatasetError` check covers every dataset
 * problem.
 *
 * @example
 * ```ts
 * try {
 *   await loadMnist({ download: true });
 * } catch (err) {
 *   if (err instanceof DownloadError) for (const a of err.attempts) console.error(a.url, a.reason);
 *   throw err;
 * }
 * ```
 */
export class DownloadError extends DatasetError {
  /** The file that could not be fetched, e.g. `train-images-idx3-ubyte`. */
  readonly file: string;
  /** Every URL tried, in order, with the reason it failed. */
  readonly attempts: readonly DownloadAttempt[];

  constructor(file: string, attempts: readonly DownloadAttempt[], options?: ErrorOptions) {
    const lines = attempts.map((a) => `\n  - ${a.url}: ${a.reason}`).join('');
    const tried = attempts.length === 0 ? ' (no mirrors were given)' : `; tried:${lines}`;
    super(`Could not download '${file}' from any mirror${tried}`, { source: file }, options);
    this.file = file;
    this.attempts = attempts;
  }
}
