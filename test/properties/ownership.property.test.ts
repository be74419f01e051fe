// Issue 24: the model-ownership rules as a property. Whatever is done to a model from outside
// while it trains (dispose at some point, a second train(), reads and predictions), on every
// path and thread count: train() settles (never hangs), a second trainer gets ModelBusyError, a
// dispose gives ModelDisposedError with no step after it, and an undisturbed run ends with the
// weights of the same run alone, bit for bit.
import '@tensorflow/tfjs-backend-cpu';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { type PreparedSet, prepareImages } from '../../src/data/preprocess.js';
import { ModelBusyError, ModelDisposedError } from '../../src/engine/errors.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { type TrainOptions, train } from '../../src/train/train.js';
import { params, RUNS, report } from '../helpers/fuzz.js';
import { countWorkers } from '../helpers/workers.js';

let data: PreparedSet;
const workers = countWorkers();
const solo = new Map<string, Float32Array[]>();

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const mnist = await loadMnist();
  const count = 64 * 6;
  data = prepareImages({
    ...mnist.train,
    count,
    images: mnist.train.images.subarray(0, count * 784),
    labels: mnist.train.labels.subarray(0, count),
  });
});

afterAll(() => report('ownership'));

const PATHS: Record<string, Pick<TrainOptions, 'fastPath' | 'threads'>> = {
  'fused-1': { threads: 1 },
  'fused-2': { threads: 2 },
  tfjs: { fastPath: 'off' },
};

async function soloWeights(path: string): Promise<Float32Array[]> {
  let weights = solo.get(path);
  if (weights === undefined) {
    const model = await createLeNet({ seed: 1 });
    await train(model, data, { ...PATHS[path], epochs: 2, seed: 2 });
    weights = model.getWeights();
    model.dispose();
    solo.set(path, weights);
  }
  return weights;
}

describe('model ownership', () => {
  it('outside actions during training: typed outcomes, never a hang, never mixed weights', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(PATHS)),
        fc.option(fc.integer({ min: 0, max: 11 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 11 }), { nil: undefined }),
        fc.nat(3),
        async (path, disposeAt, secondAt, delay) => {
          const model = await createLeNet({ seed: 1 });
          const before = workers.live();
          let step = 0;
          let afterDispose = 0;
          let second: Promise<unknown> | undefined;
          const run = train(model, data, {
            ...PATHS[path],
            epochs: 2,
            seed: 2,
            onBatchEnd: () => {
              if (model.isDisposed) afterDispose++;
              if (step === secondAt) second = train(model, data, { epochs: 1 }).catch((e) => e);
              if (step === disposeAt) setTimeout(() => model.dispose(), delay);
              step++;
            },
          });
          let timer: ReturnType<typeof setTimeout> | undefined;
          const outcome = await Promise.race([
            run.catch((e: unknown) => e),
            new Promise((resolve) => {
              timer = setTimeout(() => resolve('hang'), 30_000);
            }),
          ]);
          clearTimeout(timer);
          expect(outcome).not.toBe('hang');
          if (second !== undefined) expect(await second).toBeInstanceOf(ModelBusyError);
          if (outcome instanceof Error) {
            expect(outcome).toBeInstanceOf(ModelDisposedError);
            expect(afterDispose).toBe(0);
          } else if (!model.isDisposed) {
            expect(model.getWeights()).toEqual(await soloWeights(path));
          }
          model.dispose();
          expect(workers.live()).toBe(before);
        },
      ),
      { ...params('ownership'), numRuns: Math.max(6, Math.round(RUNS / 25)) },
    );
  });
});
