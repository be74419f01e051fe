// Issue 24, item 7: a `resumeFrom` object is validated exactly like checkpoint bytes, and a
// checkpoint records the settings that change the result; resuming with other ones is refused
// naming each, unless allowChangedOptions.
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { type PreparedSet, prepareImages } from '../../src/data/preprocess.js';
import { createLeNet } from '../../src/engine/lenet.js';
import {
  CheckpointFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  type TrainCheckpoint,
} from '../../src/train/checkpoint.js';
import { type TrainOptions, train } from '../../src/train/train.js';

let data: PreparedSet;
let checkpoint: TrainCheckpoint;
let first = true;
const options: TrainOptions = { epochs: 2, seed: 3, threads: 1 };

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
  const model = await createLeNet({ seed: 1 });
  await train(model, data, {
    ...options,
    onBatchEnd: async (batch, _logs, context) => {
      // The first epoch's: it resumes with one epoch to go.
      if (batch === 2 && first) {
        first = false;
        checkpoint = await context.checkpoint();
      }
    },
  });
  model.dispose();
});

/** `train` resuming from `resumeFrom` on a fresh model: its rejection, or 'resolved'. */
async function resume(resumeFrom: unknown, extra: TrainOptions = {}): Promise<unknown> {
  const model = await createLeNet({ seed: 9 });
  const before = model.getWeights();
  try {
    await train(model, data, { ...options, ...extra, resumeFrom: resumeFrom as TrainCheckpoint });
    return 'resolved';
  } catch (err) {
    // A refused resume changes nothing.
    expect(model.getWeights()).toEqual(before);
    return err;
  } finally {
    model.dispose();
  }
}

describe('resumeFrom objects are validated like bytes', () => {
  const cases: [string, (cp: TrainCheckpoint) => unknown, RegExp][] = [
    [
      'next.epoch 0',
      (cp) => ({ ...cp, next: { ...cp.next, epoch: 0 } }),
      /next\.epoch must be an integer >= 1/,
    ],
    [
      'next.batch -1',
      (cp) => ({ ...cp, next: { ...cp.next, batch: -1 } }),
      /next\.batch must be an integer >= 0/,
    ],
    ['no run', (cp) => ({ ...cp, run: undefined }), /run must be an object/],
    ['epochs not an array', (cp) => ({ ...cp, epochs: 'none' }), /epochs must be an array/],
    ['short weights', (cp) => ({ ...cp, weights: cp.weights.slice(1) }), /weights: 9 arrays/],
    [
      'missing moments',
      (cp) => ({ ...cp, optimizer: { step: cp.optimizer.step } }),
      /optimizer\.firstMoment must be an array of Float32Array/,
    ],
    [
      'a NaN weight',
      (cp) => {
        const weights = cp.weights.map((w) => w.slice());
        (weights[0] as Float32Array)[3] = Number.NaN;
        return { ...cp, weights };
      },
      /weights\[0\]\[3\] is NaN/,
    ],
    [
      'epochs that do not match next.epoch',
      (cp) => ({ ...cp, next: { epoch: 2, batch: 0 } }),
      /next\.epoch 2 follows 0 finished epoch/,
    ],
  ];
  test.each(cases)('%s: CheckpointFormatError', async (_, forge, message) => {
    const err = await resume(forge(checkpoint));
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect((err as Error).message).toMatch(message);
  });

  test.each([
    ['fused', { threads: 1 }],
    ['tfjs', { fastPath: 'off' }],
  ] as const)('on the %s path, short weights are refused before any step', async (_, path) => {
    const err = await resume({ ...checkpoint, weights: [new Float32Array(3)] }, path);
    expect(err).toBeInstanceOf(CheckpointFormatError);
  });
});

describe('a checkpoint records the settings that change the result', () => {
  const changes: [string, TrainOptions, RegExp][] = [
    ['learningRate', { learningRate: 2e-3 }, /learningRate/],
    ['a schedule', { learningRate: (_epoch, b) => (b < 2 ? 1e-3 : 5e-4) }, /learningRate/],
    ['weightDecay', { weightDecay: 0.01 }, /weightDecay \(0 -> 0\.01\)/],
    ['beta1', { beta1: 0.8 }, /beta1 \(0\.9 -> 0\.8\)/],
    ['augment', { augment: true }, /augment \(null -> /],
    ['recipe', { recipe: 'best', epochs: 2 }, /recipe \(reference -> best\)/],
  ];
  test.each(changes)('another %s is refused, naming it', async (_, change, message) => {
    const err = await resume(checkpoint, change);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/allowChangedOptions/);
  });

  test('other data of the same size is refused; so is a combination, naming each', async () => {
    const labels = data.labels.slice();
    labels[0] = (labels[0] as number) === 0 ? 1 : 0;
    const model = await createLeNet({ seed: 9 });
    const err = await train(
      model,
      { ...data, labels },
      {
        ...options,
        beta2: 0.99,
        resumeFrom: checkpoint,
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect((err as Error).message).toMatch(/beta2 \(0\.999 -> 0\.99\), the training data/);
    model.dispose();
  });

  test('allowChangedOptions: true resumes anyway', async () => {
    expect(await resume(checkpoint, { learningRate: 2e-3, allowChangedOptions: true })).toBe(
      'resolved',
    );
  });

  test('the same options resume, from the object and from its bytes, to the same weights', async () => {
    const a = await createLeNet({ seed: 9 });
    const b = await createLeNet({ seed: 9 });
    await train(a, data, { ...options, resumeFrom: checkpoint });
    await train(b, data, { ...options, resumeFrom: encodeCheckpoint(checkpoint) });
    expect(a.getWeights()).toEqual(b.getWeights());
    a.dispose();
    b.dispose();
  });

  test('a format-1 checkpoint (no recorded settings) is read and resumes without comparing', async () => {
    const bytes = encodeCheckpoint(checkpoint);
    new DataView(bytes.buffer).setUint32(4, 1, true);
    const old = decodeCheckpoint(bytes);
    expect(old.run.settings).toBeUndefined();
    expect(await resume(bytes, { learningRate: 2e-3 })).toBe('resolved');
  });
});
