// Training that diverges, is interrupted and resumed, stops early, or is repeated many times:
// the library's promises, on every engine.
import '@tensorflow/tfjs-backend-cpu';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { type PreparedSet, prepareImages } from '../../src/data/preprocess.js';
import { TrainingDivergedError } from '../../src/engine/errors.js';
import { loadModel } from '../../src/engine/io.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createPredictor } from '../../src/predict/predictor.js';
import {
  CheckpointFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  type TrainCheckpoint,
} from '../../src/train/checkpoint.js';
import { type TrainOptions, train } from '../../src/train/train.js';
import { countWorkers } from '../helpers/workers.js';

let data: PreparedSet;
let valSet: PreparedSet;

/** Workers started and not yet terminated. */
const workers = countWorkers();

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const mnist = await loadMnist();
  const head = (set: typeof mnist.train, count: number) => ({
    ...set,
    count,
    images: set.images.subarray(0, count * 784),
    labels: set.labels.subarray(0, count),
  });
  data = prepareImages(head(mnist.train, 64 * 10 + 20)); // 11 batches, the last one short
  valSet = prepareImages(head(mnist.test, 200));
});

const allFinite = (weights: Float32Array[]) => weights.every((w) => w.every(Number.isFinite));

const paths: [string, Pick<TrainOptions, 'fastPath' | 'threads'>][] = [
  ['fused, 1 thread', { fastPath: 'auto', threads: 1 }],
  ['fused, 2 threads', { fastPath: 'auto', threads: 2 }],
  ['tfjs', { fastPath: 'off' }],
];

describe.each(paths)('divergence (%s)', (_, path) => {
  test.each([
    // 1e30: the first step throws every weight to about ±1e30 (finite); the next step's
    // forward pass overflows. 1e38: the first update itself would overflow float32.
    [1e30, 1],
    [1e38, 0],
  ])(
    'learning rate %s: TrainingDivergedError at batch %i; the last finite weights stay',
    async (learningRate, badBatch) => {
      const model = await createLeNet({ seed: 3 });
      let last = model.getWeights();
      const workersBefore = workers.live();
      const err = await train(model, data, {
        ...path,
        epochs: 2,
        seed: 1,
        learningRate,
        onBatchEnd: () => {
          last = model.getWeights();
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TrainingDivergedError);
      const diverged = err as TrainingDivergedError;
      expect([diverged.epoch, diverged.batch]).toEqual([1, badBatch]);
      expect(diverged.message).toMatch(new RegExp(`epoch 1, batch ${badBatch}`));
      // The weights from before the diverged batch: finite, and savable.
      expect(model.getWeights()).toEqual(last);
      expect(allFinite(model.getWeights())).toBe(true);
      expect((await loadModel(await model.save())).getWeights()).toEqual(last);
      expect(workers.live()).toBe(workersBefore); // no worker outlives the failed run
      if (badBatch === 0) {
        // Nothing was applied: the initial weights, which train normally afterwards.
        const again = await train(model, { ...data, count: 128 }, { ...path, epochs: 1, seed: 2 });
        expect(again.epochs).toHaveLength(1);
      }
      model.dispose();
    },
  );
});

describe.each([
  ['fused, 1 thread', 'wasm', { fastPath: 'auto', threads: 1 }],
  ['fused, 2 threads', 'wasm', { fastPath: 'auto', threads: 2 }],
  ['tfjs on cpu', 'cpu', { fastPath: 'off' }],
  ['tfjs on wasm', 'wasm', { fastPath: 'off' }],
] as const)('checkpoint and resume (%s)', (_, backend, path) => {
  beforeAll(async () => {
    if (backend === 'cpu') await tf.setBackend('cpu');
  });
  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  // tfjs' cpu backend is plain JavaScript, far slower: a smaller run there (2 epochs of 5
  // batches of 8, the last one short, no validation); elsewhere 2 epochs of 11 batches of 64.
  const small = backend === 'cpu';
  // Stop points: none run, mid-epoch, the last full batch, the short last batch, mid-epoch 2.
  // The slower tfjs engines check two of them.
  const stops = small ? [3, 6] : path.fastPath === 'off' ? [4, 11] : [0, 4, 10, 11, 15];
  test.each(stops)(
    'aborted after %i batches and resumed from the bytes: the same weights, bit for bit',
    async (stop) => {
      const set = small ? { ...data, count: 8 * 4 + 5 } : data;
      const options: TrainOptions = {
        ...path,
        epochs: 2,
        batchSize: small ? 8 : 64,
        seed: 7,
        ...(small ? {} : { validationData: { ...valSet, count: 50 } }),
      };
      const reference = await createLeNet({ seed: 5 });
      const full = await train(reference, set, options);

      const model = await createLeNet({ seed: 5 });
      const controller = new AbortController();
      if (stop === 0) controller.abort();
      let ran = 0;
      const first = await train(model, set, {
        ...options,
        signal: controller.signal,
        onBatchEnd: () => {
          if (++ran === stop) controller.abort();
        },
      });
      expect(first.aborted).toBe(true);
      const checkpoint = first.checkpoint;
      const bytes = encodeCheckpoint(checkpoint as TrainCheckpoint);
      // A fresh model of the same architecture, other initial weights: all state comes from the bytes.
      const resumed = await createLeNet({ seed: 99 });
      const rest = await train(resumed, set, { ...options, seed: undefined, resumeFrom: bytes });
      expect(rest.aborted).toBe(false);
      expect(resumed.getWeights()).toEqual(reference.getWeights());
      expect(rest.epochs.map((e) => e.epoch)).toEqual([1, 2]);
      expect(rest.epochs.map((e) => e.batches)).toEqual(full.epochs.map((e) => e.batches));
      expect(rest.epochs[1]?.valLoss).toBe(full.epochs[1]?.valLoss);
      for (const m of [reference, model, resumed]) m.dispose();
    },
  );
});

test('a checkpoint from a callback resumes mid-epoch; mismatched runs are refused', async () => {
  const model = await createLeNet({ seed: 8 });
  let saved: TrainCheckpoint | undefined;
  await train(model, data, {
    epochs: 1,
    seed: 4,
    onBatchEnd: async (batch, _logs, { checkpoint }) => {
      if (batch === 6) saved = await checkpoint();
    },
  });
  const cp = saved as TrainCheckpoint;
  expect(cp.next).toEqual({ epoch: 1, batch: 7 });
  expect(cp.optimizer.step).toBe(7);
  const other = await createLeNet({ seed: 1 });
  await expect(train(other, data, { epochs: 1, seed: 5, resumeFrom: cp })).rejects.toThrow(
    /seed 4, this call 5/,
  );
  await expect(train(other, data, { epochs: 1, batchSize: 32, resumeFrom: cp })).rejects.toThrow(
    CheckpointFormatError,
  );
  await expect(
    train(other, { ...data, count: 100 }, { epochs: 1, resumeFrom: cp }),
  ).rejects.toThrow(/had 660 images, this data has 100/);
  const mlpBytes = encodeCheckpoint(cp);
  mlpBytes[0] = 0x58;
  expect(() => decodeCheckpoint(mlpBytes)).toThrow(/magic "XNMC"/);
  const resumed = await train(other, data, { epochs: 1, resumeFrom: cp });
  expect(resumed.epochs[0]?.batches).toBe(11);
  expect(other.getWeights()).toEqual(model.getWeights());
  model.dispose();
  other.dispose();
});

test('early stopping stops after `patience` epochs without improvement and restores the best', async () => {
  const model = await createLeNet({ seed: 2 });
  const weightsAt: Float32Array[][] = [];
  const history = await train(model, data, {
    epochs: 6,
    seed: 3,
    // Epochs after the first at a tiny rate barely move: no improvement beyond minDelta.
    learningRate: (epoch) => (epoch === 1 ? 1e-3 : 1e-9),
    validationData: valSet,
    earlyStopping: { patience: 2, minDelta: 1e-3 },
    onEpochEnd: () => {
      weightsAt.push(model.getWeights());
    },
  });
  expect(history.epochs).toHaveLength(3);
  expect(history.earlyStop).toEqual({ stoppedAfter: 3, bestEpoch: 1, restored: true });
  expect(model.getWeights()).toEqual(weightsAt[0]);
  await expect(train(model, data, { earlyStopping: { patience: 1 } })).rejects.toThrow(
    /give validationData/,
  );
  model.dispose();
});

test('200 create, train, predict, save, load and dispose cycles keep tensors and workers flat', async () => {
  const digit = new Uint8Array(784).fill(30);
  const cycle = async (i: number) => {
    const model = await createLeNet({ seed: i });
    await train(
      model,
      { ...data, count: 32 },
      {
        epochs: 1,
        batchSize: 16,
        fastPath: i % 2 === 0 ? 'auto' : 'off',
        threads: i % 4 === 0 ? 2 : 1,
      },
    );
    const predictor = await createPredictor(model);
    await predictor.predict(digit);
    const copy = await loadModel(await model.save());
    await createPredictor(copy, { fastPath: 'off' }).then((p) => p.predict(digit));
    model.dispose();
    copy.dispose();
  };
  await cycle(0);
  await cycle(1);
  const tensors = tf.memory().numTensors;
  const workersBefore = workers.live();
  const rss = process.memoryUsage().rss;
  for (let i = 2; i < 202; i++) await cycle(i);
  expect(tf.memory().numTensors).toBe(tensors);
  expect(workers.live()).toBe(workersBefore);
  console.log(
    `200 cycles: numTensors ${tensors} -> ${tf.memory().numTensors}, RSS ${(rss / 2 ** 20).toFixed(0)} -> ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
});

// Resuming in a new process: the Node build (npm run build), as an app runs it.
const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
test.skipIf(!existsSync(dist))(
  'an interrupted run resumed in a new process ends with the same weights, bit for bit',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lenet-resume-'));
    try {
      const script = join(dir, 'run.mjs');
      await writeFile(script, RUN_SCRIPT.replace('DIST', JSON.stringify(dist)));
      // The test's own flags (relaxed SIMD in Node 20): every run uses the same kernels.
      const run = (...args: string[]) =>
        promisify(execFile)(
          process.execPath,
          [...process.execArgv.filter((a) => a.startsWith('--experimental-wasm')), script, ...args],
          { cwd: dir },
        );
      await run('full', join(dir, 'full.weights'));
      await run('interrupt', join(dir, 'run.ckpt'));
      await run('resume', join(dir, 'run.ckpt'), join(dir, 'resumed.weights'));
      const full = await readFile(join(dir, 'full.weights'));
      const resumed = await readFile(join(dir, 'resumed.weights'));
      expect(resumed.length).toBeGreaterThan(200_000);
      expect(Buffer.compare(resumed, full)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

const RUN_SCRIPT = `
import * as lib from DIST;
const [mode, a, b] = process.argv.slice(2);
const mnist = await lib.loadMnist();
const data = lib.prepareImages({ ...mnist.train, count: 1000 });
const options = { epochs: 2, seed: 11 };
if (mode === 'full') {
  const model = await lib.createLeNet({ seed: 1 });
  await lib.train(model, data, options);
  await lib.saveModelFile(model, a);
} else if (mode === 'interrupt') {
  const model = await lib.createLeNet({ seed: 1 });
  const controller = new AbortController();
  let n = 0;
  const history = await lib.train(model, data, { ...options, signal: controller.signal,
    onBatchEnd: () => { if (++n === 20) controller.abort(); } });
  if (!history.aborted) throw new Error('not aborted');
  await lib.saveCheckpointFile(a, history.checkpoint);
} else {
  const model = await lib.createLeNet({ seed: 2 });
  await lib.train(model, data, { epochs: 2, resumeFrom: await lib.loadCheckpointFile(a) });
  await lib.saveModelFile(model, b);
}
`;
