import * as tf from '@tensorflow/tfjs-core';
import {
  type AssetError,
  type AssetName,
  absoluteUrl,
  assetLocation,
  probeAsset,
  providedAsset,
} from '../platform/assets.js';
import {
  detectEnvironment,
  type RuntimeEnvironment,
  resolveThreads,
  type ThreadsOption,
} from './env.js';
import { conv2DBackpropFilterWasmConfig } from './kernels/conv2d-backprop-filter.js';
import { maxPoolGradWasmConfig } from './kernels/max-pool-grad.js';
import { tfjsWasmHooks } from './wasm-hooks.js';

/**
 * The three binaries tfjs-backend-wasm may ask for, by the names it asks with.
 *
 * @example
 * ```ts
 * const wasmPaths: WasmPaths = 'https://cdn.example.com/lenet-mnist@0.1.0/dist/';
 * await initBackend({ backend: 'wasm', wasmPaths });
 * ```
 */
export type WasmPaths =
  | string
  | Record<
      | 'tfjs-backend-wasm.wasm'
      | 'tfjs-backend-wasm-simd.wasm'
      | 'tfjs-backend-wasm-threaded-simd.wasm',
      string
    >;

/**
 * How many threads the WASM backend should run: a count (`1`: no threads) or `'auto'`.
 *
 * @example
 * ```ts
 * const threads: WasmThreads = crossOriginIsolated ? 'auto' : 1;
 * await initBackend({ backend: 'wasm', threads });
 * ```
 */
export type WasmThreads = ThreadsOption;

type BinaryName = Exclude<
  AssetName,
  | 'lenet-simd.wasm'
  | 'lenet-relaxed-simd.wasm'
  | 'net-simd.wasm'
  | 'net-relaxed-simd.wasm'
  | 'lenet-mnist.weights'
  | 'tfjs-backend-wasm-threaded-simd.worker.js'
>;

/**
 * Where each tfjs file is. The defaults are literal `new URL(file, import.meta.url)` calls (the
 * pattern bundlers emit assets for), evaluated only when a file is looked up there;
 * {@link assetLocation} applies the app's `assetBase`. A runtime without `import.meta.url` gets a
 * placeholder naming the fix (the file is then needed from setAssets or setAssetBase).
 */
function defaultLocations(): Record<
  AssetName & (BinaryName | 'tfjs-backend-wasm-threaded-simd.worker.js'),
  string
> {
  const where = (name: AssetName, builtIn: () => URL): string => {
    try {
      return assetLocation(name, builtIn);
    } catch (err) {
      return (err as AssetError).location;
    }
  };
  return {
    'tfjs-backend-wasm.wasm': where(
      'tfjs-backend-wasm.wasm',
      () => new URL('./tfjs-backend-wasm.wasm', import.meta.url),
    ),
    'tfjs-backend-wasm-simd.wasm': where(
      'tfjs-backend-wasm-simd.wasm',
      () => new URL('./tfjs-backend-wasm-simd.wasm', import.meta.url),
    ),
    'tfjs-backend-wasm-threaded-simd.wasm': where(
      'tfjs-backend-wasm-threaded-simd.wasm',
      () => new URL('./tfjs-backend-wasm-threaded-simd.wasm', import.meta.url),
    ),
    'tfjs-backend-wasm-threaded-simd.worker.js': where(
      'tfjs-backend-wasm-threaded-simd.worker.js',
      () => new URL('./tfjs-backend-wasm-threaded-simd.worker.js', import.meta.url),
    ),
  };
}

/** How the backend was started: threads and, when fewer than asked, why. */
export interface WasmStart {
  threads: number;
  /** Why the backend runs single-threaded although threads were asked for (`'auto'` fallback). */
  note?: string;
}

let wasmModule: Promise<typeof import('@tensorflow/tfjs-backend-wasm')> | undefined;
/** The locations tfjs was given; fixed at the first start. */
let locations: Record<string, string> | undefined;
/** The thread count of the started backend (fixed once started). */
let started: WasmStart | undefined;

/** The thread count `'auto'` picks for this backend (see `resolveThreads`), and why. */
export function autoThreads(env: RuntimeEnvironment): { threads: number; why: string } {
  const { threads, reason } = resolveThreads('auto', { kind: 'wasm-backend' }, env);
  return { threads, why: reason };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!Number.isFinite(ms)) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The binary tfjs picks for these features. */
function binaryFor(simd: boolean, threaded: boolean): BinaryName {
  if (simd && threaded) return 'tfjs-backend-wasm-threaded-simd.wasm';
  return simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
}

/** One attempt to start tfjs' WASM backend with `threads`; rejects with a specific reason. */
async function startOnce(
  mod: typeof import('@tensorflow/tfjs-backend-wasm'),
  env: RuntimeEnvironment,
  threads: number,
  timeoutMs: number,
): Promise<number> {
  const threaded = threads > 1;
  // Never load the threaded build unless threads were asked for and are possible: it starts its
  // worker pool at load time.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threaded);
  mod.setThreadsCount(threaded ? threads : 1);
  const worker = (locations as Record<string, string>)['tfjs-backend-wasm-threaded-simd.worker.js'];
  // What the bundled tfjs reads as it starts (tsup.config.ts patches it): the URL of the pthread
  // workers' script, a shipped file instead of tfjs' `factory.toString()` blob (which minifiers
  // break), the size of emscripten's worker pool (tfjs' build hard-codes 8), and the binaries the
  // app provided (setAssets).
  tfjsWasmHooks.threads = threaded
    ? { mainScriptUrl: absoluteUrl(worker as string), poolSize: threads }
    : undefined;
  const provided = providedInstantiation();
  tfjsWasmHooks.instantiateWasm = provided.instantiateWasm;
  let ok: boolean;
  try {
    ok = await withoutHostHandlers(() =>
      withTimeout(
        Promise.race([tf.setBackend('wasm'), provided.failed]),
        timeoutMs,
        'tfjs-backend-wasm initialisation',
      ),
    );
  } catch (err) {
    throw await explain(env, threaded, (err as Error).message);
  }
  if (!ok) throw await explain(env, threaded, 'tfjs-backend-wasm failed to initialise');
  await tf.ready();
  return mod.getThreadsCount();
}

/** An error for a failed start that names the file that could not be loaded, if that was it. */
async function explain(env: RuntimeEnvironment, threaded: boolean, what: string): Promise<Error> {
  const binary = binaryFor(env.wasm.simd, threaded);
  const files: string[] = [binary];
  if (threaded) files.push('tfjs-backend-wasm-threaded-simd.worker.js');
  for (const name of files) {
    if (providedAsset(name as AssetName) !== undefined) continue;
    const location = (locations as Record<string, string>)[name];
    if (location === undefined) continue;
    const missing = await probeAsset(name as AssetName, location);
    if (missing !== undefined) return new Error(`${what}: ${missing.message}`, { cause: missing });
  }
  return new Error(what);
}

/**
 * Loads tfjs-backend-wasm (once), points it at its binaries, registers the kernels it lacks for
 * training, and makes it the active tfjs backend, with `threads` threads (`'auto'`: threads where
 * the page is cross-origin isolated, half the reported cores up to 4, else 1; falls back to one thread,
 * with the reason, if the threaded build fails or times out).
 *
 * @returns the thread count, and why it is 1 when more were possible or asked for.
 * @throws Error (wrapped into a BackendError by select.ts) naming the step or file that failed.
 */
export async function activateWasmBackend(
  options: { wasmPaths?: WasmPaths; threads?: WasmThreads; timeoutMs?: number } = {},
  env: RuntimeEnvironment = detectEnvironment(),
): Promise<WasmStart> {
  const requested = options.threads ?? 'auto';
  resolveThreads(requested, { kind: 'wasm-backend' }, env); // checks the option first
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (wasmModule === undefined) {
    wasmModule = import('@tensorflow/tfjs-backend-wasm').then((mod) => {
      const defaults = defaultLocations();
      const custom = options.wasmPaths;
      const binaries: Record<BinaryName, string> =
        typeof custom === 'string'
          ? {
              'tfjs-backend-wasm.wasm': `${custom}tfjs-backend-wasm.wasm`,
              'tfjs-backend-wasm-simd.wasm': `${custom}tfjs-backend-wasm-simd.wasm`,
              'tfjs-backend-wasm-threaded-simd.wasm': `${custom}tfjs-backend-wasm-threaded-simd.wasm`,
            }
          : (custom ?? defaults);
      locations = { ...defaults, ...binaries };
      mod.setWasmPaths(binaries);
      return mod;
    });
  }
  const mod = await wasmModule;
  registerMissingKernels();
  const auto = autoThreads(env);
  if (requested !== 'auto' && requested > 1 && !env.wasm.threads) {
    throw new Error(`${requested} threads were asked for, but ${auto.why}`);
  }
  // tfjs' threaded build runs at most half the logical cores the page reports: a count above
  // that would start with fewer threads than asked, and a number means exactly that many.
  const cap = env.cores === undefined ? undefined : Math.max(1, Math.floor(env.cores / 2));
  if (requested !== 'auto' && requested > 1 && cap !== undefined && requested > cap) {
    throw new Error(
      `${requested} threads were asked for, but tfjs' threaded WASM build runs at most ${cap} here (half of the ${env.cores} logical cores the page reports); ask for ${cap === 1 ? '1 (no threads)' : `at most ${cap}`}, or 'auto'`,
    );
  }
  if (started !== undefined && tf.findBackend('wasm') !== null) {
    // tfjs starts its WASM module once per page; the thread count is fixed from then on.
    if (requested !== 'auto' && requested !== started.threads) {
      throw new Error(
        `the WASM backend already runs with ${started.threads} thread(s); the thread count is fixed once it has started (asked: ${requested})`,
      );
    }
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs-backend-wasm failed to reactivate');
    return started;
  }

  const threads = requested === 'auto' ? auto.threads : requested;
  if (threads > 1) {
    try {
      const actual = await startOnce(mod, env, threads, timeoutMs);
      started = { threads: actual };
      if (actual < threads) {
        if (requested !== 'auto') {
          // A number means exactly that many (the page's WASM module now runs `actual`).
          throw new Error(
            `${requested} threads were asked for, but tfjs' threaded WASM build started only ${actual}`,
          );
        }
        started.note = `threads: ${actual} of the ${threads} asked: tfjs caps them at the logical cores reported`;
      }
      return started;
    } catch (err) {
      if (requested !== 'auto') throw err;
      // 'auto': the single-thread SIMD build does the job; say why threads were dropped.
      const note = `threads: auto: the threaded WASM build failed (${(err as Error).message}); running single-threaded`;
      started = { threads: await startOnce(mod, env, 1, timeoutMs), note };
      return started;
    }
  }
  started = { threads: await startOnce(mod, env, 1, timeoutMs) };
  if (requested === 'auto') started.note = `1 thread: ${auto.why}`;
  return started;
}

function registerMissingKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined) {
    tf.registerKernel(conv2DBackpropFilterWasmConfig);
  }
  // The shipped MaxPoolGrad drops the gradient of all-negative windows (see the kernel's notes).
  if (tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc !== maxPoolGradWasmConfig.kernelFunc) {
    if (tf.getKernel('MaxPoolGrad', 'wasm') !== undefined)
      tf.unregisterKernel('MaxPoolGrad', 'wasm');
    tf.registerKernel(maxPoolGradWasmConfig);
  }
}

/**
 * Emscripten's `instantiateWasm` for the binaries the app provided (setAssets): a
 * `WebAssembly.Module` is instantiated as is (runtimes such as workerd forbid compiling at run
 * time), bytes are compiled. `failed` rejects when that fails (Emscripten would only log it). A
 * binary tfjs picks that the app did not provide, while it provided another, is an error naming it.
 */
function providedInstantiation(): {
  instantiateWasm: typeof tfjsWasmHooks.instantiateWasm;
  failed: Promise<never>;
} {
  let fail: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined); // raced only while starting
  const names: BinaryName[] = [
    'tfjs-backend-wasm.wasm',
    'tfjs-backend-wasm-simd.wasm',
    'tfjs-backend-wasm-threaded-simd.wasm',
  ];
  const given = names.filter((name) => providedAsset(name) !== undefined);
  if (given.length === 0) return { instantiateWasm: undefined, failed };
  const instantiateWasm = (simd: boolean, threaded: boolean) => {
    const name = binaryFor(simd, threaded);
    const data = providedAsset(name);
    return (
      imports: WebAssembly.Imports,
      receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
    ): object => {
      if (data === undefined) {
        fail(
          new Error(
            `this runtime needs ${name} (SIMD: ${simd}, threads: ${threaded}), but setAssets provided only ${given.join(', ')}`,
          ),
        );
        return {};
      }
      const started =
        data instanceof WebAssembly.Module
          ? WebAssembly.instantiate(data, imports).then((instance) => receive(instance, data))
          : WebAssembly.instantiate(bytesView(data as ArrayBuffer | ArrayBufferView), imports).then(
              (out) => receive(out.instance, out.module),
            );
      started.catch((err: Error) =>
        fail(new Error(`the provided ${name} did not instantiate: ${err.message}`, { cause: err })),
      );
      return {};
    };
  };
  return { instantiateWasm, failed };
}

function bytesView(data: ArrayBuffer | ArrayBufferView): Uint8Array<ArrayBuffer> {
  return (
    data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  ) as Uint8Array<ArrayBuffer>;
}

/** The process-wide handlers Emscripten's Node glue installs, recognised by their code. */
const GLUE_HANDLER = /instanceof ExitStatus|throw reason/;

/**
 * Runs `start` and removes the `uncaughtException` / `unhandledRejection` listeners that
 * Emscripten's Node glue added meanwhile (they rethrow every error of the host app: exit code
 * 7, `--unhandled-rejections` ignored). The package's own build has them patched out
 * (tsup.config.ts); this covers tfjs loaded unbundled. Only listeners that were not there before
 * and have the glue's code are removed, never the app's.
 */
async function withoutHostHandlers<T>(start: () => Promise<T>): Promise<T> {
  type Listener = (...args: unknown[]) => void;
  const proc = (
    globalThis as {
      process?: {
        listeners(event: string): Listener[];
        removeListener(event: string, listener: Listener): unknown;
      };
    }
  ).process;
  if (typeof proc?.listeners !== 'function') return start();
  const events = ['uncaughtException', 'unhandledRejection'] as const;
  const before = events.map((event) => proc.listeners(event));
  try {
    return await start();
  } finally {
    events.forEach((event, i) => {
      for (const listener of proc.listeners(event)) {
        if (!before[i]?.includes(listener) && GLUE_HANDLER.test(String(listener))) {
          proc.removeListener(event, listener);
        }
      }
    });
  }
}
