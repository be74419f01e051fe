// The models, settings and reference steps shared by test/engine/fused-variants.test.ts and
// test/engine/fused-variants-threads.test.ts.

import { expect } from 'vitest';
import { mulberry32 } from '../../src/data/batches.js';
import { createLeNet, type LeNetOptions } from '../../src/engine/lenet.js';
import { createMlp, type MlpOptions } from '../../src/engine/mlp.js';
import type { AdamSettings, Engine, Model } from '../../src/engine/types.js';
import { trainOnFloats } from './float-step.js';

export const STEPS = 6;
// Not a multiple of the kernels' sample chunks (8 for a 32x32 LeNet), so a partial chunk runs too.
export const N = 19;
export const ADAM: AdamSettings = { learningRate: 2e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
/** AdamW with a changing rate, as schedules give. */
export const ADAMW = (step: number): AdamSettings => ({
  ...ADAM,
  learningRate: [5e-4, 1.5e-3, 3e-3, 2e-3, 1e-3, 1e-3][step] as number,
  weightDecay: 0.1,
});

export const CASES: { name: string; make: () => Promise<Model> }[] = [
  { name: 'avg pooling', make: () => createLeNet({ pooling: 'avg', seed: 3 }) },
  { name: 'tanh', make: () => createLeNet({ activation: 'tanh', seed: 3 }) },
  { name: 'conv2Activation', make: () => createLeNet({ conv2Activation: true, seed: 3 }) },
  { name: 'inputSize 28', make: () => createLeNet({ inputSize: 28, resize: 'none', seed: 3 }) },
  {
    name: 'classic (tanh, avg, pad)',
    make: () =>
      createLeNet({
        activation: 'tanh',
        pooling: 'avg',
        conv2Activation: true,
        resize: 'pad',
        inputSize: 32,
        seed: 3,
      } satisfies LeNetOptions),
  },
  { name: 'inputSize 20', make: () => createLeNet({ inputSize: 20, seed: 3 }) },
  { name: 'createMlp()', make: () => createMlp({ seed: 3 }) },
  {
    name: 'MLP tanh, 2 hidden, odd widths',
    make: () => createMlp({ hidden: [37, 22], activation: 'tanh', seed: 3 } satisfies MlpOptions),
  },
];

/** `count` random 28x28 digits (bytes) with random labels. */
export function digits(count: number, seed: number) {
  const rand = mulberry32(seed);
  return {
    images: Uint8Array.from({ length: count * 784 }, () => Math.floor(rand() * 256)),
    labels: Uint8Array.from({ length: count }, () => Math.floor(rand() * 10)),
    count,
    height: 28,
    width: 28,
  };
}

export function batch(side: number, n: number, seed: number) {
  const rand = mulberry32(seed);
  return {
    images: Float32Array.from({ length: n * side * side }, () => 2 * rand() - 1),
    labels: Uint8Array.from({ length: n }, () => Math.floor(rand() * 10)),
    n,
  };
}

/** Max of |a - b| / max(1, |b|). */
export function maxError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((p, i) => {
    const q = b[i] as Float32Array;
    expect(p.length).toBe(q.length);
    for (let j = 0; j < p.length; j++) {
      const ref = q[j] as number;
      worst = Math.max(worst, Math.abs((p[j] as number) - ref) / Math.max(1, Math.abs(ref)));
    }
  });
  return worst;
}

/** Max of |a - b| over each parameter, divided by that parameter's largest |b|. */
export function scaledError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let worst = 0;
  a.forEach((p, i) => {
    const q = b[i] as Float32Array;
    const scale = q.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let j = 0; j < p.length; j++) {
      const d = Math.abs((p[j] as number) - (q[j] as number));
      if (d > 0) worst = Math.max(worst, d / scale);
    }
  });
  return worst;
}

export async function steps(
  engine: Engine,
  side: number,
  from: number,
  count: number,
  adam: (step: number) => AdamSettings,
): Promise<{ losses: number[]; correct: number[] }> {
  const losses: number[] = [];
  const correct: number[] = [];
  for (let s = from; s < from + count; s++) {
    const stats = await trainOnFloats(engine, batch(side, N, 500 + s), adam(s), true);
    losses.push(stats?.loss as number);
    correct.push(stats?.correct as number);
  }
  return { losses, correct };
}
