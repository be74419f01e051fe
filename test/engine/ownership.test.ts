// One owner at a time (issue 24, items 1 and 2): dispose() during training and a second train()
// on one model end in typed errors on every path and thread count, never a hang, never weights
// that match no run; workers stop.
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { type PreparedSet, prepareImages } from '../../src/data/preprocess.js';
import { ModelBusyError, ModelDisposedError } from '../../src/engine/errors.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createPredictor } from '../../src/predict/predictor.js';
import { evaluate } from '../../src/train/evaluate.js';
import { type TrainOptions, train } from '../../src/train/train.js';
import { countWorkers } from '../helpers/workers.js';

let data: PreparedSet;
const workers = countWorkers();

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const mnist = await loadMnist();
  const count = 64 * 24;
  data = prepareImages({
    ...mnist.train,
    count,
    images: mnist.train.images.subarray(0, count * 784),
    labels: mnist.train.labels.subarray(0, count),
  });
});

const paths: [string, Pick<TrainOptions, 'fastPath' | 'threads'>][] = [
  ['fused, 1 thread', { fastPath: 'auto', threads: 1 }],
  ['fused, 2 threads', { fastPath: 'auto', threads: 2 }],
  ['tfjs', { fastPath: 'off' }],
];

/** The promise's outcome, or 'hang' when it has not settled within `ms`. */
async function settled<T>(promise: Promise<T>, ms: number): Promise<T | unknown | 'hang'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), ms);
  });
  try {
    return await Promise.race([promise.catch((err: unknown) => err), hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each(paths)('dispose during training (%s)', (_, path) => {
  test.each([0, 1, 2])(
    'trial %i: train() rejects with ModelDisposedError, workers stop',
    async (trial) => {
      const model = await createLeNet({ seed: 1 });
      const before = workers.live();
      let batches = 0;
      const run = train(model, data, {
        ...path,
        epochs: 3,
        seed: 1,
        onBatchEnd: () => {
          batches++;
          // From outside the callback, a little after this batch (different points per trial).
          if (batches === 1 + trial * 2) setTimeout(() => model.dispose(), trial * 2);
        },
      });
      const outcome = await settled(run, 20_000);
      expect(outcome).toBeInstanceOf(ModelDisposedError);
      expect(model.isDisposed).toBe(true);
      expect(workers.live()).toBe(before);
    },
  );

  test('dispose inside onBatchEnd: the run stops at the next step', async () => {
    const model = await createLeNet({ seed: 1 });
    let after = 0;
    let disposedAt = -1;
    const run = train(model, data, {
      ...path,
      epochs: 1,
      seed: 1,
      onBatchEnd: (batch) => {
        if (disposedAt >= 0) after++;
        if (batch === 2) {
          disposedAt = batch;
          model.dispose();
        }
      },
    });
    expect(await settled(run, 20_000)).toBeInstanceOf(ModelDisposedError);
    expect(after).toBe(0);
  });
});

describe.each(paths)('one trainer at a time (%s)', (_, path) => {
  test('a second train() on the model is a ModelBusyError; the first run is exact', async () => {
    const options: TrainOptions = { ...path, epochs: 1, seed: 5 };
    const solo = await createLeNet({ seed: 2 });
    await train(solo, data, options);
    const model = await createLeNet({ seed: 2 });
    const first = train(model, data, options);
    const second = train(model, data, { ...options, seed: 6 });
    const [a, b] = await Promise.allSettled([first, second]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect((b as PromiseRejectedResult).reason).toBeInstanceOf(ModelBusyError);
    // The weights are those of the first run alone, bit for bit.
    expect(model.getWeights()).toEqual(solo.getWeights());
    // After the run, the model trains again.
    await expect(train(model, data, { ...options, epochs: 1 })).resolves.toBeDefined();
    solo.dispose();
    model.dispose();
  });

  test('reads and predictions from outside the callbacks wait their turn or are refused', async () => {
    const options: TrainOptions = { ...path, epochs: 2, seed: 5 };
    const solo = await createLeNet({ seed: 4 });
    await train(solo, data, options);
    const model = await createLeNet({ seed: 4 });
    const predictor = await createPredictor(model);
    const digit = new Uint8Array(784).fill(0);
    let done = false;
    const outside: Promise<unknown>[] = [];
    const refused: unknown[] = [];
    let polls = 0;
    const poll = () => {
      if (done) return;
      polls++;
      try {
        model.getWeights();
      } catch (err) {
        refused.push(err);
      }
      outside.push(model.readWeights(), predictor.predict(digit));
      if (polls % 10 === 1) outside.push(evaluate(model, data));
      setTimeout(poll, 3);
    };
    const run = train(model, data, options);
    setTimeout(poll, 0);
    await run;
    done = true;
    const results = await Promise.allSettled(outside);
    for (const r of results) expect(r.status).toBe('fulfilled');
    for (const err of refused) expect(err).toBeInstanceOf(ModelBusyError);
    expect(polls).toBeGreaterThan(0);
    // Outside work never changed the run: the weights are the solo run's.
    expect(model.getWeights()).toEqual(solo.getWeights());
    predictor.dispose();
    solo.dispose();
    model.dispose();
  });
});
