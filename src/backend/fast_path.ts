import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../model/types.js';
import { AssetError } from '../platform/assets.js';
import type { AdamHyperparameters, FusedStepResult } from './fused/lenet_fused.js';

/**
 * What the trainer and predictor need of the fused LeNet kernels (src/backend/fused): one WASM
 * SIMD call per training step or forward pass, over a private copy of the weights. Both the
 * single-thread `FusedLeNet` and the data-parallel trainer (whose steps wait for workers) fit.
 * Type-only imports: the modules themselves load lazily.
 */
export interface FusedKernels {
  readonly variant: string;
  setParams(params: readonly Float32Array[]): void;
  getParams(): Float32Array[];
  resetOptimizer(): void;
  trainStep(
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    hp?: AdamHyperparameters,
  ): FusedStepResult | Promise<FusedStepResult>;
  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array;
  dispose(): void | Promise<void>;
}

/** Whether the fused kernels may be used: `'auto'` (default) uses them when they apply. */
export type FastPathOption = 'auto' | 'off';

/**
 * The fused kernels cover exactly the reference's training network on WASM; every other
 * architecture or backend takes the generic tfjs op path.
 */
export function fusedApplies(model: Model): boolean {
  const s = model.spec;
  return (
    s.kind === 'lenet' &&
    s.inputSize === 32 &&
    s.pooling === 'max' &&
    s.activation === 'relu' &&
    !s.conv2Activation &&
    tf.getBackend() === 'wasm'
  );
}

/**
 * Loads a fused-kernel instance holding `model`'s current weights, or `undefined` when the fast
 * path does not apply or cannot load here (then the caller uses tfjs ops; `reason` says why).
 * With `threads` above 1, each training step is split over that many threads (workers).
 */
export async function acquireFusedKernels(
  model: Model,
  option: FastPathOption = 'auto',
  threads = 1,
): Promise<{ kernels?: FusedKernels; reason: string }> {
  if (option === 'off') return { reason: 'fast path disabled by option' };
  if (!fusedApplies(model)) {
    return {
      reason: `fused kernels cover the default LeNet on wasm (backend: ${tf.getBackend()})`,
    };
  }
  try {
    let kernels: FusedKernels;
    if (threads > 1) {
      const { createParallelFusedTrainer } = await import('./fused/parallel.js');
      kernels = await createParallelFusedTrainer({ threads });
    } else {
      const { loadFusedLeNet } = await import('./fused/lenet_fused.js');
      kernels = await loadFusedLeNet();
    }
    kernels.setParams(model.getWeights());
    const how = threads > 1 ? `${kernels.variant}, ${threads} threads` : kernels.variant;
    return { kernels, reason: `fused WASM kernels (${how})` };
  } catch (err) {
    if (err instanceof AssetError) throw err; // a missing file is an error, not a slow path
    return { reason: `fused kernels unavailable: ${(err as Error).message}` };
  }
}
