// One contract, every engine: the same model, initial weights and batches through each
// implementation of `Engine` must give the same per-step losses and, after several Adam steps,
// the same parameters as a reference (tfjs ops on tfjs-backend-cpu), read back through the
// engine's own weight and optimizer-state accessors. Then what every engine promises beyond the
// numbers: its Adam state moves to a fresh engine and training continues identically there,
// forward matches, and dispose frees what it held (tensors, workers).
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { mulberry32 } from '../../src/data/batches.js';
import type { PreparedSet } from '../../src/data/preprocess.js';
import { FusedEngine } from '../../src/engine/fused/engine.js';
import { TfjsEngine } from '../../src/engine/tfjs/engine.js';
import type { AdamSettings, Engine } from '../../src/engine/types.js';
import { pytorchDefaultInit } from '../../src/model/init.js';
import type { LeNetSpec } from '../../src/model/types.js';
import { countWorkers } from '../helpers/workers.js';

const SPEC: LeNetSpec = {
  kind: 'lenet',
  inputSize: 32,
  pooling: 'max',
  activation: 'relu',
  conv2Activation: false,
};
const STEPS = 5;
const N = 24;
const ADAM: AdamSettings = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
/** AdamW with a rate that changes every step (a warm-up, then decay), as schedules give. */
const ADAMW = (step: number): AdamSettings => ({
  ...ADAM,
  learningRate: [5e-4, 1.5e-3, 3e-3, 2e-3, 1e-3][step] as number,
  weightDecay: 0.5,
});

function batch(n: number, seed: number) {
  const rand = mulberry32(seed);
  return {
    images: Float32Array.from({ length: n * 1024 }, () => 2 * rand() - 1),
    labels: Uint8Array.from({ length: n }, () => Math.floor(rand() * 10)),
    n,
  };
}

/** `n` random 8-bit 32x32 images and labels, normalised to [-1, 1] by the engines. */
function pixelSet(n: number, seed: number): PreparedSet {
  const rand = mulberry32(seed);
  return {
    images: Uint8Array.from({ length: n * 1024 }, () => Math.floor(rand() * 256)),
    labels: Uint8Array.from({ length: n }, () => Math.floor(rand() * 10)),
    count: n,
    height: 32,
    width: 32,
    mean: 0.5,
    std: 0.5,
  };
}

/**
 * One step through the contract: the set bound, the step by its indices (in reverse, so the
 * gathering is exercised), as the trainer does.
 */
function stepOn(engine: Engine, set: PreparedSet, adam: AdamSettings, read: boolean) {
  engine.bindTrainingSet({ data: set });
  const indices = Uint32Array.from({ length: set.count }, (_, i) => set.count - 1 - i);
  return engine.trainStep({ indices, epoch: 1, batch: 0 }, adam, read);
}

/** Max of |a - b| / max(1, |b|) over all elements (absolute for these sub-1 values). */
function maxError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
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

interface Run {
  losses: number[];
  correct: number[];
  weights: Float32Array[];
  logits: Float32Array;
}

const init = pytorchDefaultInit(SPEC, 21);
const probe = batch(5, 99);

async function run(
  engine: Engine,
  adam: (step: number) => AdamSettings = () => ADAM,
): Promise<Run> {
  const losses: number[] = [];
  const correct: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const stats = await stepOn(engine, pixelSet(N, 300 + step), adam(step), true);
    losses.push(stats?.loss as number);
    correct.push(stats?.correct as number);
  }
  return {
    losses,
    correct,
    weights: await engine.readWeights(),
    logits: (await engine.forward(probe.images, probe.n)).slice(),
  };
}

let reference: Run;
let referenceW: Run;

/** Workers started and not yet terminated. */
const workers = countWorkers();

beforeAll(async () => {
  await tf.setBackend('cpu');
  const engine = new TfjsEngine(SPEC, 32, init, 'reference');
  reference = await run(engine);
  await engine.dispose();
  const engineW = new TfjsEngine(SPEC, 32, init, 'reference');
  referenceW = await run(engineW, ADAMW);
  await engineW.dispose();
  await initBackend({ backend: 'wasm' });
});

const factories: [string, () => Promise<Engine>][] = [
  ['tfjs on wasm', async () => new TfjsEngine(SPEC, 32, init, 'contract')],
  ['fused, 1 thread', () => FusedEngine.create(init, 'contract')],
  [
    'fused, 2 threads',
    async () => {
      const e = await FusedEngine.create(init, 'contract');
      await e.setThreads(2);
      return e;
    },
  ],
  [
    'fused, 3 threads',
    async () => {
      const e = await FusedEngine.create(init, 'contract');
      await e.setThreads(3);
      return e;
    },
  ],
];

const open: Engine[] = [];
afterAll(async () => {
  await Promise.all(open.map((e) => e.dispose()));
});

describe.each(factories)('engine contract: %s', (_, make) => {
  it('trains like the reference: per-step losses within 1e-4, parameters within 1e-5', async () => {
    const engine = await make();
    open.push(engine);
    const result = await run(engine);
    result.losses.forEach((loss, i) => {
      const ref = reference.losses[i] as number;
      expect(Math.abs(loss - ref), `step ${i}`).toBeLessThan(1e-4 * Math.max(1, ref));
    });
    expect(result.correct).toEqual(reference.correct);
    expect(maxError(result.weights, reference.weights)).toBeLessThan(1e-5);
    expect(maxError([result.logits], [reference.logits])).toBeLessThan(1e-4);
    const totals = await engine.takeTotals();
    const lossSum = reference.losses.reduce((a, b) => a + b * N, 0);
    expect(Math.abs(totals.lossSum - lossSum)).toBeLessThan(1e-3 * lossSum);
    expect(totals.correct).toBe(reference.correct.reduce((a, b) => a + b, 0));
    expect(await engine.takeTotals()).toEqual({ lossSum: 0, correct: 0, augmentSeconds: 0 });
  });

  it('AdamW with a per-step learning rate trains like the reference', async () => {
    const engine = await make();
    open.push(engine);
    const result = await run(engine, ADAMW);
    result.losses.forEach((loss, i) => {
      const ref = referenceW.losses[i] as number;
      expect(Math.abs(loss - ref), `step ${i}`).toBeLessThan(1e-4 * Math.max(1, ref));
    });
    expect(result.correct).toEqual(referenceW.correct);
    expect(maxError(result.weights, referenceW.weights)).toBeLessThan(1e-5);
    await engine.takeTotals();
    // The decay is visible: the same rates without it end elsewhere, by far more than the
    // tolerance (about 9e-3 here).
    const plain = await make();
    open.push(plain);
    const without = await run(plain, (step) => ({ ...ADAMW(step), weightDecay: 0 }));
    expect(maxError(result.weights, without.weights)).toBeGreaterThan(1e-3);
  });

  it('weight decay 0 is plain Adam, bit for bit', async () => {
    const a = await make();
    const b = await make();
    open.push(a, b);
    for (let step = 0; step < 2; step++) {
      await stepOn(a, pixelSet(N, 800 + step), ADAM, false);
      await stepOn(b, pixelSet(N, 800 + step), { ...ADAM, weightDecay: 0 }, false);
    }
    expect(b.getWeights()).toEqual(a.getWeights());
    expect(await b.readOptimizerState()).toEqual(await a.readOptimizerState());
  });

  it('weights and Adam state move to a fresh engine, which continues identically', async () => {
    const a = await make();
    const b = await make();
    open.push(a, b);
    for (let step = 0; step < 2; step++) await stepOn(a, pixelSet(N, 500 + step), ADAM, false);
    const state = await a.readOptimizerState();
    expect(state.step).toBe(2);
    b.setWeights(await a.readWeights());
    b.setOptimizerState(state);
    expect(await b.readOptimizerState()).toEqual(state);
    expect(b.getWeights()).toEqual(a.getWeights());
    const next = pixelSet(N, 600);
    const la = (await stepOn(a, next, ADAM, true))?.loss as number;
    const lb = (await stepOn(b, next, ADAM, true))?.loss as number;
    expect(lb).toBe(la);
    // The same implementation and state: the same arithmetic, so the same bits.
    expect(b.getWeights()).toEqual(a.getWeights());
    b.setOptimizerState(undefined);
    expect((await b.readOptimizerState()).step).toBe(0);
  });

  it('dispose frees its tensors and stops its workers: 20 create/train/dispose cycles stay flat', async () => {
    const cycle = async () => {
      const engine = await make();
      await stepOn(engine, pixelSet(N, 700), ADAM, true);
      await engine.forward(probe.images, probe.n);
      await engine.dispose();
      await expect(async () => engine.getWeights()).rejects.toThrow();
    };
    await cycle(); // tfjs makes a few tensors once, on first use of an op: not per engine
    const before = tf.memory().numTensors;
    const workersBefore = workers.live();
    for (let i = 0; i < 20; i++) await cycle();
    expect(tf.memory().numTensors).toBe(before);
    expect(workers.live()).toBe(workersBefore);
  });
});
