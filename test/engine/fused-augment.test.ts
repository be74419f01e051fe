// Augmentation inside the fused kernels (issue 23): with a training set bound with `augment`, the
// fused engine keeps the 8-bit set in its module (and each worker's) and each step sends its
// indices plus each image's drawn distortion (8 numbers); the module gathers, normalises and
// distorts the batch. The distorted batch must equal `augmentBatch`'s (the CPU gatherer's) bit
// for bit, and so every step must equal the step on the CPU gatherer's floats, on one thread and
// on workers; no float batch is built in JS.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import {
  type AugmentOptions,
  checkAugmentOptions,
  DEFAULT_AUGMENT,
} from '../../src/data/augment.js';
import { mulberry32 } from '../../src/data/batches.js';
import type { PreparedSet } from '../../src/data/preprocess.js';
import { normalizationTable } from '../../src/data/preprocess.js';
import { FusedLeNetError } from '../../src/engine/errors.js';
import { augmentParams, FusedEngine } from '../../src/engine/fused/engine.js';
import { instantiateFusedLeNet } from '../../src/engine/fused/kernels.js';
import { compileFusedModule } from '../../src/engine/fused/load.js';
import { instantiateFusedNet } from '../../src/engine/fused/net-kernels.js';
import { AUGMENT_PARAMS, type ModuleTrainingSet } from '../../src/engine/fused/trainset.js';
import { BatchGatherer, CpuTrainingFeed } from '../../src/engine/gather.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { engineModel } from '../../src/engine/model.js';
import type { AdamSettings, Model, StepBatch, TrainingSet } from '../../src/engine/types.js';
import { buildLayers } from '../../src/model/layers.js';
import { platform } from '../../src/platform/index.js';
import { trainOnFloats } from '../helpers/float-step.js';

/** The type of every message posted to a worker. */
const posted: string[] = [];
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const startWorker = platform.startWorker.bind(platform);
  vi.spyOn(platform, 'startWorker').mockImplementation((source) => {
    const handle = startWorker(source);
    const post = handle.post.bind(handle);
    handle.post = (message, transfer) => {
      posted.push((message as { type: string }).type);
      post(message, transfer);
    };
    return handle;
  });
});
afterEach(() => {
  posted.length = 0;
});

const MODELS: { name: string; make: () => Promise<Model> }[] = [
  { name: 'default LeNet (hand-tuned kernels)', make: () => createLeNet({ seed: 5 }) },
  { name: 'MLP (generic kernels)', make: () => createMlp({ hidden: [37], seed: 5 }) },
];

const OPTIONS: { name: string; options: AugmentOptions }[] = [
  { name: 'DEFAULT_AUGMENT', options: DEFAULT_AUGMENT },
  {
    name: 'elastic 2 on a 5x5 grid, probability 0.5',
    options: { ...DEFAULT_AUGMENT, elastic: 2, elasticGrid: 5, probability: 0.5 },
  },
];

/** Wide ranges: points far outside the image, a 64x64 field, the edges of every range. */
const EXTREME: AugmentOptions = {
  rotation: 180,
  scale: 0.9,
  shear: 2,
  translate: 20,
  elastic: 3,
  elasticGrid: 64,
  probability: 0.9,
};

/** `count` random 8-bit images of `side`² with random labels, as prepareImages gives them. */
function randomSet(side: number, count: number, seed: number): PreparedSet {
  const random = mulberry32(seed);
  const images = new Uint8Array(count * side * side);
  for (let i = 0; i < images.length; i++) images[i] = random() < 0.7 ? 0 : (random() * 256) | 0;
  const labels = Uint8Array.from({ length: count }, () => (random() * 10) | 0);
  return { images, labels, count, height: side, width: side, mean: 0.1307, std: 0.3081 };
}

/** A step of `n` distinct indices of a set of `count`, in a seeded order. */
function stepOf(count: number, n: number, batch: number, epoch = 1): StepBatch {
  const random = mulberry32(100 + batch);
  const indices = Uint32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [indices[i], indices[j]] = [indices[j] as number, indices[i] as number];
  }
  return { indices: indices.subarray(0, n), epoch, batch };
}

function augmented(data: PreparedSet, options: AugmentOptions, seed = 3): TrainingSet {
  return { data, augment: { options: checkAugmentOptions(options), seed } };
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

const ADAM: AdamSettings = { learningRate: 2e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

describe.each(MODELS)('$name: the module distorts as augmentBatch, bit for bit', ({ make }) => {
  it.each([...OPTIONS, { name: 'extreme ranges', options: EXTREME }])(
    '$name',
    async ({ options }) => {
      const model = engineModel(await make());
      const side = model.spec.inputSize;
      const kernels = (await model.engineFor()).info.kernels;
      const compiled = await compileFusedModule(kernels === 'lenet' ? {} : { kernels: 'generic' });
      const net =
        kernels === 'lenet'
          ? await instantiateFusedLeNet(compiled.variant, compiled.module)
          : await instantiateFusedNet(
              compiled.variant,
              compiled.module,
              buildLayers(model.spec),
              side,
            );
      net.setParams(model.getWeights());
      const data = randomSet(side, 200, 9);
      const set = augmented(data, options);
      const checked = checkAugmentOptions(options);
      const moduleSet: ModuleTrainingSet = {
        images: data.images,
        labels: data.labels,
        count: data.count,
        table: normalizationTable(data.mean, data.std),
        augment: { elastic: checked.elastic, grid: checked.elasticGrid },
      };
      net.bindSet(moduleSet);
      const gatherer = new BatchGatherer(set);
      const plain = new BatchGatherer({ data });
      for (const [b, n] of [
        [0, 64],
        [1, 64],
        [7, 41],
      ] as const) {
        const step = stepOf(data.count, n, b, 2);
        const key = { seed: 3, epoch: 2, batch: b };
        const params = augmentParams(checked, key, n, new Float64Array(n * AUGMENT_PARAMS));
        const inModule = net.gatheredBatch(step.indices, params);
        const reference = gatherer.batch(step);
        expect(inModule.labels).toEqual(reference.labels);
        expect(bits(inModule.images)).toEqual(bits(reference.images));
        // The test can fail: the distorted batch is not the plain one.
        const undistorted = plain.batch(step).images;
        let changed = 0;
        for (let i = 0; i < undistorted.length; i++) {
          if (undistorted[i] !== inModule.images[i]) changed++;
        }
        expect(changed).toBeGreaterThan(undistorted.length / 10);
      }
      // A set bound with augmentation needs each step's distortions, and enough of them.
      const indices = stepOf(data.count, 8, 0).indices;
      expect(() => net.gatheredBatch(indices)).toThrow(FusedLeNetError);
      expect(() => net.gatheredBatch(indices, new Float64Array(8))).toThrow(/too few/);
      net.dispose();
      model.dispose();
    },
  );
});

describe.each(MODELS)('$name: augmented steps inside the kernels', ({ make }) => {
  describe.each(OPTIONS)('$name', ({ options }) => {
    it.each([1, 2, 3])(
      '%i thread(s): each step equals the step on augmentBatch floats bit for bit; no float batch in JS',
      async (threads) => {
        const [aModel, bModel] = [engineModel(await make()), engineModel(await make())];
        const [a, b] = [await aModel.engineFor(), await bModel.engineFor()];
        expect(a).toBeInstanceOf(FusedEngine);
        await a.setThreads(threads);
        await b.setThreads(threads);
        const data = randomSet(aModel.spec.inputSize, 300, 7);
        const set = augmented(data, options);
        const bind = vi.spyOn(CpuTrainingFeed.prototype, 'bind');
        const batch = vi.spyOn(BatchGatherer.prototype, 'batch');
        a.bindTrainingSet(set);
        const steps = [0, 1, 2, 3].map((s) => stepOf(data.count, s === 3 ? 41 : 64, s)); // 41: unequal shares
        const indexed = [];
        for (const [i, step] of steps.entries()) {
          // As train() does: the next step is announced while this one runs.
          const pending = a.trainStep(step, ADAM, true);
          const next = steps[i + 1];
          if (next !== undefined) a.prepareStep(next);
          indexed.push(await pending);
        }
        // The CPU gatherer was never bound nor asked for a batch: no floats built in JS.
        expect(bind).not.toHaveBeenCalled();
        expect(batch).not.toHaveBeenCalled();
        bind.mockRestore();
        batch.mockRestore();
        if (threads > 1) {
          expect(posted).toContain('bind');
          expect(posted).toContain('stepIndexed');
          expect(posted).not.toContain('step'); // no pixels posted
        }
        const gatherer = new BatchGatherer(set);
        for (const [i, step] of steps.entries()) {
          expect(indexed[i]).toEqual(await trainOnFloats(b, gatherer.batch(step), ADAM, true));
        }
        expect(a.getWeights()).toEqual(b.getWeights());
        expect(await a.readOptimizerState()).toEqual(await b.readOptimizerState());
        const [ta, tb] = [await a.takeTotals(), await b.takeTotals()];
        expect({ lossSum: ta.lossSum, correct: ta.correct }).toEqual({
          lossSum: tb.lossSum,
          correct: tb.correct,
        });
        expect(ta.augmentSeconds).toBeGreaterThan(0); // drawing and the own share's distortion
        expect((await a.takeTotals()).augmentSeconds).toBe(0);
        // Unbound and bound again without augmentation: plain indexed steps, as before.
        a.bindTrainingSet({ data });
        b.setWeights(a.getWeights());
        b.setOptimizerState(await a.readOptimizerState());
        const step = stepOf(data.count, 64, 5);
        expect(await a.trainStep(step, ADAM, true)).toEqual(
          await trainOnFloats(b, new BatchGatherer({ data }).batch(step), ADAM, true),
        );
        a.unbindTrainingSet();
        await a.dispose();
        await b.dispose();
        aModel.dispose();
        bModel.dispose();
      },
    );
  });
});

describe('a set the module cannot distort stays with the CPU gatherer', () => {
  it('a non-square set of the input size, bound with augmentation, is gathered on the CPU', async () => {
    const model = engineModel(await createLeNet({ seed: 5 }));
    const engine = await model.engineFor();
    const square = randomSet(32, 100, 3);
    const data = { ...square, width: 16, height: 64 };
    const batch = vi.spyOn(BatchGatherer.prototype, 'batch');
    engine.bindTrainingSet(augmented(data, DEFAULT_AUGMENT));
    const stats = await engine.trainStep(stepOf(100, 32, 0), ADAM, true);
    expect(Number.isFinite(stats?.loss)).toBe(true);
    expect(batch).toHaveBeenCalledTimes(1);
    batch.mockRestore();
    engine.unbindTrainingSet();
    model.dispose();
  });
});
