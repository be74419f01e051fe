import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../model/types.js';
import type { FusedLeNet } from './fused/lenet_fused.js';

/**
 * The fused LeNet kernels (src/backend/fused): one WASM SIMD call per training step or forward
 * pass, over a private copy of the weights. A type-only import: the module itself loads lazily.
 */
export type FusedKernels = FusedLeNet;

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
 */
export async function acquireFusedKernels(
  model: Model,
  option: FastPathOption = 'auto',
): Promise<{ kernels?: FusedKernels; reason: string }> {
  if (option === 'off') return { reason: 'fast path disabled by option' };
  if (!fusedApplies(model)) {
    return {
      reason: `fused kernels cover the default LeNet on wasm (backend: ${tf.getBackend()})`,
    };
  }
  try {
    const { loadFusedLeNet } = await import('./fused/lenet_fused.js');
    const kernels = await loadFusedLeNet();
    kernels.setParams(model.getWeights());
    return { kernels, reason: `fused WASM kernels (${kernels.variant})` };
  } catch (err) {
    return { reason: `fused kernels unavailable: ${(err as Error).message}` };
  }
}
