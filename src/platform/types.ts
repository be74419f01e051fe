/**
 * The small set of host services the library needs. `src/platform/node.ts` and
 * `src/platform/browser.ts` implement it; the build picks one through the `#platform`
 * import (package.json `imports`), so no other module knows which host it runs on.
 */
export interface Platform {
  /** `'node'` for Node, Deno and Bun (the Node build); `'browser'` for browsers and workers. */
  readonly name: 'node' | 'browser';
  /** Reads a whole file: a filesystem path or `file:` URL in Node, an `http(s):`/`blob:` URL anywhere. */
  readFile(path: string | URL): Promise<Uint8Array>;
  /**
   * Writes a file atomically (temporary file, then rename), creating parent folders, so an
   * interrupted write never destroys an existing file. Browsers have no filesystem and throw.
   */
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  /** Decompresses gzip data (Node: zlib; browsers: `DecompressionStream`). */
  gunzip(bytes: Uint8Array): Promise<Uint8Array>;
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

/** The parent's side of a worker started by {@link Platform.startWorker}. */
export interface WorkerHandle {
  post(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  /** Called for every message of the worker; one handler, a later call replaces it. */
  onMessage(handler: (message: unknown) => void): void;
  /** Called when the worker fails (an exception it did not catch, or it could not start). */
  onError(handler: (error: Error) => void): void;
  terminate(): Promise<void>;
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
