import { fetchLimited } from './bytes.js';
import type { ByteCache, Platform, WorkerHandle } from './types.js';

/**
 * `DecompressionStream('gzip')`, read chunk by chunk: the stream inflates only as far as it is
 * read (backpressure), and stopping the iteration cancels it.
 */
async function* gunzipChunks(bytes: Uint8Array, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  signal?.throwIfAborted();
  const stream = new Blob([bytes as BlobPart])
    .stream()
    .pipeThrough(new DecompressionStream('gzip'), signal ? { signal } : {});
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * A dedicated `Worker` running `source` (see `Platform.startWorker`) from a blob URL, so no
 * worker file has to be served; a Content-Security-Policy must then allow `worker-src blob:`.
 */
function startWorker(source: string): WorkerHandle {
  const code = `(${source})(
  (message, transfer) => self.postMessage(message, transfer || []),
  (handler) => self.addEventListener('message', (event) => handler(event.data)),
);`;
  const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
  const worker = new Worker(url);
  let onMessage: (message: unknown) => void = () => {};
  let onError: (error: Error) => void = () => {};
  worker.addEventListener('message', (event) => onMessage(event.data));
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    onError(new Error(event.message || 'worker failed to start or threw'));
  });
  return {
    post(message, transfer = []) {
      worker.postMessage(message, transfer as ArrayBuffer[]);
    },
    onMessage(handler) {
      onMessage = handler;
    },
    onError(handler) {
      onError = handler;
    },
    async terminate() {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

/** Browsers and web workers: only web APIs. */
export const platform: Platform = {
  name: 'browser',
  readFile: fetchLimited,
  async writeFile(path) {
    throw new Error(
      `Cannot write '${path}': browsers have no filesystem. Use the bytes from model.save() instead.`,
    );
  },
  gunzipChunks,
  fetch: (input, init) => fetch(input, init),
  async openCache(location = 'lenet-mnist') {
    const storage = await caches.open(location);
    // Cache Storage keys must be URLs; a fixed synthetic origin keeps them apart from real ones.
    const keyUrl = (key: string) => `https://lenet-mnist.cache/${encodeURIComponent(key)}`;
    const cache: ByteCache = {
      location,
      async get(key) {
        const res = await storage.match(keyUrl(key));
        return res ? new Uint8Array(await res.arrayBuffer()) : undefined;
      },
      async put(key, bytes) {
        await storage.put(keyUrl(key), new Response(bytes as BlobPart));
      },
    };
    return cache;
  },
  assetLocation: (url) => url.href,
  findPackageFile: () => undefined,
  async provideNavigatorGpu() {
    const g = globalThis as { navigator?: { gpu?: unknown }; isSecureContext?: boolean };
    if (g.navigator?.gpu != null) return { ok: true, source: 'the browser' };
    return {
      ok: false,
      reason:
        g.isSecureContext === false
          ? 'no navigator.gpu: WebGPU exists only in secure contexts (https: or localhost), and this page is not one'
          : 'no navigator.gpu: this browser has no WebGPU, or it is disabled (Chromium on Linux needs --enable-unsafe-webgpu; Firefox and Safari enable it per platform)',
    };
  },
  startWorker,
  yieldToEventLoop,
};

/** One channel for every yield: a message is a task, run without a timer's 4 ms clamp. */
let yieldChannel: MessageChannel | undefined;
const yieldWaiters: (() => void)[] = [];

function yieldToEventLoop(): Promise<void> {
  if (typeof MessageChannel !== 'function') return new Promise((resolve) => setTimeout(resolve, 0));
  if (yieldChannel === undefined) {
    yieldChannel = new MessageChannel();
    yieldChannel.port1.onmessage = () => yieldWaiters.shift()?.();
  }
  const channel = yieldChannel;
  return new Promise((resolve) => {
    yieldWaiters.push(resolve);
    channel.port2.postMessage(undefined);
  });
}
