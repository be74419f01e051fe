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
    wasm: {
      simd: validates(SIMD_PROBE),
      relaxedSimd: validates(RELAXED_SIMD_PROBE),
      // tfjs' threaded WASM needs SharedArrayBuffer, which browsers grant only when isolated;
      // its Node build is single-threaded.
      threads: browserLike && isolated && typeof SharedArrayBuffer === 'function',
    },
  };
}
