// Shared by test/engine/webgpu-fused.test.ts and test/engine/webgpu-fused-choice.test.ts.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { type BackendChangeEvent, onBackendChange } from '../../src/backend/select.js';
import { makeBatch } from './lenet-checks.js';

export function nextBackendChange(timeoutMs = 20_000): Promise<BackendChangeEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no backend change within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = onBackendChange((event) => {
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

// The engine contract's settings (test/engine/contract.test.ts): Adam, and AdamW with a
// learning rate that changes every step.
export const ADAM = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
export const adamW = (step: number) => ({
  ...ADAM,
  learningRate: [5e-4, 1.5e-3, 3e-3, 2e-3, 1e-3][step] as number,
  weightDecay: 0.05,
});

export function device(): object {
  return (tf.backend() as unknown as { device: object }).device;
}

/** Largest |a - b| / max(1, |b|) over all parameters (the engine contract's measure). */
export function maxRelDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let worst = 0;
  a.forEach((w, i) => {
    const ref = b[i] as Float32Array;
    expect(w.length).toBe(ref.length);
    w.forEach((v, j) => {
      const r = ref[j] as number;
      worst = Math.max(worst, Math.abs(v - r) / Math.max(1, Math.abs(r)));
    });
  });
  return worst;
}

export function batchOf(n: number, seed: number) {
  const { pixels, labels } = makeBatch(n, seed);
  return { images: pixels, labels: Uint8Array.from(labels), n };
}
