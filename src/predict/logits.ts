import * as tf from '@tensorflow/tfjs-core';
import {
  acquireFusedKernels,
  type FastPathOption,
  type FusedKernels,
} from '../backend/fast_path.js';
import type { Model } from '../model/types.js';

/** Computes logits for batches of preprocessed images, on the fused kernels or tfjs ops. */
export interface LogitsRunner {
  /** Which implementation runs: the fused WASM SIMD kernels or tfjs ops on the active backend. */
  readonly path: 'fused' | 'tfjs';
  /** Why this path was chosen. */
  readonly reason: string;
  /** Logits `[n, 10]` row-major for `n` NHWC images (already normalised). */
  logits(images: Float32Array, n: number): Promise<Float32Array>;
  dispose(): void;
}

/**
 * Picks the fastest way to run `model` forward here. The fused kernels keep their own copy of
 * the weights and refresh it whenever `model.weightsVersion` moves.
 */
export async function createLogitsRunner(
  model: Model,
  fastPath: FastPathOption = 'auto',
  shared?: FusedKernels,
): Promise<LogitsRunner> {
  const { size } = model.preprocessing;
  if (shared !== undefined)
    return fusedRunner(model, shared, 'fused WASM kernels of the trainer', false);
  const { kernels, reason } = await acquireFusedKernels(model, fastPath);
  if (kernels !== undefined) return fusedRunner(model, kernels, reason, true);
  return {
    path: 'tfjs',
    reason,
    async logits(images, n) {
      const out = tf.tidy(() =>
        model.apply(tf.tensor4d(images.subarray(0, n * size * size), [n, size, size, 1])),
      );
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    dispose() {},
  };
}

function fusedRunner(
  model: Model,
  kernels: FusedKernels,
  reason: string,
  owned: boolean,
): LogitsRunner {
  let version = model.weightsVersion;
  return {
    path: 'fused',
    reason,
    async logits(images, n) {
      if (owned && model.weightsVersion !== version) {
        kernels.setParams(model.getWeights());
        version = model.weightsVersion;
      }
      return kernels.forward(images, n);
    },
    dispose() {
      if (owned) void kernels.dispose();
    },
  };
}
