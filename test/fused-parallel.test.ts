import { afterAll, describe, expect, it } from 'vitest';
import { detectEnvironment } from '../src/backend/env.js';
import { loadFusedLeNet } from '../src/backend/fused/lenet_fused.js';
import {
  createParallelFusedTrainer,
  type ParallelFusedTrainer,
} from '../src/backend/fused/parallel.js';

// The data-parallel trainer against the single-threaded fused step: same losses, correct counts
// and parameters after several Adam steps, up to the order of float additions (the batch's
// gradient is a weighted sum of per-share means instead of one mean).

const SIZES = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomParams(seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  return SIZES.map((size) => {
    return Float32Array.from({ length: size }, () => (2 * rand() - 1) * 0.1);
  });
}

function randomBatch(n: number, seed: number): { images: Float32Array; labels: Uint8Array } {
  const rand = mulberry32(seed);
  return {
    images: Float32Array.from({ length: n * 1024 }, () => 2 * rand() - 1),
    labels: Uint8Array.from({ length: n }, () => Math.floor(rand() * 10)),
  };
}

/**
 * Max of |a - b| / max(1, |b|) over all elements (as in fused.test.ts): absolute for the
 * parameters, which are all below 1. Not per-element relative: where a gradient is rounding
 * noise (about 1e-9 against 1e-2 elsewhere), Adam's normalised update m / sqrt(v) turns a
 * different summation order into a difference of a fraction of the learning rate, about 1e-6.
 */
function maxError(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((p, i) => {
    const q = b[i] as Float32Array;
    for (let j = 0; j < p.length; j++) {
      const ref = q[j] as number;
      worst = Math.max(worst, Math.abs((p[j] as number) - ref) / Math.max(1, Math.abs(ref)));
    }
  });
  return worst;
}

/** Largest absolute element over all tensors. */
function maxAbs(a: Float32Array[]): number {
  return Math.max(...a.map((t) => t.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
}

const simd = detectEnvironment().wasm.simd;
const open: ParallelFusedTrainer[] = [];
afterAll(async () => {
  await Promise.all(open.map((t) => t.dispose()));
});

describe.skipIf(!simd)('parallel fused trainer', () => {
  for (const relaxedSimd of [false, 'auto'] as const) {
    for (const [threads, n] of [
      [2, 64],
      [2, 37],
      [3, 50],
      [1, 20],
      [2, 1],
    ] as const) {
      it(`matches the single-threaded step: ${threads} threads, batch ${n}, relaxedSimd ${relaxedSimd}`, async () => {
        const single = await loadFusedLeNet({ relaxedSimd });
        const par = await createParallelFusedTrainer({ threads, relaxedSimd });
        open.push(par);
        expect(par.variant).toBe(single.variant);
        expect(par.threads).toBe(threads);
        const init = randomParams(1);
        single.setParams(init);
        par.setParams(init);
        for (let step = 0; step < 6; step++) {
          const { images, labels } = randomBatch(n, 100 + step);
          const a = single.trainStep(images, labels, n);
          const b = await par.trainStep(images, labels, n);
          expect(b.correct).toBe(a.correct);
          expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-5 * Math.max(1, a.loss));
          if (threads === 1) {
            expect(maxError(par.getGradients(), single.getGradients())).toBe(0);
          } else {
            // Gradients: error against the largest gradient of the step.
            const gs = single.getGradients();
            expect(maxError(par.getGradients(), gs)).toBeLessThan(1e-5 * maxAbs(gs));
          }
        }
        const err = maxError(par.getParams(), single.getParams());
        if (threads === 1) expect(err).toBe(0);
        else expect(err).toBeLessThan(1e-5);
        // Inference runs on the calling thread with the same parameters.
        const { images } = randomBatch(5, 7);
        const la = single.forward(images, 5);
        const lb = par.forward(images, 5);
        for (let i = 0; i < la.length; i++) {
          expect(Math.abs((lb[i] as number) - (la[i] as number))).toBeLessThan(1e-4);
        }
        single.dispose();
        await par.dispose();
        expect(() => par.getParams()).toThrow(/disposed/);
      });
    }
  }

  it('rejects overlapping steps and bad arguments', async () => {
    const par = await createParallelFusedTrainer({ threads: 2 });
    open.push(par);
    await expect(createParallelFusedTrainer({ threads: 0 })).rejects.toThrow(/threads/);
    await expect(par.trainStep(new Float32Array(1024), new Uint8Array(1), 1)).rejects.toThrow(
      /setParams/,
    );
    par.setParams(randomParams(2));
    const { images, labels } = randomBatch(8, 3);
    await expect(par.trainStep(images, labels, 9)).rejects.toThrow(/fewer than n/);
    const first = par.trainStep(images, labels, 8);
    expect(() => par.getParams()).toThrow(/in progress/);
    await expect(par.trainStep(images, labels, 8)).rejects.toThrow(/in progress/);
    await first;
    // The trainer stays usable, also after a step rejected by the worker side.
    await par.trainStep(images, labels, 8);
    await par.dispose();
  });
});
