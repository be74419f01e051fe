import * as tf from '@tensorflow/tfjs-core';
import { LenetMnistError } from '../errors.js';
import { detectEnvironment } from './env.js';
import { activateWasmBackend, type WasmPaths } from './wasm.js';

/** Which tfjs backend to run on. `'auto'` prefers a hardware WebGPU adapter, else WASM SIMD. */
export type BackendName = 'auto' | 'webgpu' | 'wasm';

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Default `'auto'`. */
  backend?: BackendName;
  /** Where tfjs-backend-wasm's `.wasm` files are; default: next to this library's bundle. */
  wasmPaths?: WasmPaths;
  /** Cancels a pending initialisation. */
  signal?: AbortSignal;
}

/** What {@link initBackend} chose, and why. */
export interface BackendInfo {
  /** The active tfjs backend. */
  backend: 'webgpu' | 'wasm';
  /** Why it was chosen, including every step that failed on the way. */
  reason: string;
  /** The WebGPU adapter, when WebGPU was probed and an adapter answered. */
  adapter?: { vendor: string; architecture: string; isFallback: boolean };
  /** WASM SIMD is available. */
  simd: boolean;
  /** Threads the WASM backend runs with (1 unless the page is cross-origin isolated). */
  threads: number;
}

/** The backend could not be initialised as asked. */
export class BackendError extends LenetMnistError {}

let current: Promise<BackendInfo> | undefined;

/**
 * Initialises the tfjs backend the library computes on. Models, trainers and predictors call it
 * implicitly with the defaults; call it first to choose, or to show the user what was picked.
 * Calling it again with other options switches backend.
 *
 * @example
 * ```ts
 * import { initBackend } from 'lenet-mnist';
 * const info = await initBackend(); // { backend: 'wasm', reason: 'no navigator.gpu ...', simd: true, threads: 1 }
 * console.log(`running on ${info.backend}: ${info.reason}`);
 * ```
 * @throws {@link BackendError} when an explicitly requested backend cannot start.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  current = select(options);
  // A failed attempt must not stick: the next call tries again.
  current.catch(() => {
    current = undefined;
  });
  return current;
}

/** The backend chosen so far, initialising it with the defaults on first use. */
export function ensureBackend(): Promise<BackendInfo> {
  return current ?? initBackend();
}

async function select(options: InitBackendOptions): Promise<BackendInfo> {
  const wanted = options.backend ?? 'auto';
  options.signal?.throwIfAborted();
  const env = detectEnvironment();
  if (wanted === 'webgpu') {
    throw new BackendError('WebGPU backend selection is not available yet');
  }
  if (!env.wasm.simd) {
    // tfjs' plain WASM build still works, only slower.
  }
  const threads = await activateWasmBackend(options.wasmPaths);
  options.signal?.throwIfAborted();
  return {
    backend: 'wasm',
    reason:
      wanted === 'wasm' ? 'WASM requested' : 'WASM SIMD (WebGPU selection not implemented yet)',
    simd: env.wasm.simd,
    threads,
  };
}

/** The tfjs backend currently active, for code that must run on the library's backend. */
export function activeBackendName(): string {
  return tf.getBackend();
}
