// Every model the factories build other than the default LeNet runs on the generic fused
// kernels (asm/net.ts) on WASM, and computes what the tfjs path computes: the same per-step
// losses and correct counts over several Adam steps from the same weights and batches, the
// same logits, the same parameters and Adam moments after the steps. Adam's state moves to a
// fresh engine and continues identically, and repeated create/train/dispose cycles do not grow
// memory or leave tensors. Threads: fused-variants-threads.test.ts.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { prepareImages } from '../../src/data/preprocess.js';
import { chooseEngine } from '../../src/engine/choose.js';
import { StepDivergedError } from '../../src/engine/errors.js';
import { instantiateFusedNet, type WasmNet } from '../../src/engine/fused/net-kernels.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { type EngineModel, engineModel } from '../../src/engine/model.js';
import { buildLayers } from '../../src/model/layers.js';
import { train } from '../../src/train/train.js';
import { trainOnFloats } from '../helpers/float-step.js';
import {
  ADAM,
  ADAMW,
  batch,
  CASES,
  digits,
  maxError,
  N,
  STEPS,
  scaledError,
  steps,
} from '../helpers/fused-variants.js';
import { countWorkers } from '../helpers/workers.js';

const workers = countWorkers();

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
        const file = new URL(`../../src/engine/fused/net-${variant}.wasm`, import.meta.url);
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
