import * as tf from '@tensorflow/tfjs-core';
import { platform } from '../platform/index.js';
import { conv2DBackpropFilterWasmConfig } from './kernels/conv2d-backprop-filter.js';
import { maxPoolGradWasmConfig } from './kernels/max-pool-grad.js';

/** The three binaries tfjs-backend-wasm may ask for, by the names it asks with. */
export type WasmPaths =
  | string
  | Record<
      | 'tfjs-backend-wasm.wasm'
      | 'tfjs-backend-wasm-simd.wasm'
      | 'tfjs-backend-wasm-threaded-simd.wasm',
      string
    >;

/**
 * The binaries sit next to this module once built (the build copies them), resolved the way
 * bundlers understand: a literal `new URL(file, import.meta.url)` each.
 */
function defaultWasmPaths(): WasmPaths {
  return {
    'tfjs-backend-wasm.wasm': platform.assetLocation(
      new URL('./tfjs-backend-wasm.wasm', import.meta.url),
    ),
    'tfjs-backend-wasm-simd.wasm': platform.assetLocation(
      new URL('./tfjs-backend-wasm-simd.wasm', import.meta.url),
    ),
    'tfjs-backend-wasm-threaded-simd.wasm': platform.assetLocation(
      new URL('./tfjs-backend-wasm-threaded-simd.wasm', import.meta.url),
    ),
  };
}

let wasmModule: Promise<typeof import('@tensorflow/tfjs-backend-wasm')> | undefined;

/**
 * Loads tfjs-backend-wasm (once), points it at its binaries, registers the kernels it lacks for
 * training, and makes it the active tfjs backend.
 *
 * @param wasmPaths - a folder URL/path prefix ending in `/`, or a map from binary name to URL/path.
 *   Default: the copies shipped next to this library's bundle.
 * @returns the number of threads the backend runs with.
 */
export async function activateWasmBackend(wasmPaths?: WasmPaths): Promise<number> {
  if (wasmModule === undefined) {
    wasmModule = import('@tensorflow/tfjs-backend-wasm').then((mod) => {
      mod.setWasmPaths(wasmPaths ?? defaultWasmPaths());
      return mod;
    });
  }
  const mod = await wasmModule;
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined) {
    tf.registerKernel(conv2DBackpropFilterWasmConfig);
  }
  // The shipped MaxPoolGrad drops the gradient of all-negative windows (see the kernel's notes).
  if (tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc !== maxPoolGradWasmConfig.kernelFunc) {
    if (tf.getKernel('MaxPoolGrad', 'wasm') !== undefined)
      tf.unregisterKernel('MaxPoolGrad', 'wasm');
    tf.registerKernel(maxPoolGradWasmConfig);
  }
  if (!(await tf.setBackend('wasm'))) {
    throw new Error('tfjs-backend-wasm failed to initialise (see the console for its error)');
  }
  await tf.ready();
  return mod.getThreadsCount();
}
