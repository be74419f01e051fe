// Every model the factories build other than the default LeNet runs on the generic fused
// kernels (asm/net.ts) on WASM, and computes what the tfjs path computes: the same per-step
// losses and correct counts over several Adam steps from the same weights and batches, the
// same logits, the same parameters and Adam moments after the steps. Adam's state moves to a
// fresh engine and continues identically, and repeated create/train/dispose cycles do not grow
// memory or leave tensors. On 2 and 3 threads (data-parallel workers) each model steps like one
// thread up to float rounding, splits forward passes bit for bit, and leaves no workers.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveThreads } from '../src/backend/env.js';
import { initBackend } from '../src/backend/select.js';
import { mulberry32 } from '../src/data/batches.js';
import { prepareImages } from '../src/data/preprocess.js';
import { chooseEngine } from '../src/engine/choose.js';
import { StepDivergedError } from '../src/engine/errors.js';
import { instantiateFusedNet, type WasmNet } from '../src/engine/fused/net-kernels.js';
import { createLeNet, type LeNetOptions } from '../src/engine/lenet.js';
import { createMlp, type MlpOptions } from '../src/engine/mlp.js';
import { type EngineModel, engineModel } from '../src/engine/model.js';
import type { AdamSettings, Engine, Model } from '../src/engine/types.js';
import { buildLayers } from '../src/model/layers.js';
import { evaluateOn } from '../src/train/evaluate.js';
import { train } from '../src/train/train.js';
import { trainOnFloats } from './helpers/float-step.js';
import { countWorkers } from './helpers/workers.js';

const workers = countWorkers();

const STEPS = 6;
// Not a multiple of the kernels' sample chunks (8 for a 32x32 LeNet), so a partial chunk runs too.
const N = 19;
const ADAM: AdamSettings = { learningRate: 2e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
/** AdamW with a changing rate, as schedules give. */
const ADAMW = (step: number): AdamSettings => ({
  ...ADAM,
  learningRate: [5e-4, 1.5e-3, 3e-3, 2e-3, 1e-3, 1e-3][step] as number,
  weightDecay: 0.1,
});

const CASES: { name: string; make: () => Promise<Model> }[] = [
  { name: 'avg pooling', make: () => createLeNet({ pooling: 'avg', seed: 3 }) },
  { name: 'tanh', make: () => createLeNet({ activation: 'tanh', seed: 3 }) },
  { name: 'conv2Activation', make: () => createLeNet({ conv2Activation: true, seed: 3 }) },
  { name: 'inputSize 28', make: () => createLeNet({ inputSize: 28, resize: 'none', seed: 3 }) },
  {
    name: 'classic (tanh, avg, pad)',
    make: () =>
      createLeNet({
        activation: 'tanh',
        pooling: 'avg',
        conv2Activation: true,
        resize: 'pad',
        inputSize: 32,
        seed: 3,
      } satisfies LeNetOptions),
  },
  { name: 'inputSize 20', make: () => createLeNet({ inputSize: 20, seed: 3 }) },
  { name: 'createMlp()', make: () => createMlp({ seed: 3 }) },
  {
    name: 'MLP tanh, 2 hidden, odd widths',
    make: () => createMlp({ hidden: [37, 22], activation: 'tanh', seed: 3 } satisfies MlpOptions),
  },
];

/** `count` random 28x28 digits (bytes) with random labels. */
function digits(count: number, seed: number) {
  const rand = mulberry32(seed);
  return {
    images: Uint8Array.from({ length: count * 784 }, () => Math.floor(rand() * 256)),
    labels: Uint8Array.from({ length: count }, () => Math.floor(rand() * 10)),
    count,
    height: 28,
    width: 28,
  };
}

function batch(side: number, n: number, seed: number) {
  const rand = mulberry32(seed);
  return {
    images: Float32Array.from({ length: n * side * side }, () => 2 * rand() - 1),
    labels: Uint8Array.from({ length: n }, () => Math.floor(rand() * 10)),
    n,
  };
}

/** Max of |a - b| / max(1, |b|). */
function maxError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((p, i) => {
    const q = b[i] as Float32Array;
    expect(p.length).toBe(q.length);
    for (let j = 0; j < p.length; j++) {
      const ref = q[j] as number;
      worst = Math.max(worst, Math.abs((p[j] as number) - ref) / Math.max(1, Math.abs(ref)));
    }
  });
  return worst;
}

/** Max of |a - b| over each parameter, divided by that parameter's largest |b|. */
function scaledError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let worst = 0;
  a.forEach((p, i) => {
    const q = b[i] as Float32Array;
    const scale = q.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let j = 0; j < p.length; j++) {
      const d = Math.abs((p[j] as number) - (q[j] as number));
      if (d > 0) worst = Math.max(worst, d / scale);
    }
  });
  return worst;
}

async function steps(
  engine: Engine,
  side: number,
  from: number,
  count: number,
  adam: (step: number) => AdamSettings,
): Promise<{ losses: number[]; correct: number[] }> {
  const losses: number[] = [];
  const correct: number[] = [];
  for (let s = from; s < from + count; s++) {
    const stats = await trainOnFloats(engine, batch(side, N, 500 + s), adam(s), true);
    losses.push(stats?.loss as number);
    correct.push(stats?.correct as number);
  }
  return { losses, correct };
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe.each(CASES)('$name', ({ make }) => {
  for (const [label, adam] of [
    ['Adam', () => ADAM],
    ['AdamW', ADAMW],
  ] as const) {
    it(`takes the generic fused kernels and matches the tfjs path (${label})`, async () => {
      const fusedModel = engineModel(await make());
      const tfjsModel = engineModel(await make());
      const side = fusedModel.spec.inputSize;
      const fused = await fusedModel.engineFor();
      const ref = await tfjsModel.engineFor({ fastPath: 'off' });
      expect(fusedModel.engine).toMatchObject({ kind: 'fused', kernels: 'generic' });
      expect(fusedModel.engine?.reason).toMatch(/^generic fused kernels/);
      expect(tfjsModel.engine?.kind).toBe('tfjs');
      expect(maxError(fused.getWeights(), ref.getWeights())).toBe(0);

      const probe = batch(side, 5, 99);
      const logitsBefore = await fused.forward(probe.images, 5);
      expect(maxError([logitsBefore], [await ref.forward(probe.images, 5)])).toBeLessThan(1e-4);

      const a = await steps(fused, side, 0, STEPS, adam);
      const b = await steps(ref, side, 0, STEPS, adam);
      for (let s = 0; s < STEPS; s++) {
        expect(Math.abs((a.losses[s] as number) - (b.losses[s] as number))).toBeLessThan(1e-3);
      }
      // Training changed the model, and both paths agree on the result. Free-running paths drift
      // apart a little (float rounding flips a ReLU or a pool winner here and there, and Adam
      // magnifies small gradients), so this bound is a fraction of one step's update; the
      // lock-step check below holds each step to float precision.
      expect(maxError([await fused.forward(probe.images, 5)], [logitsBefore])).toBeGreaterThan(
        1e-3,
      );
      expect(maxError(fused.getWeights(), ref.getWeights())).toBeLessThan(1e-3);

      // Lock-step: from the same weights and Adam state, each step gives the same parameters
      // and moments.
      for (let s = STEPS; s < 2 * STEPS; s++) {
        ref.setWeights(fused.getWeights());
        ref.setOptimizerState(await fused.readOptimizerState());
        const x = batch(side, N, 500 + s);
        const [sa, sb] = [
          await trainOnFloats(fused, x, adam(s % STEPS), true),
          await trainOnFloats(ref, x, adam(s % STEPS), true),
        ];
        expect(Math.abs((sa?.loss as number) - (sb?.loss as number))).toBeLessThan(1e-5);
        expect(sa?.correct).toBe(sb?.correct);
        expect(maxError(fused.getWeights(), ref.getWeights())).toBeLessThan(1e-5);
        const [ma, mb] = [await fused.readOptimizerState(), await ref.readOptimizerState()];
        expect(ma.step).toBe(s + 1);
        expect(mb.step).toBe(s + 1);
        expect(scaledError(ma.firstMoment, mb.firstMoment)).toBeLessThan(1e-3);
        expect(scaledError(ma.secondMoment, mb.secondMoment)).toBeLessThan(1e-3);
      }

      // On the same weights, the logits agree.
      ref.setWeights(fused.getWeights());
      expect(
        maxError([await fused.forward(probe.images, 5)], [await ref.forward(probe.images, 5)]),
      ).toBeLessThan(1e-4);
      fusedModel.dispose();
      tfjsModel.dispose();
    });
  }

  it("moves Adam's state to a fresh engine and continues identically", async () => {
    const model = engineModel(await make());
    const side = model.spec.inputSize;
    const engine = await model.engineFor();
    await steps(engine, side, 0, 3, () => ADAM);
    const weights = engine.getWeights();
    const state = await engine.readOptimizerState();
    const after = await steps(engine, side, 3, 3, () => ADAM);

    const copy = engineModel(await make());
    const fresh = await copy.engineFor();
    fresh.setWeights(weights);
    fresh.setOptimizerState(state);
    const again = await steps(fresh, side, 3, 3, () => ADAM);
    expect(again.losses).toEqual(after.losses);
    expect(maxError(fresh.getWeights(), engine.getWeights())).toBe(0);

    // Across engines too: the tfjs path continues from the fused engine's Adam state.
    const viaTfjs = await copy.engineFor({ fastPath: 'off' });
    expect(copy.engine?.kind).toBe('tfjs');
    viaTfjs.setWeights(weights);
    viaTfjs.setOptimizerState(state);
    const onTfjs = await steps(viaTfjs, side, 3, 3, () => ADAM);
    onTfjs.losses.forEach((loss, i) => {
      expect(Math.abs(loss - (after.losses[i] as number))).toBeLessThan(1e-3);
    });
    model.dispose();
    copy.dispose();
  });
});

describe('generic fused engine', () => {
  it('trains through train() on the generic kernels, on the threads asked, and stops them', async () => {
    const model = await createLeNet({ activation: 'tanh', pooling: 'avg', resize: 'pad', seed: 4 });
    const history = await train(model, prepareImages(digits(96, 7), model.preprocessing), {
      epochs: 1,
      batchSize: 32,
      threads: 2,
      seed: 1,
    });
    expect(history.path).toBe('fused');
    expect(history.threads).toBe(2);
    expect(history.threadsReason).toBe('as asked');
    expect(history.reason).toMatch(/^generic fused kernels/);
    // The workers stop when train returns.
    expect(model.engine).toMatchObject({ kind: 'fused', kernels: 'generic', threads: 1 });
    expect(workers.live()).toBe(0);
    expect(Number.isFinite(history.epochs[0]?.loss)).toBe(true);
    model.dispose();
  });

  it('the plain-SIMD build computes what the relaxed-SIMD build computes', async () => {
    // Under vitest Node runs with relaxed SIMD, so engines run the relaxed build; the plain build
    // (what Node 20 users get) is compared with it here, gradient by gradient.
    const model = engineModel(
      await createLeNet({ activation: 'tanh', conv2Activation: true, seed: 5 }),
    );
    await model.engineFor();
    expect(model.engine?.variant).toBe('relaxed-simd');
    const nets = await Promise.all(
      (['simd', 'relaxed-simd'] as const).map(async (variant) => {
        const file = new URL(`../src/engine/fused/net-${variant}.wasm`, import.meta.url);
        const module = await WebAssembly.compile(readFileSync(file));
        const net = await instantiateFusedNet(variant, module, buildLayers(model.spec), 32);
        net.setParams(model.getWeights());
        return net;
      }),
    );
    const [plain, relaxed] = nets as [WasmNet, WasmNet];
    for (let s = 0; s < 3; s++) {
      relaxed.setParams(plain.getParams());
      relaxed.setOptimizerState(plain.getOptimizerState());
      const x = batch(32, N, 40 + s);
      const a = plain.trainStep(x.images, x.labels, N, ADAM);
      const b = relaxed.trainStep(x.images, x.labels, N, ADAM);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
      expect(a.correct).toBe(b.correct);
      expect(scaledError(plain.getGradients(), relaxed.getGradients())).toBeLessThan(1e-4);
    }
    const probe = batch(32, 3, 9);
    expect(
      maxError([plain.forward(probe.images, 3)], [relaxed.forward(probe.images, 3)]),
    ).toBeLessThan(1e-5);
    for (const net of nets) net.dispose();
    model.dispose();
  });

  it('a diverging step applies nothing and reports it', async () => {
    const model = engineModel(await createMlp({ hidden: [8], seed: 1 }));
    const engine = await model.engineFor();
    const before = engine.getWeights();
    const bad = batch(28, 4, 1);
    bad.images[3] = Number.NaN;
    await expect(trainOnFloats(engine, bad, ADAM, true)).rejects.toBeInstanceOf(StepDivergedError);
    expect(maxError(engine.getWeights(), before)).toBe(0);
    expect((await engine.readOptimizerState()).step).toBe(0);
    model.dispose();
  });

  it('rejects a bad batch before any work', async () => {
    const model = engineModel(await createLeNet({ pooling: 'avg', seed: 1 }));
    const engine = await model.engineFor();
    const b = batch(32, 2, 1);
    b.labels[1] = 10;
    await expect(trainOnFloats(engine, b, ADAM, true)).rejects.toThrow(/labels\[1\] = 10/);
    await expect(trainOnFloats(engine, { ...b, n: 3 }, ADAM, true)).rejects.toThrow(/fewer than n/);
    expect((await engine.readOptimizerState()).step).toBe(0);
    model.dispose();
  });

  it('forward of more images than one chunk matches forward image by image', async () => {
    const model = engineModel(await createLeNet({ activation: 'tanh', seed: 2 }));
    const engine = await model.engineFor();
    const many = batch(32, 300, 5);
    const all = await engine.forward(many.images, 300);
    for (const i of [0, 255, 256, 299]) {
      const one = await engine.forward(many.images.subarray(i * 1024, (i + 1) * 1024), 1);
      expect(maxError([one], [all.subarray(i * 10, i * 10 + 10)])).toBeLessThan(1e-6);
    }
    model.dispose();
  });

  it('too large a model takes tfjs ops and says why', async () => {
    const model = engineModel(await createLeNet({ inputSize: 400, seed: 1 }));
    await model.engineFor();
    expect(model.engine?.kind).toBe('tfjs');
    expect(model.engine?.reason).toMatch(/400x400 input, which needs 112\.\d MiB per sample/);
    model.dispose();
    // A very wide MLP, decided without allocating its weights.
    const wide = chooseEngine(
      { kind: 'mlp', inputSize: 28, hidden: [65536, 4096], activation: 'relu' },
      'wasm',
      'auto',
    );
    expect(wide.kind).toBe('tfjs');
    expect(wide.reason).toMatch(
      /^the fused kernels do not cover \d+ parameters, which need \d+ MiB/,
    );
  });

  it('fastPath and the WebGPU backend: which engine a variant gets, and why', () => {
    const avg = {
      kind: 'lenet',
      inputSize: 32,
      pooling: 'avg',
      activation: 'relu',
      conv2Activation: false,
    } as const;
    const software = {
      vendor: 'google',
      architecture: 'swiftshader',
      description: '',
      isFallback: true,
    };
    const hardware = {
      vendor: 'nvidia',
      architecture: 'ampere',
      description: '',
      isFallback: false,
    };
    // Forced: 'wasm' takes the generic kernels on any backend; 'webgpu' covers the default LeNet only.
    expect(chooseEngine(avg, 'webgpu', 'wasm')).toMatchObject({
      kind: 'fused',
      kernels: 'generic',
    });
    expect(() => chooseEngine(avg, 'webgpu', 'webgpu', { adapter: hardware })).toThrow(
      /fastPath 'webgpu' cannot be honoured: the fused WebGPU kernels cover the default LeNet only; this model has avg pooling/,
    );
    // 'auto' on WebGPU: a software adapter is far slower than WASM, a hardware one runs tfjs ops.
    const onSoftware = chooseEngine(avg, 'webgpu', 'auto', { adapter: software });
    expect(onSoftware).toMatchObject({ kind: 'fused', kernels: 'generic' });
    expect(onSoftware.reason).toMatch(/software fallback adapter/);
    const onHardware = chooseEngine(avg, 'webgpu', 'auto', { adapter: hardware });
    expect(onHardware.kind).toBe('tfjs');
    expect(onHardware.reason).toMatch(/tfjs ops on the WebGPU device/);
    expect(chooseEngine(avg, 'cpu', 'auto').kind).toBe('tfjs');
  });

  it('create/train/dispose cycles leave no growth', async () => {
    const cycle = async () => {
      for (const make of [
        () => createLeNet({ pooling: 'avg', seed: 1 }),
        () => createMlp({ seed: 1 }),
      ]) {
        const model: EngineModel = engineModel(await make());
        const engine = await model.engineFor();
        await steps(engine, model.spec.inputSize, 0, 2, () => ADAM);
        model.dispose();
      }
    };
    await cycle();
    const tensors = tf.memory().numTensors;
    global.gc?.();
    const heap = process.memoryUsage().heapUsed;
    const external = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 8; i++) await cycle();
    global.gc?.();
    expect(tf.memory().numTensors).toBe(tensors);
    // Each cycle's instances hold tens of MiB of WebAssembly memory: eight cycles that leaked
    // them would add hundreds.
    expect(process.memoryUsage().arrayBuffers - external).toBeLessThan(64 * 2 ** 20);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 * 2 ** 20);
  });
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
