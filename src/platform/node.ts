import { randomBytes } from 'node:crypto';
import {
  close as fsClose,
  constants as fsConstants,
  fstat as fsFstat,
  open as fsOpen,
  read as fsRead,
} from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { createGunzip } from 'node:zlib';
import { permissionErrorOf } from '../errors.js';
import { checkHead, concatBytes, fetchLimited } from './bytes.js';
import {
  type ByteCache,
  FileTooLargeError,
  type NavigatorGpuResult,
  NotRegularFileError,
  type Platform,
  type ReadFileOptions,
  type WorkerHandle,
  workerHandle,
} from './types.js';
import { vulkanUnavailable } from './vulkan.js';

const openFd = promisify(fsOpen);
const fstatFd = promisify(fsFstat);
const closeFd = promisify(fsClose);
const readFd = promisify(fsRead);

function toPath(path: string | URL): string {
  if (path instanceof URL) return fileURLToPath(path);
  return path.startsWith('file:') ? fileURLToPath(path) : path;
}

function isRemote(path: string | URL): boolean {
  const s = String(path);
  return /^(https?|blob|data):/.test(s);
}

/**
 * Temporary file, fsync, rename. The temporary name is unique per call (pid plus 64 random
 * bits), so concurrent writes to one path never share or steal each other's file; each rename
 * is atomic, so the last one wins and readers never see a partial file. On any failure the
 * temporary file is removed. The folder is fsynced too (where the OS allows it), so the rename
 * itself survives a crash.
 */
async function atomicWrite(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(8).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Windows cannot open folders, and some filesystems refuse fsync on them: best effort.
  } finally {
    await fh?.close().catch(() => {});
  }
}

/**
 * Reads a local file. It is opened non-blocking, so opening a FIFO without a writer returns at
 * once; regular files are checked against `maxBytes` before reading and read with the signal;
 * anything else (a FIFO, a character device) is read as a stream that the signal destroys.
 */
async function readLocal(path: string, options: ReadFileOptions): Promise<Uint8Array> {
  const { signal, maxBytes = Number.POSITIVE_INFINITY } = options;
  signal?.throwIfAborted();
  const fd = await openFd(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  let owned = true;
  try {
    const stat = await fstatFd(fd);
    if (stat.isFile()) {
      if (stat.size > maxBytes) throw new FileTooLargeError(path, stat.size, maxBytes);
      if (options.head !== undefined) {
        // The caller checks the first bytes (magic, declared sizes) before the rest is read.
        const head = new Uint8Array(Math.min(options.head.bytes, stat.size));
        let got = 0;
        while (got < head.length) {
          const { bytesRead } = await readFd(fd, head, got, head.length - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        options.head.check(head.subarray(0, got), stat.size);
      }
      const buf = await readFile(path, signal ? { signal } : {});
      if (buf.length > maxBytes) throw new FileTooLargeError(path, buf.length, maxBytes);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    if (stat.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), {
        code: 'EISDIR',
      });
    }
    const streamable = stat.isFIFO() || stat.isSocket();
    if (!streamable || options.regularOnly) {
      throw new NotRegularFileError(path, fileKind(stat));
    }
    owned = false; // the socket closes the descriptor
    return await readStream(new Socket({ fd, readable: true, writable: false }), path, options);
  } finally {
    if (owned) await closeFd(fd).catch(() => {});
  }
}

function fileKind(stat: {
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a file';
}

function readStream(socket: Socket, path: string, options: ReadFileOptions): Promise<Uint8Array> {
  const { signal, maxBytes = Number.POSITIVE_INFINITY } = options;
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const finish = (err: unknown, value?: Uint8Array) => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err === undefined) resolve(value as Uint8Array);
      else reject(err);
    };
    const onAbort = () => finish(signal?.reason);
    if (signal?.aborted) return finish(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let headChecked = options.head === undefined;
    socket.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) return finish(new FileTooLargeError(path, undefined, maxBytes));
      chunks.push(chunk);
      if (!headChecked && total >= (options.head?.bytes ?? 0)) {
        headChecked = true;
        try {
          checkHead(options, chunks, total, undefined, true);
        } catch (err) {
          finish(err);
        }
      }
    });
    socket.on('end', () => {
      try {
        if (!headChecked) checkHead(options, chunks, total, total, true);
      } catch (err) {
        return finish(err);
      }
      finish(undefined, concatBytes(chunks, total));
    });
    socket.on('end', () => finish(undefined, concatBytes(chunks, total)));
    socket.on('error', (err) => finish(err));
  });
}

/** zlib's streaming gunzip: inflates only as fast as the chunks are consumed. */
async function* gunzipChunks(bytes: Uint8Array, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  signal?.throwIfAborted();
  const gz = createGunzip();
  if (signal) addAbortSignal(signal, gz);
  gz.end(bytes);
  try {
    for await (const chunk of gz as AsyncIterable<Buffer>) {
      yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  } finally {
    gz.destroy();
  }
}

/** The part of the `webgpu` package (Dawn for Node) this module uses. */
interface DawnModule {
  create(flags: string[]): unknown;
  globals: Record<string, unknown>;
}

let dawnFailure: NavigatorGpuResult | undefined;
/** Dawn's GPU object, created once per process (its native instance is reused). */
let dawnGpu: { dawn: DawnModule; gpu: unknown } | undefined;
/** The global names (and `navigator.gpu`) installed here, to be removed by withdrawNavigatorGpu. */
const installed: {
  names: Map<string, unknown>;
  navigator: object | undefined;
  gpu: unknown;
} = { names: new Map(), navigator: undefined, gpu: undefined };

/**
 * Installs Dawn's `navigator.gpu` unless the runtime already has one. `webgpu` is an optional
 * peer dependency, kept external by the build, so it is loaded only here and only on demand.
 */
async function provideNavigatorGpu(): Promise<NavigatorGpuResult> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  // Deno ships WebGPU, and an app (or a test) may have installed its own: use it as is.
  if (g.navigator?.gpu != null) {
    // Dawn's own GPU object, put back by someone after a withdrawal: its constants go with it.
    if (dawnGpu !== undefined && g.navigator.gpu === dawnGpu.gpu) {
      return install(dawnGpu.dawn, dawnGpu.gpu);
    }
    return { ok: true, source: 'the runtime' };
  }
  // The native addon is loaded once per process; a failure will not fix itself.
  if (dawnFailure !== undefined) return dawnFailure;
  if (dawnGpu !== undefined) return install(dawnGpu.dawn, dawnGpu.gpu);
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
  // Before Dawn starts: on a Linux host without Vulkan it would only print native warnings.
  const noVulkan = vulkanUnavailable();
  if (noVulkan !== undefined) {
    dawnFailure = { ok: false, reason: `no usable GPU adapter: ${noVulkan}` };
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
  dawnGpu = { dawn, gpu };
  return install(dawn, gpu);
}

/**
 * Puts Dawn's `navigator.gpu` and constants on the global object, recording what was added.
 * tfjs-backend-webgpu reads GPUBufferUsage, GPUMapMode, GPUTextureUsage... as globals while it
 * runs. Never overwrites what the runtime defines itself.
 */
function install(dawn: DawnModule, gpu: unknown): NavigatorGpuResult {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
      installed.names.set(name, value);
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
    installed.navigator = g.navigator;
  }
  Object.defineProperty(g.navigator as object, 'gpu', {
    value: gpu,
    writable: true,
    configurable: true,
  });
  installed.gpu = gpu;
  return { ok: true, source: "the 'webgpu' package (Dawn)" };
}

function withdrawNavigatorGpu(): void {
  const g = globalThis as Record<string, unknown> & { navigator?: { gpu?: unknown } };
  // Only what is still ours: an app (or a test) may have put its own in place meanwhile.
  for (const [name, value] of installed.names) if (g[name] === value) delete g[name];
  installed.names.clear();
  const nav = g.navigator;
  const gpuIsOurs = nav !== undefined && installed.gpu !== undefined && nav.gpu === installed.gpu;
  if (nav !== undefined && nav === installed.navigator && (gpuIsOurs || nav.gpu === undefined)) {
    delete g.navigator;
  } else if (gpuIsOurs) {
    delete (nav as { gpu?: unknown }).gpu;
  }
  installed.navigator = undefined;
  installed.gpu = undefined;
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
  const { handle, message, error } = workerHandle(
    (data, transfer = []) => {
      if (awaited++ === 0) worker.ref();
      worker.postMessage(data, transfer as ArrayBuffer[]);
    },
    async () => {
      // Referenced until it has exited: a reply arriving meanwhile must not unref it, or the
      // process could exit with this promise pending.
      awaited = Number.POSITIVE_INFINITY;
      worker.ref();
      await worker.terminate();
    },
  );
  worker.on('message', (data: unknown) => {
    if (awaited > 0 && --awaited === 0) worker.unref();
    message(data);
  });
  worker.on('error', (err: Error) => error(err));
  return handle;
}

/** Node, Deno and Bun: `node:` modules are available. */
export const platform: Platform = {
  name: 'node',
  async readFile(path, options = {}) {
    const remote = isRemote(path);
    try {
      return await (remote
        ? fetchLimited(String(path), options)
        : readLocal(toPath(path), options));
    } catch (err) {
      // Deno without --allow-read/--allow-net: say which flag, not "not found".
      throw permissionErrorOf(err, remote ? 'net' : 'read', String(path)) ?? err;
    }
  },
  async writeFile(path, bytes) {
    try {
      await atomicWrite(path, bytes);
    } catch (err) {
      throw permissionErrorOf(err, 'write', path) ?? err;
    }
  },
  gunzipChunks,
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
          throw permissionErrorOf(err, 'read', join(dir, key)) ?? err;
        }
      },
      put: (key, bytes) =>
        atomicWrite(join(dir, key), bytes).catch((err: unknown) => {
          throw permissionErrorOf(err, 'write', join(dir, key)) ?? err;
        }),
    };
    return cache;
  },
  assetLocation: (url) => (url.protocol === 'file:' ? fileURLToPath(url) : url.href),
  findPackageFile(specifier) {
    try {
      return createRequire(import.meta.url).resolve(specifier);
    } catch (err) {
      // Deno without --allow-read cannot even look: say so rather than "not installed".
      const denied = permissionErrorOf(err, 'read', specifier);
      if (denied !== undefined) throw denied;
      return undefined;
    }
  },
  provideNavigatorGpu,
  withdrawNavigatorGpu,
  startWorker,
  yieldToEventLoop: () =>
    new Promise<void>((resolve) => {
      // Deno's Node compatibility has setImmediate too; a timer is the fallback.
      if (typeof setImmediate === 'function') setImmediate(resolve);
      else setTimeout(resolve, 0);
    }),
};
