/**
 * The fused WebGPU engine (WGSL) on a real WebGPU implementation without a GPU: Dawn over
 * SwiftShader. Checked against the fused WASM engine on the same weights and batches.
 */
import { SKIP_WEBGPU, useSwiftShader } from './helpers/webgpu-env.js';

useSwiftShader();

import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../src/backend/select.js';
import { FusedEngine } from '../src/engine/fused/engine.js';
import { createLeNet } from '../src/engine/lenet.js';
import { TfjsEngine } from '../src/engine/tfjs/engine.js';
import { countGpuWork, type GpuWorkCounts } from '../src/engine/webgpu/count.js';
import { WebGpuEngine } from '../src/engine/webgpu/engine.js';
import { makeBatch, maxAbsDiff } from './helpers/lenet-checks.js';

// The engine contract's settings (test/engine-contract.test.ts): Adam, and AdamW with a
// learning rate that changes every step.
const ADAM = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
const adamW = (step: number) => ({
  ...ADAM,
  learningRate: [5e-4, 1.5e-3, 3e-3, 2e-3, 1e-3][step] as number,
  weightDecay: 0.05,
});

function device(): object {
  return (tf.backend() as unknown as { device: object }).device;
}

/** Largest |a - b| / max(1, |b|) over all parameters (the engine contract's measure). */
function maxRelDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
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

function batchOf(n: number, seed: number) {
  const { pixels, labels } = makeBatch(n, seed);
  return { images: pixels, labels: Uint8Array.from(labels), n };
}

describe.skipIf(SKIP_WEBGPU)('fused WebGPU engine (Dawn over SwiftShader)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  });
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  test.each([
    ['Adam', () => ADAM],
    ['AdamW with a per-step learning rate', adamW],
  ])(
    '%s: logits, per-step losses and parameters after 5 steps match the fused WASM engine',
    async (_, settings) => {
      const model = await createLeNet({ seed: 11 });
      const weights = await model.readWeights();
      const gpu = await WebGpuEngine.create(device(), weights, 'test');
      const wasm = await FusedEngine.create(weights, 'test');
      const probe = batchOf(3, 5);
      const logitsError = maxAbsDiff(
        await gpu.forward(probe.images, 3),
        await wasm.forward(probe.images, 3),
      );
      expect(logitsError).toBeLessThan(1e-4);
      let lossSum = 0;
      let correct = 0;
      for (let step = 0; step < 5; step++) {
        const batch = batchOf(4, step + 1);
        // Steps 0 and 3 read nothing back: the totals still count them.
        const read = step !== 0 && step !== 3;
        const a = await gpu.trainStep(batch, settings(step), read);
        const b = (await wasm.trainStep(batch, settings(step), true)) as {
          loss: number;
          correct: number;
        };
        lossSum += b.loss * 4;
        correct += b.correct;
        if (!read) {
          expect(a).toBeUndefined();
          continue;
        }
        expect(Math.abs((a?.loss ?? Number.NaN) - b.loss), `step ${step}`).toBeLessThan(1e-4);
        expect(a?.correct).toBe(b.correct);
      }
      const totals = await gpu.takeTotals();
      expect(Math.abs(totals.lossSum - lossSum)).toBeLessThan(1e-4 * lossSum);
      expect(totals.correct).toBe(correct);
      expect(await gpu.takeTotals()).toEqual({ lossSum: 0, correct: 0 });
      const paramError = maxRelDiff(await gpu.readWeights(), await wasm.readWeights());
      expect(paramError).toBeLessThan(1e-4);
      const [sa, sb] = [await gpu.readOptimizerState(), await wasm.readOptimizerState()];
      expect(sa.step).toBe(5);
      expect(sb.step).toBe(5);
      expect(maxRelDiff(sa.firstMoment, sb.firstMoment)).toBeLessThan(1e-4);
      expect(maxRelDiff(sa.secondMoment, sb.secondMoment)).toBeLessThan(1e-4);
      console.log(
        `fused WebGPU vs fused WASM: logits ${logitsError.toExponential(2)}, parameters ${paramError.toExponential(2)}`,
      );
      await gpu.dispose();
      await wasm.dispose();
      model.dispose();
    },
  );

  test('dispatches and transfers per training step and inference batch, fused and op by op', async () => {
    const model = await createLeNet({ seed: 12 });
    const weights = await model.readWeights();
    const fused = await WebGpuEngine.create(device(), weights, 'test');
    const opByOp = new TfjsEngine(model.spec, 32, weights, 'test');
    const batch = batchOf(2, 3);
    const measure = async (run: () => Promise<unknown>): Promise<GpuWorkCounts> => {
      await run(); // compiles the shaders, allocates the buffers
      const counter = countGpuWork();
      try {
        await run();
      } finally {
        counter.stop();
      }
      return counter.counts;
    };
    const step = (engine: TfjsEngine | WebGpuEngine) => async () => {
      await engine.trainStep(batch, ADAM, false);
    };
    const infer = (engine: TfjsEngine | WebGpuEngine) => () => engine.forward(batch.images, 2);
    const counts = {
      fusedStep: await measure(step(fused)),
      opByOpStep: await measure(step(opByOp)),
      fusedBatch: await measure(infer(fused)),
      opByOpBatch: await measure(infer(opByOp)),
    };
    console.log(`GPU work (batch 2): ${JSON.stringify(counts)}`);
    // A training step: one upload (settings, labels, images), four dispatches, one submit, no
    // read; tfjs ops need hundreds of dispatches (forward, gradients, Adam per parameter).
    expect(counts.fusedStep).toMatchObject({ dispatches: 4, submits: 1, writes: 1, reads: 0 });
    expect(counts.fusedStep.dispatches * 10).toBeLessThanOrEqual(counts.opByOpStep.dispatches);
    expect(counts.fusedStep.writes * 10).toBeLessThanOrEqual(counts.opByOpStep.writes);
    // An inference batch: one dispatch, one upload, one read. tfjs already runs LeNet's forward
    // pass as 8 fused kernels, so a tenth is out of reach of any path that dispatches at all.
    expect(counts.fusedBatch).toMatchObject({ dispatches: 1, submits: 1, writes: 1, reads: 1 });
    expect(counts.opByOpBatch.dispatches).toBeGreaterThanOrEqual(8);
    expect(counts.fusedBatch.writes * 8).toBeLessThanOrEqual(counts.opByOpBatch.writes);
    await fused.dispose();
    await opByOp.dispose();
    model.dispose();
  });
});
