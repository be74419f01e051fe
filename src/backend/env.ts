import { OptionError } from '../errors.js';
import { platform } from '../platform/index.js';

/**
 * What the current JavaScript runtime offers, detected once and exposed as plain data (like
 * transformers.js' `env`). Backend selection reads it; apps may display it.
 */
export interface RuntimeEnvironment {
  /** The JavaScript runtime. */
  readonly runtime: 'node' | 'deno' | 'bun' | 'browser' | 'webworker' | 'unknown';
  /** Which build of the library is running: `'node'` (Node, Deno, Bun) or `'browser'`. */
  readonly build: 'node' | 'browser';
  /** `navigator.gpu` exists right now (Node gets it only from the optional `webgpu` package). */
  readonly hasNavigatorGpu: boolean;
  /** The page is cross-origin isolated (COOP/COEP), which WASM threads need in browsers. */
  readonly crossOriginIsolated: boolean;
  /**
   * Logical CPU cores the runtime reports (`os.availableParallelism()` in Node,
   * `navigator.hardwareConcurrency` elsewhere); `undefined` where it reports none.
   */
  readonly cores: number | undefined;
  /** Worker threads can be started (`worker_threads` in Node, Deno and Bun; `Worker` in browsers). */
  readonly workers: boolean;
  /** WebAssembly features, probed with `WebAssembly.validate` on tiny modules. */
  readonly wasm: {
    readonly simd: boolean;
    readonly relaxedSimd: boolean;
    readonly threads: boolean;
  };
}

// (module (func (result v128) (v128.const i32x4 0 0 0 0)))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);
// The SIMD probe plus f32x4.relaxed_madd (0xfd 0x85 0x02) on three constants.
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61, 1, 59, 0, 253, 12, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 133, 2, 11,
]);

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

function reportedCores(): number | undefined {
  const g = globalThis as {
    navigator?: { hardwareConcurrency?: unknown };
    process?: { getBuiltinModule?: (id: string) => unknown };
  };
  // Node 20 has no `navigator`; `getBuiltinModule` (20.16+) reaches `os` without an import the
  // browser build would have to resolve.
  const os = g.process?.getBuiltinModule?.('node:os') as
    | { availableParallelism?: () => number }
    | undefined;
  const count = os?.availableParallelism?.() ?? g.navigator?.hardwareConcurrency;
  return typeof count === 'number' && Number.isInteger(count) && count >= 1 ? count : undefined;
}

function detectRuntime(): RuntimeEnvironment['runtime'] {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.Deno === 'object') return 'deno';
  if (typeof g.Bun === 'object') return 'bun';
  const proc = g.process as { versions?: { node?: string } } | undefined;
  if (proc?.versions?.node !== undefined) return 'node';
  if (typeof g.window === 'object' && typeof g.document === 'object') return 'browser';
  if (typeof g.importScripts === 'function') return 'webworker';
  return 'unknown';
}

/**
 * Detects the runtime environment now. Cheap; call again after installing `navigator.gpu`.
 *
 * @example
 * ```ts
 * import { detectEnvironment } from 'lenet-mnist';
 * const env = detectEnvironment();
 * console.log(env.runtime, env.wasm.simd ? 'SIMD' : 'no SIMD');
 * ```
 */
export function detectEnvironment(): RuntimeEnvironment {
  const g = globalThis as { navigator?: { gpu?: unknown }; crossOriginIsolated?: boolean };
  const runtime = detectRuntime();
  const isolated = g.crossOriginIsolated === true;
  const browserLike = runtime === 'browser' || runtime === 'webworker';
  return {
    runtime,
    build: platform.name,
    hasNavigatorGpu: g.navigator?.gpu != null,
    crossOriginIsolated: isolated,
    cores: reportedCores(),
    workers:
      platform.name === 'node' || typeof (globalThis as { Worker?: unknown }).Worker === 'function',
    wasm: {
      simd: validates(SIMD_PROBE),
      relaxedSimd: validates(RELAXED_SIMD_PROBE),
      // tfjs' threaded WASM needs SharedArrayBuffer, which browsers grant only when isolated;
      // its Node build is single-threaded.
      threads: browserLike && isolated && typeof SharedArrayBuffer === 'function',
    },
  };
}

/**
 * How many threads to run: a count (`1`: none) or `'auto'`, which picks the count from the
 * runtime (`resolveThreads`). The same setting, with the same meaning, for `train`'s
 * data-parallel steps and `initBackend`'s WASM backend.
 *
 * @example
 * ```ts
 * const threads: ThreadsOption = 'auto';
 * await train(model, data, { threads });
 * ```
 */
export type ThreadsOption = number | 'auto';

/**
 * What a thread count is for: the fused engine's training steps and evaluation (workers that
 * exchange messages, which any page can start) with the steps' `batchSize`, or tfjs' WASM
 * backend (whose threads share memory, which browsers allow only cross-origin isolated pages).
 *
 * @example
 * ```ts
 * const use: ThreadsUse = { kind: 'fused', batchSize: 64 };
 * ```
 */
export type ThreadsUse = { kind: 'fused'; batchSize: number } | { kind: 'wasm-backend' };

/**
 * A resolved thread count and why it is that.
 *
 * @example
 * ```ts
 * const { threads, reason }: ThreadsDecision = resolveThreads('auto', { kind: 'wasm-backend' });
 * ```
 */
export interface ThreadsDecision {
  /** Threads to run, 1 or more. */
  readonly threads: number;
  /** Why that count, e.g. `'one per reported CPU core (2)'` or `'as asked'`. */
  readonly reason: string;
}

/**
 * The most threads `'auto'` picks: LeNet's steps of 64 images gain little beyond 4.
 *
 * @example
 * ```ts
 * const wanted = Math.min(navigator.hardwareConcurrency, MAX_AUTO_THREADS);
 * ```
 */
export const MAX_AUTO_THREADS = 4;
/**
 * The fewest images per thread `'auto'` splits a training step into: below it, posting shares
 * to workers and summing their gradients cost more than the share saves.
 *
 * @example
 * ```ts
 * const smallestSplitBatch = 2 * MIN_IMAGES_PER_THREAD; // 32: smaller batches train on 1 thread
 * ```
 */
export const MIN_IMAGES_PER_THREAD = 16;

/**
 * Resolves a `threads` setting. An explicit count is used as given. `'auto'` takes one thread per
 * core the runtime reports (`env.cores`), at most `MAX_AUTO_THREADS`, and 1 where threads
 * cannot run or lose: no workers, one core, cores not reported, or a fused training batch too
 * small to give each thread `MIN_IMAGES_PER_THREAD` images. For tfjs' WASM backend it takes
 * half the reported cores (at most 4; tfjs' threaded build runs no more than that), and 1 where
 * the runtime has no shared-memory WASM threads (browsers: a page that is not cross-origin
 * isolated; Node, Deno, Bun: tfjs' build is single-threaded).
 *
 * @example
 * ```ts
 * import { detectEnvironment, resolveThreads } from 'lenet-mnist';
 * const { threads, reason } = resolveThreads('auto', { kind: 'fused', batchSize: 64 });
 * console.log(threads, reason); // 2 'one per reported CPU core (2)' on a 2-core machine
 * ```
 * @param option - `'auto'` or a positive integer.
 * @param use - What the threads are for (see `ThreadsUse`).
 * @param env - The runtime's facts; default {@link detectEnvironment}'s.
 * @param name - The option's name in error messages. Default `'threads'`.
 * @throws {@link OptionError} (a `RangeError`) naming the option when it is neither `'auto'`
 *   nor a positive integer.
 */
export function resolveThreads(
  option: ThreadsOption,
  use: ThreadsUse,
  env: RuntimeEnvironment = detectEnvironment(),
  name = 'threads',
): ThreadsDecision {
  if (option !== 'auto' && !(Number.isInteger(option) && option >= 1)) {
    throw new OptionError(
      name,
      `${name} must be 'auto' or an integer >= 1, got ${typeof option === 'string' ? JSON.stringify(option) : String(option)}`,
    );
  }
  if (option !== 'auto') return { threads: option, reason: 'as asked' };
  const one = (reason: string): ThreadsDecision => ({ threads: 1, reason });
  if (use.kind === 'wasm-backend' && !env.wasm.threads) {
    return one(
      env.runtime === 'browser' || env.runtime === 'webworker'
        ? 'WASM threads need a cross-origin isolated page (COOP/COEP headers)'
        : `tfjs-backend-wasm runs single-threaded in ${env.runtime}`,
    );
  }
  if (!env.workers) return one('this runtime cannot start worker threads');
  if (env.cores === undefined) return one('the runtime does not report its CPU cores');
  if (env.cores === 1) return one('the runtime reports 1 CPU core');
  if (use.kind === 'wasm-backend') {
    // tfjs' threaded build runs at most half the logical cores it is told of (asking for more
    // only loads the threaded build for nothing).
    return {
      threads: Math.max(1, Math.min(MAX_AUTO_THREADS, Math.floor(env.cores / 2))),
      reason: `half of the ${env.cores} logical cores reported (at most ${MAX_AUTO_THREADS})`,
    };
  }
  const capped = Math.min(env.cores, MAX_AUTO_THREADS);
  const fit = Math.floor(use.batchSize / MIN_IMAGES_PER_THREAD);
  if (fit < capped) {
    return {
      threads: Math.max(1, fit),
      reason: `a batch of ${use.batchSize} gives at most ${Math.max(1, fit)} thread(s) ${MIN_IMAGES_PER_THREAD} images or more each (${env.cores} cores reported)`,
    };
  }
  return {
    threads: capped,
    reason: `one per reported CPU core (${env.cores}${env.cores > MAX_AUTO_THREADS ? `, at most ${MAX_AUTO_THREADS}` : ''})`,
  };
}
