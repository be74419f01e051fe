// Batches gathered inside the fused kernels and inference on every core. With a bound training
// set (here without augmentation: fused-augment.test.ts distorts inside the kernels) the fused
// engine keeps the 8-bit set in its module (and each worker's), and each step sends only
// indices: the step must equal the CPU-gathered step bit for bit, on one thread and on workers. Predictions of large batches split over a pool of workers that
// starts lazily and stops when idle or on dispose, with logits equal to one thread's bit for bit.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { mulberry32 } from '../../src/data/batches.js';
import type { PreparedSet } from '../../src/data/preprocess.js';
import { FusedLeNetError } from '../../src/engine/errors.js';
import { FusedEngine } from '../../src/engine/fused/engine.js';
import { BatchGatherer } from '../../src/engine/gather.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { engineModel } from '../../src/engine/model.js';
import { newScores } from '../../src/engine/scores.js';
import type { AdamSettings, Model, StepBatch } from '../../src/engine/types.js';
import { platform } from '../../src/platform/index.js';
import { createPredictor } from '../../src/predict/predictor.js';
import { train } from '../../src/train/train.js';
import { trainOnFloats } from '../helpers/float-step.js';

/** Workers started and not terminated, and the type of every message posted to them. */
const posted: string[] = [];
let live = 0;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const startWorker = platform.startWorker.bind(platform);
  vi.spyOn(platform, 'startWorker').mockImplementation((source) => {
    const handle = startWorker(source);
    live++;
    const post = handle.post.bind(handle);
    handle.post = (message, transfer) => {
      posted.push((message as { type: string }).type);
      post(message, transfer);
    };
    const terminate = handle.terminate.bind(handle);
    handle.terminate = async () => {
      live--;
      await terminate();
    };
    return handle;
  });
});
afterEach(() => {
  posted.length = 0;
});

const CASES: { name: string; make: () => Promise<Model> }[] = [
  { name: 'default LeNet (hand-tuned kernels)', make: () => createLeNet({ seed: 5 }) },
  {
    name: 'LeNet avg pooling (generic kernels)',
    make: () => createLeNet({ pooling: 'avg', seed: 5 }),
  },
  { name: 'MLP (generic kernels)', make: () => createMlp({ hidden: [37], seed: 5 }) },
];

/** `count` random 8-bit images of `side`² with random labels, as prepareImages gives them. */
function randomSet(side: number, count: number, seed: number): PreparedSet {
  const random = mulberry32(seed);
  const images = new Uint8Array(count * side * side);
  for (let i = 0; i < images.length; i++) images[i] = random() < 0.7 ? 0 : (random() * 256) | 0;
  const labels = Uint8Array.from({ length: count }, () => (random() * 10) | 0);
  return { images, labels, count, height: side, width: side, mean: 0.1307, std: 0.3081 };
}

/** A step of `n` distinct indices of a set of `count`, in a seeded order. */
function stepOf(count: number, n: number, batch: number): StepBatch {
  const random = mulberry32(100 + batch);
  const indices = Uint32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [indices[i], indices[j]] = [indices[j] as number, indices[i] as number];
  }
  return { indices: indices.subarray(0, n), epoch: 1, batch };
}

const ADAM: AdamSettings = { learningRate: 2e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

async function waitFor(condition: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(CASES)('$name: batches gathered inside the kernels', ({ make }) => {
  it.each([1, 2, 3])(
    '%i thread(s): each step equals the CPU-gathered step bit for bit; workers get indices',
    async (threads) => {
      const base = live;
      const [aModel, bModel] = [engineModel(await make()), engineModel(await make())];
      const [a, b] = [await aModel.engineFor(), await bModel.engineFor()];
      expect(a).toBeInstanceOf(FusedEngine);
      await a.setThreads(threads);
      await b.setThreads(threads);
      const side = aModel.spec.inputSize;
      const set = randomSet(side, 300, 7);
      a.bindTrainingSet({ data: set });
      const gatherer = new BatchGatherer({ data: set });
      const steps = [0, 1, 2, 3].map((s) => stepOf(set.count, s === 3 ? 41 : 64, s)); // 41: unequal shares
      const indexed = [];
      for (const step of steps) {
        a.prepareStep(step);
        indexed.push(await a.trainStep(step, ADAM, true));
      }
      if (threads > 1) {
        expect(posted).toContain('bind');
        expect(posted).toContain('stepIndexed');
        expect(posted).not.toContain('step'); // no pixels posted
      }
      for (const [i, step] of steps.entries()) {
        expect(indexed[i]).toEqual(await trainOnFloats(b, gatherer.batch(step), ADAM, true));
      }
      expect(a.getWeights()).toEqual(b.getWeights());
      expect(await a.readOptimizerState()).toEqual(await b.readOptimizerState());
      expect(await a.takeTotals()).toEqual(await b.takeTotals());
      // An index past the set is a typed error naming it; nothing is applied.
      const before = a.getWeights();
      const bad = { indices: Uint32Array.of(1, 2, 300), epoch: 1, batch: 9 };
      await expect(a.trainStep(bad, ADAM, true)).rejects.toThrow(
        /indices\[2\] is 300, past the set's 300 images/,
      );
      expect(a.getWeights()).toEqual(before);
      a.unbindTrainingSet();
      await expect(a.trainStep(stepOf(300, 8, 0), ADAM, true)).rejects.toThrow(FusedLeNetError);
      // Rebinding after unbinding works, and the batch buffers moved back and forth unharmed.
      a.bindTrainingSet({ data: set });
      b.setWeights(a.getWeights());
      b.setOptimizerState(await a.readOptimizerState());
      const step = stepOf(set.count, 64, 5);
      expect(await a.trainStep(step, ADAM, true)).toEqual(
        await trainOnFloats(b, gatherer.batch(step), ADAM, true),
      );
      a.unbindTrainingSet();
      await a.dispose();
      await b.dispose();
      aModel.dispose();
      bModel.dispose();
      expect(live).toBe(base);
    },
  );
});

describe.each(CASES)('$name: predictions on every core', ({ make }) => {
  it('classifyPixels over 2 threads equals 1 thread bit for bit; the pool starts lazily, stops when idle and on dispose', async () => {
    const base = live;
    const model = engineModel(await make());
    const engine = (await model.engineFor()) as FusedEngine;
    const pre = model.preprocessing;
    const side = pre.size === 32 && pre.resize === 'bilinear' ? 28 : pre.size;
    const n = 300;
    const digits = randomSet(side, n, 11).images;
    const one = newScores(n);
    await engine.classifyPixels(digits, side, n, pre, one, 1);
    expect(live).toBe(base);
    // Small batches never start workers.
    const few = newScores(10);
    await engine.classifyPixels(digits, side, 10, pre, few, 2);
    expect(live).toBe(base);
    expect(few.probabilities).toEqual(one.probabilities.subarray(0, 100));
    expect(few.labels).toEqual(one.labels.subarray(0, 10));
    // The first large one starts the pool and waits for it (computing meanwhile could deadlock
    // Node 20, see FusedEngine.classifyPixels): it is split already.
    const kind = engine.info.kernels === 'lenet' ? 'scorePixels' : 'forward';
    const split = newScores(n);
    await engine.classifyPixels(digits, side, n, pre, split, 2);
    expect(split).toEqual(one);
    expect(live).toBe(base + 1);
    expect(posted).toContain(kind);
    // New weights reach the workers.
    const weights = engine.getWeights().map((w) => w.map((v) => v * 0.5));
    engine.setWeights(weights);
    await engine.classifyPixels(digits, side, n, pre, one, 1);
    await engine.classifyPixels(digits, side, n, pre, split, 2);
    expect(split).toEqual(one);
    // Idle for 2 s: the workers stop; the next large batch starts them again.
    await waitFor(() => live === base, 5000);
    await engine.classifyPixels(digits, side, n, pre, split, 2);
    await waitFor(() => live === base + 1);
    await engine.dispose();
    expect(live).toBe(base);
    model.dispose();
  });
});

describe('predictors split large batches over threads', () => {
  it('classifyInto and predictBatch with threads 2 give the results of threads 1 exactly', async () => {
    const base = live;
    const model = await createLeNet({ seed: 9 });
    const [p1, p2] = [
      await createPredictor(model, { threads: 1 }),
      await createPredictor(model, { threads: 2 }),
    ];
    const n = 700;
    const set = randomSet(28, n, 13);
    const out1 = { labels: new Uint8Array(n), probabilities: new Float32Array(n * 10) };
    const out2 = { labels: new Uint8Array(n), probabilities: new Float32Array(n * 10) };
    await p1.classifyInto(set.images, out1);
    for (let i = 0; i < 3; i++) {
      await p2.classifyInto(set.images, out2);
      expect(out2).toEqual(out1);
    }
    const images = Array.from({ length: n }, (_, i) => set.images.subarray(i * 784, (i + 1) * 784));
    const [b1, b2] = [await p1.predictBatch(images), await p2.predictBatch(images)];
    expect(b2).toEqual(b1);
    expect(b1.map((p) => p.label)).toEqual(Array.from(out1.labels));
    expect(b1[5]?.probabilities).toEqual(out1.probabilities.subarray(50, 60));
    expect(await p2.predict(images[3] as Uint8Array)).toEqual(b1[3]);
    p1.dispose();
    p2.dispose();
    model.dispose();
    await waitFor(() => live === base);
  });
  it('overlapping calls on a fresh predictor, while its workers start, each get their own digits', async () => {
    const base = live;
    const model = await createLeNet({ seed: 5 });
    const n = 300;
    const [a, b] = [randomSet(28, n, 21).images, randomSet(28, n, 22).images];
    b.fill(0, 0, 50 * 784); // blank digits: their empty flags must not land on a's
    const digitsOf = (set: Uint8Array) =>
      Array.from({ length: n }, (_, i) => set.subarray(i * 784, (i + 1) * 784));
    const one = await createPredictor(model, { threads: 1 });
    const [wantA, wantB] = [
      await one.predictBatch(digitsOf(a)),
      await one.predictBatch(digitsOf(b)),
    ];
    expect(wantA.map((p) => p.label)).not.toEqual(wantB.map((p) => p.label));
    // The first call waits for the pool it starts; the second packs its digits meanwhile.
    const split = await createPredictor(model, { threads: 2 });
    const [gotA, gotB] = await Promise.all([
      split.predictBatch(digitsOf(a)),
      split.predictBatch(digitsOf(b)),
    ]);
    expect(gotA).toEqual(wantA);
    expect(gotB).toEqual(wantB);
    const labels = [new Uint8Array(n), new Uint8Array(n)] as const;
    await Promise.all([
      split.classifyInto(digitsOf(a), { labels: labels[0] }),
      split.classifyInto(b, { labels: labels[1] }),
    ]);
    expect(Array.from(labels[0])).toEqual(wantA.map((p) => p.label));
    expect(Array.from(labels[1])).toEqual(wantB.map((p) => p.label));
    // The engines that prepare and score on the CPU (tfjs here) await their forward pass too.
    const [tfjsA, tfjsB] = [
      await createPredictor(model, { fastPath: 'off' }),
      await createPredictor(model, { fastPath: 'off' }),
    ];
    const sequential = [
      await tfjsA.predictBatch(digitsOf(a)),
      await tfjsA.predictBatch(digitsOf(b)),
    ];
    expect(sequential[1]?.filter((p) => p.empty)).toHaveLength(50);
    const overlapping = await Promise.all([
      tfjsB.predictBatch(digitsOf(a)),
      tfjsB.predictBatch(digitsOf(b)),
    ]);
    expect(overlapping).toEqual(sequential);
    model.dispose();
    await waitFor(() => live === base);
  });
});

describe('an inference pool gives way to training', () => {
  it('train() replaces the predictor-started pool and stops its own; later predictions split again, bit for bit', async () => {
    const base = live;
    const model = await createLeNet({ seed: 4 });
    const predictor = await createPredictor(model, { threads: 2 });
    const n = 300;
    const digits = randomSet(28, n, 2).images;
    const out = () => ({ labels: new Uint8Array(n), probabilities: new Float32Array(n * 10) });
    const first = out();
    await predictor.classifyInto(digits, first);
    await predictor.classifyInto(digits, first); // waits for the pool the first call started
    expect(live).toBe(base + 1);
    await train(model, randomSet(32, 256, 3), { epochs: 1, threads: 2, seed: 1 });
    expect(live).toBe(base); // train's workers stop when it returns
    const reference = out();
    await (await createPredictor(model, { threads: 1 })).classifyInto(digits, reference);
    expect(reference).not.toEqual(first); // the weights changed
    const again = out();
    for (let i = 0; i < 3; i++) {
      await predictor.classifyInto(digits, again);
      expect(again).toEqual(reference);
    }
    expect(live).toBe(base + 1);
    model.dispose();
    await waitFor(() => live === base);
  });
});
