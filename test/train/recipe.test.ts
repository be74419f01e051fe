// The trainer's quality options: per-step learning-rate schedules, AdamW weight decay,
// on-the-fly augmentation and the named recipes, on both engines. What reaches each engine step
// is recorded by wrapping the engines' trainStep.
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { augmentBatch, DEFAULT_AUGMENT } from '../../src/data/augment.js';
import { batches } from '../../src/data/batches.js';
import { loadMnist } from '../../src/data/mnist.js';
import { normalizationTable, type PreparedSet, prepareImages } from '../../src/data/preprocess.js';
import { FusedEngine } from '../../src/engine/fused/engine.js';
import { type DataParallelNet, WorkerPool } from '../../src/engine/fused/workers.js';
import {
  type AdamHyperparameters,
  type CommonExports,
  KernelWrapper,
} from '../../src/engine/fused/wrapper.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { TfjsEngine } from '../../src/engine/tfjs/engine.js';
import type { AdamSettings, StepBatch, TrainBatch } from '../../src/engine/types.js';
import { cosineSchedule } from '../../src/train/schedule.js';
import { train } from '../../src/train/train.js';

let data: PreparedSet;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const mnist = await loadMnist();
  const count = 320;
  data = prepareImages({
    ...mnist.train,
    count,
    images: mnist.train.images.subarray(0, count * 784),
    labels: mnist.train.labels.subarray(0, count),
  });
});

interface Step {
  images: Float32Array;
  adam: AdamSettings;
}

/**
 * Records every engine step (a copy of its images and its Adam settings). The fused engine
 * gathers a step inside its kernels (no float batch): without augmentation its images are those
 * of the step's indices through the normalisation table, as the kernels gather them; with
 * augmentation, the batch the calling thread's module gathers and distorts from the step's
 * indices and distortions (workers distort their shares of it alike, image by image).
 */
function recordSteps(): Step[] {
  const steps: Step[] = [];
  const indexed = FusedEngine.prototype.trainStep;
  vi.spyOn(FusedEngine.prototype, 'trainStep').mockImplementation(function (
    this: FusedEngine,
    step: StepBatch,
    adam: AdamSettings,
    read: boolean,
  ) {
    const before = steps.length;
    // With augmentation the step records before its first await (trainBatch, or the module's
    // distorted batch below).
    const pending = indexed.call(this, step, adam, read);
    if (steps.length === before) steps.push({ images: gathered(step.indices), adam: { ...adam } });
    return pending;
  });
  const distorted = (
    net: Wrapper,
    indices: Uint32Array,
    hp: AdamHyperparameters,
    d?: Float64Array,
  ) => {
    if (d !== undefined)
      steps.push({ images: net.gatheredBatch(indices, d).images, adam: { ...hp } as AdamSettings });
  };
  const wrapper = KernelWrapper.prototype as Wrapper;
  const single = wrapper.trainStepIndexed;
  vi.spyOn(wrapper, 'trainStepIndexed').mockImplementation(function (
    this: Wrapper,
    indices: Uint32Array,
    adam: AdamHyperparameters = {},
    d?: Float64Array,
  ) {
    distorted(this, indices, adam, d);
    return single.call(this, indices, adam, d);
  });
  const split = WorkerPool.prototype.trainStepIndexed;
  vi.spyOn(WorkerPool.prototype, 'trainStepIndexed').mockImplementation(function (
    this: WorkerPool,
    main: DataParallelNet,
    indices: Uint32Array,
    adam: AdamHyperparameters,
    d?: Float64Array,
  ) {
    distorted(main as unknown as Wrapper, indices, adam, d);
    return split.call(this, main, indices, adam, d);
  });
  for (const proto of [FusedEngine.prototype, TfjsEngine.prototype]) {
    const original = proto.trainBatch;
    vi.spyOn(proto, 'trainBatch').mockImplementation(function (
      this: FusedEngine | TfjsEngine,
      batch: TrainBatch,
      adam: AdamSettings,
      read: boolean,
    ) {
      steps.push({ images: batch.images.slice(0, batch.n * 1024), adam: { ...adam } });
      return original.call(this, batch, adam, read);
    });
  }
  return steps;
}

type Wrapper = KernelWrapper<CommonExports>;

/** The set's images `indices` through the normalisation table (the gatherers' floats). */
function gathered(indices: Uint32Array): Float32Array {
  const table = normalizationTable(data.mean, data.std);
  const out = new Float32Array(indices.length * 1024);
  indices.forEach((j, i) => {
    for (let p = 0; p < 1024; p++)
      out[i * 1024 + p] = table[data.images[j * 1024 + p] as number] as number;
  });
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(['auto', 'off'] as const)('train options for quality (fastPath %s)', (fastPath) => {
  test('a per-step schedule and weight decay reach every step', async () => {
    const steps = recordSteps();
    const model = await createLeNet({ seed: 1 });
    const calls: [number, number, number][] = [];
    const schedule = (epoch: number, batch: number, perEpoch: number) => {
      calls.push([epoch, batch, perEpoch]);
      return 1e-3 * (1 + epoch + batch / 10);
    };
    const history = await train(model, data, {
      epochs: 2,
      batchSize: 64,
      seed: 3,
      fastPath,
      learningRate: schedule,
      weightDecay: 0.1,
    });
    // Checked up front: every step's rate, in order, before the first step.
    expect(calls).toEqual(Array.from({ length: 10 }, (_, i) => [Math.floor(i / 5) + 1, i % 5, 5]));
    expect(steps.map((s) => s.adam.learningRate)).toEqual(
      Array.from({ length: 10 }, (_, i) => 1e-3 * (1 + (Math.floor(i / 5) + 1) + (i % 5) / 10)),
    );
    expect(steps.every((s) => s.adam.weightDecay === 0.1)).toBe(true);
    expect(history.epochs.map((e) => e.learningRate)).toEqual([1e-3 * 2.4, 1e-3 * 3.4]);
    expect(history.epochs[0]?.augmentSeconds).toBeUndefined();
    model.dispose();
  });

  test('augmentation: each step trains on the batch distorted by (seed, epoch, batch, sample)', async () => {
    const steps = recordSteps();
    const model = await createLeNet({ seed: 1 });
    const augment = { rotation: 12, translate: 2 };
    const history = await train(model, data, {
      epochs: 2,
      batchSize: 64,
      seed: 5,
      fastPath,
      augment,
    });
    expect(steps).toHaveLength(10);
    // Recompute each batch independently: shuffled batch, then the pure distortion.
    const background = normalizationTable(data.mean, data.std)[0] as number;
    for (const epoch of [1, 2]) {
      for (const batch of batches(data, { batchSize: 64, shuffle: true, seed: 5 + epoch })) {
        const expected = new Float32Array(batch.images.length);
        augmentBatch(batch.images, expected, batch.size, 32, background, augment, {
          seed: 5,
          epoch,
          batch: batch.index,
        });
        const step = steps[(epoch - 1) * 5 + batch.index] as Step;
        expect(step.images).toEqual(expected);
        expect(step.images).not.toEqual(batch.images);
      }
    }
    for (const e of history.epochs) expect(e.augmentSeconds).toBeGreaterThan(0);
    model.dispose();
  });

  test("recipe 'best': 12 epochs, AdamW 0.05, warm-up and cosine per step, distorted images", async () => {
    const steps = recordSteps();
    const model = await createLeNet({ seed: 1 });
    let planned = 0;
    const controller = new AbortController();
    const history = await train(model, data, {
      recipe: 'best',
      seed: 2,
      fastPath,
      onTrainBegin: ({ epochs }) => {
        planned = epochs;
      },
      // Three steps are enough to see the settings.
      onBatchEnd: (batch) => {
        if (batch === 2) controller.abort();
      },
      signal: controller.signal,
    });
    expect(history.aborted).toBe(true);
    expect(planned).toBe(12);
    expect(steps).toHaveLength(3);
    const expected = cosineSchedule({ peak: 2e-3, epochs: 12, warmupEpochs: 1 });
    steps.forEach((s, i) => {
      expect(s.adam.learningRate).toBe(expected(1, i, 5));
      expect(s.adam.weightDecay).toBe(0.05);
    });
    // Distorted: not the plain batch.
    const plain = batches(data, { batchSize: 64, shuffle: true, seed: 3 }).next().value;
    expect(steps[0]?.images).not.toEqual(plain?.images);
    // Options next to the recipe win over it.
    vi.restoreAllMocks();
    const steps2 = recordSteps();
    await train(model, data, {
      recipe: 'best',
      epochs: 1,
      weightDecay: 0,
      augment: false,
      learningRate: 5e-4,
      seed: 2,
      fastPath,
    });
    expect(steps2.map((s) => s.adam.learningRate)).toEqual([5e-4, 5e-4, 5e-4, 5e-4, 5e-4]);
    expect(steps2.every((s) => s.adam.weightDecay === undefined)).toBe(true);
    expect(steps2[0]?.images).toEqual(plain?.images);
    model.dispose();
  });
});

test('the same seed gives the same weights bit for bit, with every quality option on', async () => {
  const run = async () => {
    const model = await createLeNet({ seed: 4 });
    await train(model, data, {
      epochs: 2,
      seed: 9,
      augment: { ...DEFAULT_AUGMENT, elastic: 1 },
      weightDecay: 0.05,
      learningRate: cosineSchedule({ peak: 2e-3, epochs: 2, warmupEpochs: 0.5 }),
    });
    const weights = model.getWeights();
    model.dispose();
    return weights;
  };
  const a = await run();
  expect(await run()).toEqual(a);
});

test('bad quality options are refused before any work', async () => {
  const model = await createLeNet({ seed: 1 });
  await expect(train(model, data, { weightDecay: -1 })).rejects.toThrow(/weightDecay/);
  await expect(train(model, data, { weightDecay: 2000, learningRate: 1e-3 })).rejects.toThrow(
    /below 1/,
  );
  await expect(train(model, data, { recipe: 'fast' as never })).rejects.toThrow(/recipe/);
  await expect(train(model, data, { augment: { rotation: -5 } })).rejects.toThrow(/rotation/);
  await expect(
    train(model, data, {
      epochs: 2,
      learningRate: (epoch, batch) => (epoch === 2 && batch === 3 ? Number.NaN : 1e-3),
    }),
  ).rejects.toThrow(/epoch 2, batch 3/);
  // Nothing trained.
  expect(model.engine).toBeUndefined();
  model.dispose();
});

test('a run with augmentation, a per-step schedule and weight decay, interrupted and resumed at a batch, ends bit for bit like an uninterrupted one', async () => {
  const options = {
    epochs: 2,
    seed: 11,
    recipe: 'best' as const,
    augment: { ...DEFAULT_AUGMENT, elastic: 1 },
  };
  const whole = await createLeNet({ seed: 6 });
  await train(whole, data, options);
  const controller = new AbortController();
  const first = await createLeNet({ seed: 6 });
  const stopped = await train(first, data, {
    ...options,
    signal: controller.signal,
    // Stop after epoch 1, batch 2: mid-epoch, mid-warm-up.
    onBatchEnd: (batch) => {
      if (batch === 2) controller.abort();
    },
  });
  expect(stopped.aborted).toBe(true);
  const checkpoint = stopped.checkpoint;
  expect(checkpoint?.next).toEqual({ epoch: 1, batch: 3 });
  const resumed = await createLeNet({ seed: 99 });
  await train(resumed, data, { ...options, resumeFrom: checkpoint });
  expect(resumed.getWeights()).toEqual(whole.getWeights());
  for (const m of [whole, first, resumed]) m.dispose();
});
