// The one `threads` setting: how 'auto' resolves (a pure function of the runtime's facts), that
// training on workers (the default where the runtime reports several cores) follows one thread
// up to float rounding, that validation split over workers gives the main thread's figures
// exactly, and that workers never outlive `train` (several calls, aborts).
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import {
  detectEnvironment,
  MAX_AUTO_THREADS,
  type RuntimeEnvironment,
  resolveThreads,
} from '../../src/backend/env.js';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { type PreparedSet, prepareImages } from '../../src/data/preprocess.js';
import { FusedEngine } from '../../src/engine/fused/engine.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { OptionError } from '../../src/errors.js';
import { platform } from '../../src/platform/index.js';
import { evaluate, evaluateOn } from '../../src/train/evaluate.js';
import { train } from '../../src/train/train.js';
import { countWorkers } from '../helpers/workers.js';

const workers = countWorkers();
let train2k: PreparedSet;
let test1k: PreparedSet;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const mnist = await loadMnist();
  const head = (set: typeof mnist.train, count: number) => ({
    ...set,
    count,
    images: set.images.subarray(0, count * 784),
    labels: set.labels.subarray(0, count),
  });
  train2k = prepareImages(head(mnist.train, 2000));
  test1k = prepareImages(head(mnist.test, 1000));
});

/** A runtime that reports `cores` cores (and workers unless told otherwise). */
function runtime(cores: number | undefined, more: Partial<RuntimeEnvironment> = {}) {
  return { ...detectEnvironment(), cores, workers: true, ...more };
}

describe('resolveThreads', () => {
  const fused64 = { kind: 'fused', batchSize: 64 } as const;

  test("'auto': one thread per reported core, at most 4; 1 where threads cannot win", () => {
    expect(resolveThreads('auto', fused64, runtime(2))).toEqual({
      threads: 2,
      reason: 'one per reported CPU core (2)',
    });
    expect(resolveThreads('auto', fused64, runtime(1))).toEqual({
      threads: 1,
      reason: 'the runtime reports 1 CPU core',
    });
    expect(resolveThreads('auto', fused64, runtime(3)).threads).toBe(3);
    expect(resolveThreads('auto', fused64, runtime(16))).toEqual({
      threads: MAX_AUTO_THREADS,
      reason: `one per reported CPU core (16, at most ${MAX_AUTO_THREADS})`,
    });
    expect(resolveThreads('auto', fused64, runtime(undefined)).threads).toBe(1);
    expect(resolveThreads('auto', fused64, runtime(8, { workers: false }))).toEqual({
      threads: 1,
      reason: 'this runtime cannot start worker threads',
    });
  });

  test("'auto' gives each thread at least 16 images of a training batch", () => {
    const on8 = runtime(8);
    expect(resolveThreads('auto', { kind: 'fused', batchSize: 31 }, on8).threads).toBe(1);
    expect(resolveThreads('auto', { kind: 'fused', batchSize: 16 }, on8).reason).toMatch(
      /batch of 16/,
    );
    expect(resolveThreads('auto', { kind: 'fused', batchSize: 32 }, on8).threads).toBe(2);
    expect(resolveThreads('auto', { kind: 'fused', batchSize: 48 }, on8).threads).toBe(3);
    expect(resolveThreads('auto', { kind: 'fused', batchSize: 4096 }, on8).threads).toBe(4);
  });

  test("tfjs' WASM backend: 'auto' needs shared-memory WASM threads (isolated pages), half the cores", () => {
    const wasm = { kind: 'wasm-backend' } as const;
    const node = runtime(8);
    expect(resolveThreads('auto', wasm, node)).toEqual({
      threads: 1,
      reason: `tfjs-backend-wasm runs single-threaded in ${node.runtime}`,
    });
    const wasmThreads = { wasm: { simd: true, relaxedSimd: true, threads: true } };
    // Half the cores: tfjs' threaded build runs no more.
    expect(resolveThreads('auto', wasm, runtime(2, wasmThreads)).threads).toBe(1);
    expect(resolveThreads('auto', wasm, runtime(4, wasmThreads)).threads).toBe(2);
    expect(resolveThreads('auto', wasm, runtime(16, wasmThreads)).threads).toBe(4);
    const plainPage = runtime(8, { runtime: 'browser' });
    expect(resolveThreads('auto', wasm, plainPage).reason).toMatch(/cross-origin isolated/);
  });

  test('explicit counts are used as given; bad values are OptionErrors naming the option', () => {
    expect(resolveThreads(3, fused64, runtime(1))).toEqual({ threads: 3, reason: 'as asked' });
    expect(resolveThreads(1, fused64, runtime(8)).threads).toBe(1);
    for (const bad of [0, -1, 1.5, Number.NaN, '2', 'many', null]) {
      const call = () => resolveThreads(bad as number, fused64, runtime(2));
      expect(call).toThrow(OptionError);
      expect(call).toThrow(RangeError);
      expect(call).toThrow(/^threads must be 'auto' or an integer >= 1/);
    }
  });

  test('the runtime reports the cores Node does', () => {
    expect(detectEnvironment().cores).toBe(availableParallelism());
    expect(detectEnvironment().workers).toBe(true);
  });

  test('train and initBackend reject bad threads before any work', async () => {
    const model = await createLeNet({ seed: 1 });
    const before = tf.memory().numTensors;
    for (const bad of [0, 2.5, 'all']) {
      const err = await train(model, train2k, { threads: bad as number }).catch((e) => e);
      expect(err).toBeInstanceOf(OptionError);
      expect((err as OptionError).option).toBe('threads');
      await expect(initBackend({ threads: bad as number })).rejects.toThrow(OptionError);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(workers.live()).toBe(0);
    model.dispose();
  });
});

/** Max of |a - b| / max(1, |b|) over all parameters. */
function maxError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
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

describe('training on threads', () => {
  test("the default is 'auto', resolved as resolveThreads says for this runtime", async () => {
    const model = await createLeNet({ seed: 4 });
    const history = await train(model, { ...train2k, count: 128 }, { epochs: 1, seed: 1 });
    const expected = resolveThreads('auto', { kind: 'fused', batchSize: 64 });
    expect(history.threads).toBe(expected.threads);
    expect(history.threadsReason).toBe(expected.reason);
    expect(model.engine?.threads).toBe(1); // the workers stop when train returns
    expect(workers.live()).toBe(0);
    const small = await train(model, { ...train2k, count: 64 }, { epochs: 1, batchSize: 16 });
    expect(small.threads).toBe(1);
    expect(small.threadsReason).toMatch(/batch of 16/);
    const ops = await train(model, { ...train2k, count: 64 }, { epochs: 1, fastPath: 'off' });
    expect(ops.path).toBe('tfjs');
    expect(ops).toMatchObject({ threads: 1, threadsReason: 'the tfjs path trains on one thread' });
    expect(workers.live()).toBe(0);
    model.dispose();
  });

  test.each([
    ['auto', 'auto'],
    ['2 threads', 2],
    ['3 threads, with augmentation', 3],
  ] as const)(
    '%s trains like 1 thread: losses within 1e-4 per step, weights within 1e-5',
    async (_, threads) => {
      const augment = typeof threads === 'number' && threads === 3;
      const data = { ...train2k, count: 64 * 8 + 40 }; // a short last batch too
      const runs = [];
      for (const t of [1, threads]) {
        const model = await createLeNet({ seed: 11 });
        const losses: number[] = [];
        const history = await train(model, data, {
          epochs: 1,
          seed: 3,
          threads: t,
          augment,
          onBatchEnd: (_, logs) => {
            losses.push(logs.loss);
          },
        });
        runs.push({ losses, history, weights: model.getWeights() });
        model.dispose();
      }
      const [one, many] = runs as [(typeof runs)[0], (typeof runs)[0]];
      if (threads !== 'auto' || availableParallelism() > 1) {
        expect(many.history.threads).toBeGreaterThan(1);
      }
      expect(many.losses).toHaveLength(9);
      one.losses.forEach((loss, step) => {
        expect(Math.abs(loss - (many.losses[step] as number))).toBeLessThan(
          1e-4 * Math.max(1, loss),
        );
      });
      expect(maxError(many.weights, one.weights)).toBeLessThan(1e-5);
      expect(workers.live()).toBe(0);
    },
  );

  test('validation split over workers gives the main thread figures exactly', async () => {
    const model = await createLeNet({ seed: 5 });
    const history = await train(
      model,
      { ...train2k, count: 256 },
      {
        epochs: 1,
        seed: 2,
        threads: 2,
        validationData: test1k,
      },
    );
    expect(history.threads).toBe(2);
    // Now at rest, on one thread: the same weights, evaluated on the main thread.
    expect(model.engine?.threads).toBe(1);
    const main = await evaluate(model, test1k);
    expect(history.epochs[0]?.valAccuracy).toBe(main.accuracy);
    expect(history.epochs[0]?.valLoss).toBe(main.loss);

    // The engine's split forward, directly: same count, accuracy, loss, confusion, bit for bit.
    const engine = await FusedEngine.create(model.getWeights(), 'test');
    const single = await evaluateOn(engine, test1k, 32);
    await engine.setThreads(3);
    const split = await evaluateOn(engine, test1k, 32);
    expect(split).toEqual(single);
    expect(split.count).toBe(1000);
    expect(workers.live()).toBe(2);
    await engine.dispose();
    expect(workers.live()).toBe(0);
    model.dispose();
  });

  test('workers and tensors stay flat over several threaded train calls', async () => {
    const model = await createLeNet({ seed: 6 });
    const data = { ...train2k, count: 256 };
    await train(model, data, { epochs: 1, threads: 2, validationData: test1k });
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) {
      const history = await train(model, data, { epochs: 1, threads: 2, validationData: test1k });
      expect(history.threads).toBe(2);
      expect(workers.live()).toBe(0);
      expect(tf.memory().numTensors).toBe(tensors);
    }
    model.dispose();
  });

  test("workers that cannot start: 'auto' trains on one thread and says why; a count rejects", async () => {
    const model = await createLeNet({ seed: 10 });
    const data = { ...train2k, count: 128 };
    const refuse = () => {
      throw new Error('blocked by worker-src');
    };
    vi.mocked(platform.startWorker).mockImplementationOnce(refuse);
    const history = await train(model, data, { epochs: 1, threads: 'auto' });
    if (resolveThreads('auto', { kind: 'fused', batchSize: 64 }).threads > 1) {
      expect(history.threads).toBe(1);
      expect(history.threadsReason).toMatch(/^workers could not start \(.*blocked by worker-src/);
    }
    vi.mocked(platform.startWorker).mockImplementationOnce(refuse);
    await expect(train(model, data, { epochs: 1, threads: 2 })).rejects.toThrow(
      /blocked by worker-src/,
    );
    expect(workers.live()).toBe(0);
    expect(model.engine?.threads).toBe(1);
    model.dispose();
  });

  test('abort during a threaded epoch stops at the next batch and leaves no workers', async () => {
    const model = await createLeNet({ seed: 7 });
    const controller = new AbortController();
    let seen = 0;
    const history = await train(model, train2k, {
      epochs: 3,
      threads: 2,
      signal: controller.signal,
      onBatchEnd: () => {
        seen++;
        if (seen === 3) controller.abort();
      },
    });
    expect(history.aborted).toBe(true);
    expect(seen).toBe(3);
    expect(history.epochs[0]?.batches).toBe(3);
    expect(history.checkpoint?.next).toEqual({ epoch: 1, batch: 3 });
    expect(workers.live()).toBe(0);
    expect(model.engine?.threads).toBe(1);
    model.dispose();
  });

  test('a resumed threaded run ends with the weights of an uninterrupted one', async () => {
    const data = { ...train2k, count: 64 * 6 };
    const options = { epochs: 2, seed: 9, threads: 2, augment: true } as const;
    const whole = await createLeNet({ seed: 8 });
    await train(whole, data, options);
    const parted = await createLeNet({ seed: 8 });
    const controller = new AbortController();
    const first = await train(parted, data, {
      ...options,
      signal: controller.signal,
      onBatchEnd: (batch, _, __) => {
        if (batch === 3) controller.abort();
      },
    });
    expect(first.aborted).toBe(true);
    await train(parted, data, { ...options, resumeFrom: first.checkpoint });
    expect(maxError(parted.getWeights(), whole.getWeights())).toBe(0);
    expect(workers.live()).toBe(0);
    whole.dispose();
    parted.dispose();
  });
});
