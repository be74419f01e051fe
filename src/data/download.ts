/**
 * Fetching dataset files from mirrors, like torchvision's `download=True`: try each mirror in
 * turn, verify the SHA-256 of the decompressed file, and keep verified files in a cache.
 *
 * @module
 */

import { concatBytes } from '../platform/bytes.js';
import type { ByteCache } from '../platform/index.js';
import { platform } from '../platform/index.js';
import { type DownloadAttempt, DownloadError, IdxFormatError } from './errors.js';
import { DEFAULT_MAX_IDX_BYTES, gunzipIdx, isGzip } from './idx.js';

/**
 * The four files of an MNIST-style dataset, by role.
 *
 * @example
 * ```ts
 * const key: MnistFileKey = 'testLabels';
 * MNIST_FILES[key]; // 't10k-labels-idx1-ubyte'
 * ```
 */
export type MnistFileKey = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

/**
 * The standard (decompressed) file names of MNIST, by role. Mirrors serve them with `.gz`.
 *
 * @example
 * ```ts
 * MNIST_FILES.trainImages; // 'train-images-idx3-ubyte'
 * ```
 */
export const MNIST_FILES: Readonly<Record<MnistFileKey, string>> = Object.freeze({
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
});

/**
 * SHA-256 (lowercase hex) of each decompressed MNIST file, checked after every download and
 * every cache read.
 *
 * @example
 * ```ts
 * // Another dataset served under the same file names: pass its own hashes.
 * await loadMnist({ download: true, mirrors: [myMirror], sha256: { ...MNIST_SHA256, ...mine } });
 * ```
 */
export const MNIST_SHA256: Readonly<Record<MnistFileKey, string>> = Object.freeze({
  trainImages: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
  trainLabels: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
  testImages: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
  testLabels: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
});

/**
 * torchvision's MNIST mirrors, tried in this order. Each serves `<file name>.gz`.
 *
 * @example
 * ```ts
 * // Try a local mirror first, then the usual ones.
 * await loadMnist({ download: true, mirrors: ['http://intranet/mnist/', ...MNIST_MIRRORS] });
 * ```
 */
export const MNIST_MIRRORS: readonly string[] = Object.freeze([
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'http://yann.lecun.com/exdb/mnist/',
]);

/**
 * Default for `timeoutMs` (30 s): the longest wait for a response or for the next chunk of
 * its body before a mirror counts as failed.
 *
 * @example
 * ```ts
 * await loadMnist({ download: true, timeoutMs: 2 * DEFAULT_TIMEOUT_MS }); // a slow link
 * ```
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Default for `deadlineMs` (10 minutes): the longest a whole `loadMnist` download may take,
 * all files and mirrors together, however steadily the data arrives. MNIST's four files are
 * 11 MB compressed: 10 minutes allows a 20 KB/s link.
 *
 * @example
 * ```ts
 * await loadMnist({ download: true, deadlineMs: 60_000 }); // give up after a minute
 * ```
 */
export const DEFAULT_DEADLINE_MS = 600_000;

/**
 * A progress report while loading one dataset file.
 *
 * Network downloads report as chunks arrive (`loaded` and `total` count the bytes transferred,
 * usually the compressed size); files, cache entries and in-memory inputs report once, when
 * they have been read.
 *
 * @example
 * ```ts
 * await loadMnist({
 *   download: true,
 *   onProgress: ({ file, loaded, total, from }) =>
 *     console.log(`${file} (${from}): ${total ? Math.round((100 * loaded) / total) : loaded}`),
 * });
 * ```
 */
export interface LoadProgress {
  /** The standard file name, e.g. `train-images-idx3-ubyte`. */
  file: string;
  /** Bytes received so far. */
  loaded: number;
  /** Total bytes, when known (from `Content-Length` for downloads). */
  total?: number;
  /** Where the bytes come from. */
  from: 'network' | 'cache' | 'file' | 'memory';
}

/**
 * Lowercase hex SHA-256 of `bytes`, with Web Crypto (Node 20+ and browsers).
 *
 * @internal
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource));
  let out = '';
  for (const b of digest) out += b.toString(16).padStart(2, '0');
  return out;
}

/**
 * Options of {@link fetchBytes}.
 *
 * @internal
 */
export interface FetchBytesOptions {
  /** Cancels the request; the promise then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Longest wait for the response headers and for each body chunk. */
  timeoutMs?: number | undefined;
  /** Called with the bytes received so far and the total, when known. */
  onProgress?: ((loaded: number, total: number | undefined) => void) | undefined;
  /** The largest body accepted; a larger `Content-Length` is refused before reading. */
  maxBytes?: number | undefined;
  /** When the whole operation must be over (a {@link Deadline}). */
  deadline?: Deadline | undefined;
}

/**
 * An overall deadline shared by several requests: `at` is a `performance.now()` time.
 *
 * @internal
 */
export interface Deadline {
  readonly at: number;
  /** The `deadlineMs` it was made from, for messages. */
  readonly ms: number;
}

/**
 * A deadline `ms` from now.
 *
 * @internal
 */
export function deadlineIn(ms: number): Deadline {
  return { at: performance.now() + ms, ms };
}

function deadlineMessage(deadline: Deadline): string {
  return `deadline of ${deadline.ms} ms exceeded (deadlineMs)`;
}

/** A failure to tell apart from the user's abort. */
class FetchTimeout extends Error {}

/** Carries an exception thrown by the caller's `onProgress` past the per-mirror handling. */
class CallbackError {
  constructor(readonly error: unknown) {}
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici (Node's fetch) says only 'fetch failed'; the useful part is in `cause`.
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message && cause.message !== err.message) {
    return `${err.message} (${cause.message})`;
  }
  return err.message;
}

/**
 * GETs a URL with a stall timeout, abort support and progress. The timeout covers the wait
 * for the headers and the gap between body chunks, so a slow but steady download never times
 * out while a dead connection always does.
 *
 * @throws the signal's reason when aborted; an `Error` for HTTP errors (status and text),
 *   network errors, timeouts and bodies shorter than their `Content-Length`.
 *
 * @internal
 */
export async function fetchBytes(
  url: string,
  options: FetchBytesOptions = {},
): Promise<Uint8Array> {
  const {
    signal,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    onProgress,
    maxBytes = DEFAULT_MAX_IDX_BYTES,
    deadline,
  } = options;
  signal?.throwIfAborted();
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new FetchTimeout(`no data received for ${timeoutMs} ms (timeoutMs)`)),
      timeoutMs,
    );
  };
  try {
    if (deadline !== undefined) {
      const left = deadline.at - performance.now();
      if (left <= 0) throw new FetchTimeout(deadlineMessage(deadline));
      deadlineTimer = setTimeout(
        () => controller.abort(new FetchTimeout(deadlineMessage(deadline))),
        Math.min(left, 2 ** 31 - 1),
      );
    }
    arm();
    const res = await platform.fetch(url, { signal: controller.signal });
    if (!res.ok) {
      // Release the connection; the body of an error page is not needed.
      await res.body?.cancel().catch(() => {});
      throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    }
    const length = res.headers.get('content-length');
    // With a Content-Encoding, fetch decodes the body, so the header counts other bytes.
    const total =
      length !== null && !res.headers.get('content-encoding') ? Number(length) : undefined;
    if (total !== undefined && total > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new Error(
        `Content-Length ${length} is more than the ${maxBytes}-byte limit (maxBytes); not downloaded`,
      );
    }
    if (!res.body) {
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length > maxBytes) {
        throw new Error(`body is more than the ${maxBytes}-byte limit (maxBytes)`);
      }
      onProgress?.(bytes.length, total);
      return bytes;
    }
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    let complete = false;
    try {
      onProgress?.(0, total);
      for (;;) {
        arm();
        const { done, value } = await reader.read();
        if (done) break;
        loaded += value.length;
        if (loaded > maxBytes) {
          throw new Error(
            `body is more than the ${maxBytes}-byte limit (maxBytes); stopped after ${loaded} bytes`,
          );
        }
        chunks.push(value);
        onProgress?.(loaded, total);
      }
      complete = true;
    } finally {
      // On any failure, stop the transfer rather than leave the connection streaming.
      if (!complete) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
    if (total !== undefined && loaded < total) {
      throw new Error(`connection closed after ${loaded} of ${total} bytes`);
    }
    return concatBytes(chunks, loaded);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const reason = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof FetchTimeout) throw reason;
    throw err;
  } finally {
    clearTimeout(timer);
    clearTimeout(deadlineTimer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Options of {@link downloadVerified}.
 *
 * @internal
 */
export interface DownloadVerifiedOptions {
  /** Base URLs, tried in order; each must serve `<name>.gz` (or the raw file). */
  mirrors: readonly string[];
  /** Expected lowercase hex SHA-256 of the decompressed file. */
  sha256: string;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  onProgress?: ((p: LoadProgress) => void) | undefined;
  /** The largest body and decompressed file accepted. Default: `DEFAULT_MAX_IDX_BYTES`. */
  maxBytes?: number | undefined;
  /** When the whole download (all mirrors) must be over. */
  deadline?: Deadline | undefined;
}

/**
 * `<mirror>/<name>.gz`, whether or not the mirror ends with a slash.
 *
 * @internal
 */
export function mirrorUrl(mirror: string, name: string): string {
  return `${mirror.endsWith('/') ? mirror : `${mirror}/`}${name}.gz`;
}

/**
 * Downloads `<name>.gz` from the first mirror that serves it with the expected SHA-256
 * (checked on the decompressed bytes; a mirror serving the raw file is accepted too).
 *
 * @returns The decompressed, verified file.
 * @throws {@link DownloadError} listing every mirror tried and why it failed; the signal's
 *   reason when aborted (no further mirror is tried).
 *
 * @internal
 */
export async function downloadVerified(
  name: string,
  options: DownloadVerifiedOptions,
): Promise<Uint8Array> {
  const { mirrors, sha256, signal, timeoutMs, onProgress, maxBytes, deadline } = options;
  const attempts: DownloadAttempt[] = [];
  const report = (loaded: number, total: number | undefined) => {
    try {
      onProgress?.(
        total === undefined
          ? { file: name, loaded, from: 'network' }
          : { file: name, loaded, total, from: 'network' },
      );
    } catch (err) {
      throw new CallbackError(err);
    }
  };
  for (const mirror of mirrors) {
    const url = mirrorUrl(mirror, name);
    // Past the deadline no further mirror is tried (the failed attempt says why).
    if (deadline !== undefined && attempts.at(-1)?.reason === deadlineMessage(deadline)) break;
    try {
      const body = await fetchBytes(url, {
        signal,
        timeoutMs,
        onProgress: report,
        maxBytes,
        deadline,
      });
      let raw = body;
      if (isGzip(body)) {
        try {
          raw = await gunzipIdx(body, { maxBytes, signal });
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          // The IDX error without its 'IDX data: ' prefix: the attempt names the URL.
          throw new Error(
            err instanceof IdxFormatError ? err.message.replace(/^IDX data: /, '') : describe(err),
          );
        }
      }
      const digest = await sha256Hex(raw);
      if (digest !== sha256) {
        throw new Error(`SHA-256 mismatch: expected ${sha256}, got ${digest}`);
      }
      return raw;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // A throwing onProgress is the caller's error, not the mirror's.
      if (err instanceof CallbackError) throw err.error;
      attempts.push({ url, reason: describe(err) });
    }
  }
  throw new DownloadError(name, attempts);
}

/**
 * Reads a verified file from the cache: `undefined` when absent or when its SHA-256 does not
 * match (a truncated or stale entry is then downloaded again and overwritten).
 *
 * @internal
 */
export async function readVerifiedFromCache(
  cache: ByteCache,
  name: string,
  sha256: string,
): Promise<Uint8Array | undefined> {
  const bytes = await cache.get(name);
  if (bytes === undefined) return undefined;
  return (await sha256Hex(bytes)) === sha256 ? bytes : undefined;
}
