// The generic fused kernels on 2 and 3 threads (data-parallel workers), per model: each steps
// like one thread up to float rounding, splits forward passes bit for bit, and leaves no
// workers; through train(), 'auto' trains like 1 thread and an abort leaves no workers.

import { beforeAll, describe, expect, it } from 'vitest';
import { resolveThreads } from '../../src/backend/env.js';
import { initBackend } from '../../src/backend/select.js';
import { prepareImages } from '../../src/data/preprocess.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { engineModel } from '../../src/engine/model.js';
import { evaluateOn } from '../../src/train/evaluate.js';
import { train } from '../../src/train/train.js';
import { trainOnFloats } from '../helpers/float-step.js';
import {
  ADAMW,
  batch,
  CASES,
  digits,
  maxError,
  STEPS,
  scaledError,
} from '../helpers/fused-variants.js';
import { countWorkers } from '../helpers/workers.js';

const workers = countWorkers();

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe.each(CASES)('$name on threads', ({ make }) => {
  it.each([
    [2, 40],
    [3, 41], // unequal shares
  ])(
    '%i threads step like 1: losses within 1e-4 per step, weights within 1e-5',
    async (threads, n) => {
      const oneModel = engineModel(await make());
      const manyModel = engineModel(await make());
      const side = oneModel.spec.inputSize;
      const one = await oneModel.engineFor();
      const many = await manyModel.engineFor();
      await many.setThreads(threads);
      expect(many.info).toMatchObject({ kind: 'fused', kernels: 'generic', threads });
      expect(workers.live()).toBe(threads - 1);
      for (let s = 0; s < STEPS; s++) {
        const x = batch(side, n, 700 + s);
        const adam = ADAMW(s);
        const [a, b] = [
          await trainOnFloats(one, x, adam, true),
          await trainOnFloats(many, x, adam, true),
        ];
        const loss = a?.loss as number;
        expect(Math.abs(loss - (b?.loss as number))).toBeLessThan(1e-4 * Math.max(1, loss));
        expect(b?.correct).toBe(a?.correct);
      }
      expect(maxError(many.getWeights(), one.getWeights())).toBeLessThan(1e-5);
      const [ma, mb] = [await many.readOptimizerState(), await one.readOptimizerState()];
      expect(ma.step).toBe(STEPS);
      expect(scaledError(ma.firstMoment, mb.firstMoment)).toBeLessThan(1e-3);
      // The epoch totals count every share.
      expect((await many.takeTotals()).correct).toBe((await one.takeTotals()).correct);

      // A forward pass large enough to split: each image's logits are computed alone, so they
      // equal the one-thread pass on the same weights bit for bit.
      one.setWeights(many.getWeights());
      const probe = batch(side, 300, 9);
      expect(await many.forward(probe.images, 300)).toEqual(await one.forward(probe.images, 300));
      oneModel.dispose();
      manyModel.dispose();
      // Disposing stops the workers (engineModel's dispose does not wait for them).
      await many.dispose();
      expect(workers.live()).toBe(0);
    },
  );
});

describe('generic fused engine, threads through train()', () => {
  it("'auto' trains like 1 thread and validation split over workers gives the same figures", async () => {
    const runs = [];
    for (const threads of [1, 'auto'] as const) {
      const model = await createMlp({ hidden: [37, 22], activation: 'tanh', seed: 2 });
      const losses: number[] = [];
      const history = await train(
        model,
        prepareImages(digits(64 * 4 + 20, 3), model.preprocessing),
        {
          epochs: 1,
          seed: 5,
          threads,
          validationData: prepareImages(digits(600, 4), model.preprocessing),
          onBatchEnd: (_, logs) => {
            losses.push(logs.loss);
          },
        },
      );
      runs.push({ losses, history, weights: model.getWeights() });
      model.dispose();
    }
    const [one, auto] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(auto.history.threads).toBe(
      resolveThreads('auto', { kind: 'fused', batchSize: 64 }).threads,
    );
    expect(auto.losses).toHaveLength(5);
    one.losses.forEach((loss, step) => {
      expect(Math.abs(loss - (auto.losses[step] as number))).toBeLessThan(1e-4 * Math.max(1, loss));
    });
    expect(maxError(auto.weights, one.weights)).toBeLessThan(1e-5);
    expect(workers.live()).toBe(0);

    // Validation on workers equals the main thread's figures exactly, on the same weights.
    const model = engineModel(await createMlp({ hidden: [37, 22], activation: 'tanh', seed: 2 }));
    const engine = await model.engineFor();
    const set = prepareImages(digits(600, 4), model.preprocessing);
    const single = await evaluateOn(engine, set, 32);
    await engine.setThreads(3);
    expect(await evaluateOn(engine, set, 32)).toEqual(single);
    model.dispose();
    await engine.dispose();
    expect(workers.live()).toBe(0);
  });

  it('abort during a threaded epoch stops at the next batch and leaves no workers', async () => {
    const model = await createLeNet({ pooling: 'avg', seed: 7 });
    const controller = new AbortController();
    let seen = 0;
    const history = await train(model, prepareImages(digits(64 * 10, 8), model.preprocessing), {
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
    expect(workers.live()).toBe(0);
    expect(model.engine?.threads).toBe(1);
    model.dispose();
  });
});
