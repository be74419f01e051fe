import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist, type Mnist } from '../../src/data/mnist.js';
import { type PreparedSet, prepareImages } from '../../src/data/preprocess.js';
import { loadModel } from '../../src/engine/io.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { createPredictor } from '../../src/predict/predictor.js';
import { evaluate } from '../../src/train/evaluate.js';
import { train } from '../../src/train/train.js';

let mnist: Mnist;
let train2k: PreparedSet;
let test1k: PreparedSet;

function head(set: Mnist['train'], count: number) {
  return {
    ...set,
    count,
    images: set.images.subarray(0, count * 784),
    labels: set.labels.subarray(0, count),
  };
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  mnist = await loadMnist();
  train2k = prepareImages(head(mnist.train, 2000));
  test1k = prepareImages(head(mnist.test, 1000));
});

describe.each(['off', 'auto'] as const)('train (fastPath %s)', (fastPath) => {
  test('2,000 real images, 1 epoch: clearly beats chance on 1,000 test images', async () => {
    const model = await createLeNet({ seed: 1 });
    const before = await evaluate(model, test1k, { fastPath });
    const history = await train(model, train2k, { epochs: 1, seed: 1, fastPath });
    const after = await evaluate(model, test1k, { fastPath });
    expect(before.accuracy).toBeLessThan(0.25);
    expect(after.accuracy).toBeGreaterThan(0.5); // chance is 0.1; 32 Adam steps reach about 0.7
    expect(after.loss).toBeLessThan(before.loss);
    expect(history.epochs).toHaveLength(1);
    expect(history.epochs[0]?.loss).toBeLessThan(2.3);
    expect(after.confusion.flat().reduce((a, b) => a + b, 0)).toBe(1000);
    model.dispose();
  });

  test('callbacks fire in order with sane values; async callbacks are awaited', async () => {
    const model = await createLeNet({ seed: 2 });
    const events: string[] = [];
    const small = { ...train2k, count: 320 };
    let pending = false;
    const history = await train(model, small, {
      epochs: 2,
      batchSize: 64,
      seed: 3,
      fastPath,
      validationData: { ...test1k, count: 100 },
      logEvery: 2,
      onTrainBegin: ({ epochs, batchesPerEpoch }) => {
        events.push(`trainBegin ${epochs} ${batchesPerEpoch}`);
      },
      onEpochBegin: (epoch) => {
        events.push(`epochBegin ${epoch}`);
      },
      onBatchEnd: async (batch, logs) => {
        expect(pending).toBe(false);
        pending = true;
        await new Promise((r) => setImmediate(r)); // a macrotask: the trainer must wait for it
        pending = false;
        expect(logs.loss).toBeGreaterThan(0);
        expect(logs.accuracy).toBeGreaterThanOrEqual(0);
        expect(logs.accuracy).toBeLessThanOrEqual(1);
        events.push(`batch ${batch}`);
      },
      onEpochEnd: (epoch, logs) => {
        expect(logs.valAccuracy).toBeGreaterThanOrEqual(0);
        expect(logs.valLoss).toBeGreaterThan(0);
        expect(logs.samplesPerSecond).toBeGreaterThan(0);
        events.push(`epochEnd ${epoch}`);
      },
      onTrainEnd: (h) => {
        events.push(`trainEnd ${h.epochs.length}`);
      },
    });
    expect(events).toEqual([
      'trainBegin 2 5',
      'epochBegin 1',
      'batch 0',
      'batch 2',
      'batch 4',
      'epochEnd 1',
      'epochBegin 2',
      'batch 0',
      'batch 2',
      'batch 4',
      'epochEnd 2',
      'trainEnd 2',
    ]);
    expect(history.path).toBe(fastPath === 'off' ? 'tfjs' : 'fused');
    expect(model.engine?.kind).toBe(history.path);
    model.dispose();
  });

  test('AbortSignal stops at a batch boundary and leaves a usable model', async () => {
    const model = await createLeNet({ seed: 4 });
    const controller = new AbortController();
    let batchesSeen = 0;
    const history = await train(model, train2k, {
      epochs: 3,
      fastPath,
      signal: controller.signal,
      onBatchEnd: () => {
        batchesSeen++;
        if (batchesSeen === 5) controller.abort();
      },
    });
    expect(history.aborted).toBe(true);
    expect(batchesSeen).toBe(5);
    // Aborted after the 5th of 32 batches: epoch 1 is logged with what ran, no further epoch.
    expect(history.epochs.map((e) => e.batches)).toEqual([5]);
    const result = await evaluate(model, { ...test1k, count: 64 }, { fastPath });
    expect(Number.isFinite(result.loss)).toBe(true);
    model.dispose();
  });

  test('timers run while training: an abort timer fires on time and stops training', async () => {
    const model = await createLeNet({ seed: 13 });
    const batchSize = fastPath === 'off' ? 16 : 64;
    // Warm-up: the engine binds and tfjs compiles its kernels on the first step, once.
    await train(model, { ...train2k, count: batchSize }, { epochs: 1, batchSize, fastPath });
    const controller = new AbortController();
    const delay = 150;
    const scheduled = performance.now();
    let firedLate = Number.NaN;
    const timer = setTimeout(() => {
      firedLate = performance.now() - scheduled - delay;
      controller.abort();
    }, delay);
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    // The longest step: training yields between steps (after 50 ms of them), never inside one.
    let longestStep = 0;
    let last = performance.now();
    const history = await train(model, train2k, {
      epochs: 20,
      batchSize,
      fastPath,
      signal: controller.signal,
      onBatchEnd: () => {
        const now = performance.now();
        longestStep = Math.max(longestStep, now - last);
        last = now;
      },
    });
    clearTimeout(timer);
    clearInterval(interval);
    expect(history.aborted).toBe(true);
    // Within 100 ms of its deadline, unless one step alone took longer (a loaded machine).
    expect(firedLate).toBeLessThan(100 + Math.max(0, longestStep - 50));
    expect(ticks).toBeGreaterThan(1);
    expect(history.epochs.length).toBeLessThan(20);
    model.dispose();
  });

  test('no tensor leaks across 50 training steps, epochs and 1,000 predictions', async () => {
    const start = tf.memory().numTensors;
    const model = await createLeNet({ seed: 5 });
    const data = { ...train2k, count: 64 * 25 };
    await train(model, { ...data, count: 64 }, { epochs: 1, fastPath }); // warm-up: lazily made tensors
    const before = tf.memory().numTensors;
    await train(model, data, { epochs: 2, fastPath, logEvery: 10, onBatchEnd: () => {} });
    expect(tf.memory().numTensors).toBe(before);
    const predictor = await createPredictor(model, { fastPath });
    const images = Array.from({ length: 1000 }, (_, i) =>
      mnist.test.images.subarray(i * 784, (i + 1) * 784),
    );
    for (const img of images.slice(0, 200)) await predictor.predict(img);
    const batched = await predictor.predictBatch(images);
    expect(batched).toHaveLength(1000);
    expect(tf.memory().numTensors).toBe(before);
    predictor.dispose();
    model.dispose();
    // Disposing the model frees everything its engine held (weights and Adam's moments).
    expect(tf.memory().numTensors).toBe(start);
  });

  test('callbacks see the current weights: getWeights moves every batch and equals save()', async () => {
    const model = await createLeNet({ seed: 12 });
    const probe = { ...test1k, count: 64 };
    let previous: Float32Array[] | undefined;
    let checked = 0;
    await train(
      model,
      { ...train2k, count: 64 * 6 },
      {
        epochs: 1,
        seed: 2,
        fastPath,
        onBatchEnd: async () => {
          const now = model.getWeights();
          if (previous !== undefined) expect(now[4]).not.toEqual(previous[4]); // fc1.weight moved
          previous = now;
          // What save() writes at this moment is what getWeights() returned.
          const saved = await loadModel(await model.save());
          expect(saved.getWeights()).toEqual(now);
          // evaluate from a callback scores these weights: the saved copy scores the same.
          const live = await evaluate(model, probe, { fastPath });
          const copy = await evaluate(saved, probe, { fastPath });
          expect(live.loss).toBeCloseTo(copy.loss, 5);
          expect(live.accuracy).toBe(copy.accuracy);
          saved.dispose();
          checked++;
        },
      },
    );
    expect(checked).toBe(6);
    model.dispose();
  });
  test('a learning-rate schedule sets the step size per epoch; bad rates are refused', async () => {
    const model = await createLeNet({ seed: 6 });
    const epochsAsked: number[] = [];
    const snapshots: Float32Array[][] = [];
    await train(
      model,
      { ...train2k, count: 256 },
      {
        epochs: 2,
        fastPath,
        learningRate: (epoch) => {
          epochsAsked.push(epoch);
          return epoch === 1 ? 1e-3 : 1e-12;
        },
        onEpochEnd: () => {
          snapshots.push(model.getWeights());
        },
      },
    );
    // Every step's rate (2 epochs of 4 batches) is checked before training.
    expect(epochsAsked).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    const [first, second] = snapshots as [Float32Array[], Float32Array[]];
    let moved = 0;
    first.forEach((w, i) => {
      w.forEach((v, j) => {
        moved = Math.max(moved, Math.abs(v - ((second[i] as Float32Array)[j] as number)));
      });
    });
    expect(moved).toBeLessThan(1e-8); // epoch 2 ran at 1e-12: Adam steps are ~lr in size
    await expect(
      train(model, train2k, { epochs: 1, fastPath, learningRate: () => -1 }),
    ).rejects.toThrow(RangeError);
    model.dispose();
  });
});

test('fused and tfjs paths train alike: same per-step losses from the same start', async () => {
  const fused = await createLeNet({ seed: 9 });
  const generic = await createLeNet({ seed: 9 });
  const data = { ...train2k, count: 64 * 12 };
  const losses: Record<string, number[]> = { fused: [], tfjs: [] };
  for (const [model, fastPath] of [
    [fused, 'auto'],
    [generic, 'off'],
  ] as const) {
    const history = await train(model, data, {
      epochs: 1,
      seed: 5,
      fastPath,
      onBatchEnd: (_, logs) => {
        losses[fastPath === 'auto' ? 'fused' : 'tfjs']?.push(logs.loss);
      },
    });
    expect(history.path).toBe(fastPath === 'auto' ? 'fused' : 'tfjs');
  }
  expect(losses.fused).toHaveLength(12);
  losses.fused?.forEach((loss, i) => {
    const other = losses.tfjs?.[i] as number;
    expect(Math.abs(loss - other)).toBeLessThan(1e-3 * Math.max(1, other));
  });
  fused.dispose();
  generic.dispose();
});

test('threads: 2 splits each fused step with a worker and trains like 1 thread', async () => {
  const single = await createLeNet({ seed: 11 });
  const parallel = await createLeNet({ seed: 11 });
  const data = { ...train2k, count: 64 * 8 };
  const losses: number[][] = [[], []];
  for (const [i, model] of [single, parallel].entries()) {
    const history = await train(model, data, {
      epochs: 1,
      seed: 3,
      threads: i + 1,
      onBatchEnd: (_, logs) => {
        losses[i]?.push(logs.loss);
      },
    });
    expect(history.path).toBe('fused');
    expect(history.threads).toBe(i + 1);
    expect(model.engine?.threads).toBe(1); // the workers stop when train returns
  }
  expect(losses[1]).toHaveLength(8);
  losses[0]?.forEach((loss, step) => {
    // Only the order of float additions differs between the two.
    expect(Math.abs(loss - (losses[1]?.[step] as number))).toBeLessThan(1e-4 * Math.max(1, loss));
  });
  await expect(train(single, data, { epochs: 1, threads: 0 })).rejects.toThrow(RangeError);
  single.dispose();
  parallel.dispose();
});

test('the MLP trains with the same trainer', async () => {
  const mlp = await createMlp({ hidden: [64], seed: 1 });
  const raw = prepareImages(head(mnist.train, 2000), { resize: 'none' });
  const rawTest = prepareImages(head(mnist.test, 1000), { resize: 'none' });
  await train(mlp, raw, { epochs: 1, seed: 1 });
  expect((await evaluate(mlp, rawTest)).accuracy).toBeGreaterThan(0.7);
  await expect(train(mlp, train2k, { epochs: 1 })).rejects.toThrow(
    /images are 32x32, the model takes 28x28/,
  );
  mlp.dispose();
});
