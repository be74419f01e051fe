/**
 * The small set of host services the library needs. `src/platform/node.ts` and
 * `src/platform/browser.ts` implement it; the build picks one through the `#platform`
 * import (package.json `imports`), so no other module knows which host it runs on.
 */
export interface Platform {
  /** `'node'` for Node, Deno and Bun (the Node build); `'browser'` for browsers and workers. */
  readonly name: 'node' | 'browser';
  /**
   * Reads a whole file: a filesystem path or `file:` URL in Node, an `http(s):`/`blob:` URL
   * anywhere. Honours `options.signal` at every step (opening, waiting for data, reading), also
   * for files that never deliver data (a FIFO without a writer), and refuses files larger than
   * `options.maxBytes` (regular files before reading them; streams and URLs as soon as they pass
   * the limit, or up front from `Content-Length`).
   */
  readFile(path: string | URL, options?: ReadFileOptions): Promise<Uint8Array>;
  /**
   * Writes a file atomically, creating parent folders: the bytes go to a temporary file with a
   * unique name next to `path`, which is flushed to disk (fsync) and then renamed over `path`,
   * so readers see the old file or the new one, never a part. Concurrent writes to one path all
   * succeed and the last rename wins. A failed write removes its temporary file. Browsers have
   * no filesystem and throw.
   */
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  /**
   * Decompresses gzip data (all members of a multi-member file) as a stream of chunks (Node:
   * zlib; browsers: `DecompressionStream`). Decompression runs only as fast as the chunks are
   * consumed: stopping the iteration (or aborting `signal`) stops it, so a caller that counts
   * the bytes can refuse a gzip bomb after inflating little more than its limit. Corrupt data
   * makes the iteration throw.
   */
  gunzipChunks(bytes: Uint8Array, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  /** The host's `fetch`. */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>;
  /** A persistent byte cache: a folder in Node, Cache Storage in browsers. */
  openCache(location?: string): Promise<ByteCache>;
  /**
   * Turns an asset URL made with `new URL(file, import.meta.url)` into what loaders on this
   * host take: a filesystem path in Node, the URL string in browsers.
   */
  assetLocation(url: URL): string;
  /**
   * The path of a file of an installed package, e.g. `'some-package/package.json'`, resolved
   * from the library's own location; `undefined` where it is not installed or the host has no
   * packages (browsers).
   */
  findPackageFile(specifier: string): string | undefined;
  /**
   * Makes `navigator.gpu` exist if this host can have it, before tfjs-backend-webgpu is imported
   * (that module registers its backend only if `navigator.gpu` exists at import time).
   * Browsers: reports whether the browser exposes it. Node, Deno, Bun: keeps a `navigator.gpu`
   * the runtime or the app already provides (Deno has one), else loads the optional peer
   * dependency `webgpu` (Dawn) and installs its classes, constants and `navigator.gpu`.
   * Never throws; a second call after a failure answers the same failure without retrying.
   */
  provideNavigatorGpu(): Promise<NavigatorGpuResult>;
  /**
   * Removes the globals {@link Platform.provideNavigatorGpu} installed (Node: `navigator.gpu`,
   * Node 20's minimal `navigator`, Dawn's `GPU*` constants), leaving the host's global object as
   * it was; a later `provideNavigatorGpu` installs them again. Called when WebGPU is not (or no
   * longer) used. Globals the runtime or the app defined are never touched.
   */
  withdrawNavigatorGpu(): void;
  /**
   * Starts a worker thread (Node: `worker_threads`; browsers: a `Worker` from a blob URL) that
   * runs `source`: the text of a self-contained JavaScript function expression
   * `(post, listen) => { ... }`, called in the worker with `post(message, transfer?)` to answer
   * and `listen(handler)` to receive. Inline source needs no separate file, so bundles need no
   * extra entry. In Node the worker keeps the process alive only while a reply is awaited
   * (a message was posted to it and it has not answered).
   */
  startWorker(source: string): WorkerHandle;
  /**
   * Resolves after the host has run its pending tasks (timers, I/O, messages, UI events), as
   * cheaply as the host allows: `setImmediate` in Node, a `MessageChannel` message in browsers
   * (a zero `setTimeout` is clamped to 4 ms there). Long computations await it now and then.
   */
  yieldToEventLoop(): Promise<void>;
}

/** Options of {@link Platform.readFile}. */
export interface ReadFileOptions {
  /** Cancels the read; the promise then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /**
   * Largest file accepted, in bytes; a larger one rejects with a {@link FileTooLargeError}.
   * Default: no limit.
   */
  maxBytes?: number | undefined;
  /**
   * Refuse anything but a regular file (a FIFO, a socket, a device) with a
   * {@link NotRegularFileError}. Default `false`: FIFOs and sockets are read as streams (devices
   * are always refused).
   */
  regularOnly?: boolean | undefined;
  /**
   * Checks the file from its first `bytes` bytes (fewer if the file is shorter) and its size
   * (when known) before the rest is read: `check` throws the caller's error to stop the read.
   * A local regular file is checked before the rest is read; a stream or a URL once its first
   * bytes (or all of it) have arrived.
   */
  head?: { bytes: number; check(head: Uint8Array, size: number | undefined): void } | undefined;
}

/**
 * A path names something other than a file that can be read: a device (`/dev/zero`), or, where
 * {@link ReadFileOptions.regularOnly} asks for it, a FIFO or a socket. Thrown by `readFile`;
 * callers turn it into their own library error.
 */
export class NotRegularFileError extends Error {
  constructor(
    readonly location: string,
    readonly kind: string,
  ) {
    super(`'${location}' is ${kind}, not a regular file: refused`);
    this.name = 'NotRegularFileError';
  }
}

/**
 * A file or response is larger than the `maxBytes` its reader allows. Thrown by the platform's
 * `readFile`; callers turn it into their own library error.
 */
export class FileTooLargeError extends Error {
  constructor(
    readonly location: string,
    readonly size: number | undefined,
    readonly maxBytes: number,
  ) {
    super(
      `'${location}' is ${size === undefined ? 'larger than' : `${size} bytes, more than`} the ${maxBytes}-byte limit (maxBytes)`,
    );
    this.name = 'FileTooLargeError';
  }
}

/** The parent's side of a worker started by {@link Platform.startWorker}. */
export interface WorkerHandle {
  post(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  /** Called for every message of the worker; one handler, a later call replaces it. */
  onMessage(handler: (message: unknown) => void): void;
  /** Called when the worker fails (an exception it did not catch, or it could not start). */
  onError(handler: (error: Error) => void): void;
  terminate(): Promise<void>;
}

/**
 * A {@link WorkerHandle} around a host's worker: `post` and `terminate` as given, the handlers
 * set through it called by the host's listeners through `message` and `error`.
 */
export function workerHandle(
  post: WorkerHandle['post'],
  terminate: WorkerHandle['terminate'],
): { handle: WorkerHandle; message(message: unknown): void; error(error: Error): void } {
  let onMessage: (message: unknown) => void = () => {};
  let onError: (error: Error) => void = () => {};
  return {
    handle: {
      post,
      onMessage(handler) {
        onMessage = handler;
      },
      onError(handler) {
        onError = handler;
      },
      terminate,
    },
    message: (message) => onMessage(message),
    error: (error) => onError(error),
  };
}

/** What {@link Platform.provideNavigatorGpu} achieved. */
export type NavigatorGpuResult =
  | {
      readonly ok: true /** Where `navigator.gpu` comes from, for messages. */;
      readonly source: string;
    }
  | {
      readonly ok: false /** Why there is no `navigator.gpu`, for messages. */;
      readonly reason: string;
    };

/** A persistent key -> bytes store used for downloaded datasets. */
export interface ByteCache {
  /** Where the cache lives (a folder path or a Cache Storage name), for messages. */
  readonly location: string;
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}
