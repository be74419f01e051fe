/**
 * The fused WebGPU engine (WGSL) on a real WebGPU implementation without a GPU: Dawn over
 * SwiftShader. Checked against the fused WASM engine on the same weights and batches.
 */
import { SKIP_WEBGPU, useSwiftShader } from './helpers/webgpu-env.js';

useSwiftShader();

import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type BackendChangeEvent, initBackend, onBackendChange } from '../src/backend/select.js';
import { DEFAULT_LENET_SPEC } from '../src/cli/models.js';
import { chooseEngine } from '../src/engine/choose.js';
import { StepDivergedError } from '../src/engine/errors.js';
import { FusedEngine } from '../src/engine/fused/engine.js';
import { createLeNet } from '../src/engine/lenet.js';
import { engineModel } from '../src/engine/model.js';
import { TfjsEngine } from '../src/engine/tfjs/engine.js';
import { calibrate } from '../src/engine/webgpu/calibrate.js';
import { countGpuWork, type GpuWorkCounts } from '../src/engine/webgpu/count.js';
import { WebGpuEngine } from '../src/engine/webgpu/engine.js';
import { OptionError } from '../src/errors.js';
import { evaluate } from '../src/train/evaluate.js';
import { train } from '../src/train/train.js';
import { makeBatch, makePreparedSet, maxAbsDiff, maxWeightsDiff } from './helpers/lenet-checks.js';

function nextBackendChange(timeoutMs = 20_000): Promise<BackendChangeEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no backend change within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = onBackendChange((event) => {
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

// The engine contract's settings (test/engine-contract.test.ts): Adam, and AdamW with a
// learning rate that changes every step.
const ADAM = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
const adamW = (step: number) => ({
  ...ADAM,
  learningRate: [5e-4, 1.5e-3, 3e-3, 2e-3, 1e-3][step] as number,
  weightDecay: 0.05,
});

function device(): object {
  return (tf.backend() as unknown as { device: object }).device;
}

/** Largest |a - b| / max(1, |b|) over all parameters (the engine contract's measure). */
function maxRelDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let worst = 0;
  a.forEach((w, i) => {
    const ref = b[i] as Float32Array;
    expect(w.length).toBe(ref.length);
    w.forEach((v, j) => {
      const r = ref[j] as number;
      worst = Math.max(worst, Math.abs(v - r) / Math.max(1, Math.abs(r)));
    });
  });
  return worst;
}

function batchOf(n: number, seed: number) {
  const { pixels, labels } = makeBatch(n, seed);
  return { images: pixels, labels: Uint8Array.from(labels), n };
}

describe.skipIf(SKIP_WEBGPU)('fused WebGPU engine (Dawn over SwiftShader)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  });
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  test.each([
    ['Adam', () => ADAM],
    ['AdamW with a per-step learning rate', adamW],
  ])(
    '%s: logits, per-step losses and parameters after 5 steps match the fused WASM engine',
    async (_, settings) => {
      const model = await createLeNet({ seed: 11 });
      const weights = await model.readWeights();
      const gpu = await WebGpuEngine.create(device(), weights, 'test');
      const wasm = await FusedEngine.create(weights, 'test');
      const probe = batchOf(3, 5);
      const logitsError = maxAbsDiff(
        await gpu.forward(probe.images, 3),
        await wasm.forward(probe.images, 3),
      );
      expect(logitsError).toBeLessThan(1e-4);
      // Two reads in flight at once (a prediction while another is read) do not collide.
      const other = batchOf(2, 6);
      const [x, y] = await Promise.all([
        gpu.forward(probe.images, 3),
        gpu.forward(other.images, 2),
      ]);
      expect(maxAbsDiff(x, await wasm.forward(probe.images, 3))).toBeLessThan(1e-4);
      expect(maxAbsDiff(y, await wasm.forward(other.images, 2))).toBeLessThan(1e-4);
      let lossSum = 0;
      let correct = 0;
      for (let step = 0; step < 5; step++) {
        const batch = batchOf(4, step + 1);
        // Steps 0 and 3 read nothing back: the totals still count them.
        const read = step !== 0 && step !== 3;
        const a = await gpu.trainStep(batch, settings(step), read);
        const b = (await wasm.trainStep(batch, settings(step), true)) as {
          loss: number;
          correct: number;
        };
        lossSum += b.loss * 4;
        correct += b.correct;
        if (!read) {
          expect(a).toBeUndefined();
          continue;
        }
        expect(Math.abs((a?.loss ?? Number.NaN) - b.loss), `step ${step}`).toBeLessThan(1e-4);
        expect(a?.correct).toBe(b.correct);
      }
      const totals = await gpu.takeTotals();
      expect(Math.abs(totals.lossSum - lossSum)).toBeLessThan(1e-4 * lossSum);
      expect(totals.correct).toBe(correct);
      expect(await gpu.takeTotals()).toEqual({ lossSum: 0, correct: 0 });
      const paramError = maxRelDiff(await gpu.readWeights(), await wasm.readWeights());
      expect(paramError).toBeLessThan(1e-4);
      const [sa, sb] = [await gpu.readOptimizerState(), await wasm.readOptimizerState()];
      expect(sa.step).toBe(5);
      expect(sb.step).toBe(5);
      expect(maxRelDiff(sa.firstMoment, sb.firstMoment)).toBeLessThan(1e-4);
      expect(maxRelDiff(sa.secondMoment, sb.secondMoment)).toBeLessThan(1e-4);
      console.log(
        `fused WebGPU vs fused WASM: logits ${logitsError.toExponential(2)}, parameters ${paramError.toExponential(2)}`,
      );
      await gpu.dispose();
      await wasm.dispose();
      model.dispose();
    },
  );

  test('dispatches and transfers per training step and inference batch, fused and op by op', async () => {
    const model = await createLeNet({ seed: 12 });
    const weights = await model.readWeights();
    const fused = await WebGpuEngine.create(device(), weights, 'test');
    const opByOp = new TfjsEngine(model.spec, 32, weights, 'test');
    const batch = batchOf(2, 3);
    const measure = async (run: () => Promise<unknown>): Promise<GpuWorkCounts> => {
      await run(); // compiles the shaders, allocates the buffers
      const counter = countGpuWork();
      try {
        await run();
      } finally {
        counter.stop();
      }
      return counter.counts;
    };
    const step = (engine: TfjsEngine | WebGpuEngine) => async () => {
      await engine.trainStep(batch, ADAM, false);
    };
    const infer = (engine: TfjsEngine | WebGpuEngine) => () => engine.forward(batch.images, 2);
    const counts = {
      fusedStep: await measure(step(fused)),
      residentStep: await measure(async () => {
        expect(fused.bindTrainingSet(makePreparedSet(model, 5, 3))).toBe(true);
        await fused.trainStepIndexed(Uint32Array.of(4, 1), 2, ADAM, false);
      }),
      opByOpStep: await measure(step(opByOp)),
      fusedBatch: await measure(infer(fused)),
      opByOpBatch: await measure(infer(opByOp)),
    };
    console.log(`GPU work (batch 2): ${JSON.stringify(counts)}`);
    // A training step: one upload (settings, labels, images), four dispatches, one submit, no
    // read; tfjs ops need hundreds of dispatches (forward, gradients, Adam per parameter).
    expect(counts.fusedStep).toMatchObject({ dispatches: 4, submits: 1, writes: 1, reads: 0 });
    // On a resident set (bound once, here inside the measured run: three writes, the table, 5
    // labels in 2 words, 5 images), the step's upload is its settings and indices: (16 + 2)
    // floats, 72 bytes.
    expect(counts.residentStep).toMatchObject({
      dispatches: 5,
      submits: 1,
      writes: 3 + 1,
      writeBytes: 256 * 4 + 2 * 4 + 5 * 1024 + 72,
      reads: 0,
    });
    expect(counts.fusedStep.dispatches * 10).toBeLessThanOrEqual(counts.opByOpStep.dispatches);
    expect(counts.fusedStep.writes * 10).toBeLessThanOrEqual(counts.opByOpStep.writes);
    // An inference batch: one dispatch, one upload, one read. tfjs already runs LeNet's forward
    // pass as 8 fused kernels, so a tenth is out of reach of any path that dispatches at all.
    expect(counts.fusedBatch).toMatchObject({ dispatches: 1, submits: 1, writes: 1, reads: 1 });
    expect(counts.opByOpBatch.dispatches).toBeGreaterThanOrEqual(8);
    expect(counts.fusedBatch.writes * 8).toBeLessThanOrEqual(counts.opByOpBatch.writes);
    await fused.dispose();
    await opByOp.dispose();
    model.dispose();
  });

  test('train() on fused WebGPU keeps the set on the GPU: same batches and results as fused WASM, tiny uploads per step', async () => {
    const run = async (fastPath: 'wasm' | 'webgpu', augment: boolean, epochs = 2) => {
      const model = await createLeNet({ seed: 17 });
      // 7 images in batches of 3: shuffled with the seed, the last batch holds 1.
      const data = makePreparedSet(model, 7, 4);
      const losses: number[] = [];
      const history = await train(model, data, {
        epochs,
        batchSize: 3,
        seed: 5,
        augment,
        fastPath,
        onBatchEnd: (_b, logs) => {
          losses.push(logs.loss);
        },
      });
      const weights = await model.readWeights();
      model.dispose();
      return { losses, weights, history };
    };
    for (const augment of [false, true]) {
      const wasm = await run('wasm', augment);
      const counter = countGpuWork();
      // Every upload's size, to tell the set's and Adam's reset from the steps'.
      const queue = (
        globalThis as unknown as Record<string, { prototype: Record<string, unknown> }>
      ).GPUQueue?.prototype as Record<string, (...args: unknown[]) => unknown>;
      const write = queue.writeBuffer as (...args: unknown[]) => unknown;
      const sizes: number[] = [];
      queue.writeBuffer = function (this: unknown, ...args: unknown[]) {
        const data = args[2] as ArrayBufferView;
        sizes.push(args[4] !== undefined ? (args[4] as number) : data.byteLength);
        return write.apply(this, args);
      };
      let gpu: Awaited<ReturnType<typeof run>>;
      try {
        gpu = await run('webgpu', augment);
      } finally {
        queue.writeBuffer = write;
        counter.stop();
      }
      expect(gpu.history.path).toBe('webgpu');
      expect(gpu.losses).toHaveLength(6);
      expect(maxAbsDiff(gpu.losses, wasm.losses), `augment ${augment}`).toBeLessThan(1e-4);
      expect(maxRelDiff(gpu.weights, wasm.weights), `augment ${augment}`).toBeLessThan(1e-4);
      const { counts } = counter;
      console.log(
        `train() on fused WebGPU, augment ${augment}, 6 steps: ${JSON.stringify(counts)}`,
      );
      // Besides the steps' uploads: the model's weights and Adam's moments going to the new
      // engine, Adam's reset by train(), the state's zeroing (32 bytes) at each read of totals.
      const setup = [61706 * 4, 61706 * 8, 32];
      expect(sizes.filter((bytes) => bytes === 61706 * 8)).toHaveLength(2);
      const steps = sizes.filter((bytes) => !setup.includes(bytes));
      if (!augment) {
        // Five dispatches a step (gather first). The set goes up once (table, labels, pixels);
        // each step then uploads its settings and indices only: (16 + 3) floats, 76 bytes (the
        // last batch of each epoch, 1 image: 68).
        expect(counts.dispatches).toBe(6 * 5);
        expect(steps).toEqual([256 * 4, 8, 7 * 1024, 76, 76, 68, 76, 76, 68]);
      } else {
        // Distorted images are made on the CPU each batch: each step uploads them (4 dispatches).
        expect(counts.dispatches).toBe(6 * 4);
        expect(steps).toEqual([3, 3, 1, 3, 3, 1].map((n) => (16 + n + n * 1024) * 4));
      }
    }
  });

  test('a bound set is uploaded once per train() call and freed after it: no buffer growth', async () => {
    const model = await createLeNet({ seed: 18 });
    const data = makePreparedSet(model, 4, 6);
    const options = { epochs: 2, batchSize: 2, seed: 1, fastPath: 'webgpu' as const };
    await train(model, data, options); // the engine and its buffers exist from here on
    const proto = (globalThis as unknown as Record<string, { prototype: Record<string, unknown> }>)
      .GPUDevice?.prototype as Record<string, (...args: unknown[]) => unknown>;
    const bufferProto = (
      globalThis as unknown as Record<string, { prototype: Record<string, unknown> }>
    ).GPUBuffer?.prototype as Record<string, (...args: unknown[]) => unknown>;
    const create = proto.createBuffer as (...args: unknown[]) => unknown;
    const destroy = bufferProto.destroy as (...args: unknown[]) => unknown;
    const live = new Set<unknown>();
    let setUploads = 0;
    proto.createBuffer = function (this: unknown, ...args: unknown[]) {
      const buffer = create.apply(this, args);
      live.add(buffer);
      // The resident set's size: table, labels (4 per word) and pixels of the 4 images.
      if ((args[0] as { size: number }).size === (256 + 1 + 4 * 256) * 4) setUploads++;
      return buffer;
    };
    bufferProto.destroy = function (this: unknown, ...args: unknown[]) {
      live.delete(this);
      return destroy.apply(this, args);
    };
    try {
      for (let call = 1; call <= 3; call++) {
        await train(model, data, options);
        expect(setUploads).toBe(call);
        // Every buffer made during the call is gone (the snapshot's staging buffers too).
        expect(live.size, `after train() call ${call}`).toBe(0);
      }
    } finally {
      proto.createBuffer = create;
      bufferProto.destroy = destroy;
    }
    model.dispose();
  });

  test('trainStepIndexed refuses bad input before any work, and a set too large for the device is declined', async () => {
    const model = await createLeNet({ seed: 19 });
    const gpu = await WebGpuEngine.create(device(), await model.readWeights(), 'test');
    model.dispose();
    const set = makePreparedSet(model, 2, 3);
    await expect(gpu.trainStepIndexed(Uint32Array.of(0), 1, ADAM, true)).rejects.toThrow(
      'trainStepIndexed needs a training set: call bindTrainingSet.',
    );
    expect(() => gpu.bindTrainingSet({ ...set, labels: Uint8Array.of(1, 10) })).toThrow(
      'labels[1] is 10; labels must be 0..9.',
    );
    expect(() => gpu.bindTrainingSet({ ...set, count: 3 })).toThrow(
      'the set holds 2 images and 2 labels, fewer than count = 3.',
    );
    expect(gpu.bindTrainingSet(set)).toBe(true);
    await expect(gpu.trainStepIndexed(Uint32Array.of(0, 2), 2, ADAM, true)).rejects.toThrow(
      "indices[1] is 2, past the set's 2 images.",
    );
    await expect(gpu.trainStepIndexed(Uint32Array.of(0), 2, ADAM, true)).rejects.toThrow(
      'indices holds 1 indices, fewer than n = 2.',
    );
    // Nothing ran: still Adam step 0.
    expect((await gpu.readOptimizerState()).step).toBe(0);
    const limit = (device() as { limits: { maxStorageBufferBindingSize: number } }).limits
      .maxStorageBufferBindingSize;
    const count = Math.floor(limit / 1024) + 1;
    // Declined on the sizes alone, before the pixels are read: stand-ins of the right lengths.
    const huge = {
      ...set,
      count,
      images: { length: count * 1024 } as Uint8Array,
      labels: { length: count } as Uint8Array,
    };
    expect(gpu.bindTrainingSet(huge)).toBe(false);
    // The set bound before stays bound.
    expect(await gpu.trainStepIndexed(Uint32Array.of(1, 0), 2, ADAM, true)).toMatchObject({
      correct: expect.any(Number),
    });
    await gpu.dispose();
  });

  test('a non-finite step applies nothing, and the next read reports it with its step', async () => {
    const model = await createLeNet({ seed: 13 });
    const weights = await model.readWeights();
    const gpu = await WebGpuEngine.create(device(), weights, 'test');
    const wasm = await FusedEngine.create(weights, 'test');
    const good = batchOf(2, 1);
    const poisoned = {
      ...batchOf(2, 2),
      images: batchOf(2, 2).images.fill(Number.POSITIVE_INFINITY, 0, 5),
    };
    await gpu.trainStep(good, ADAM, false);
    await wasm.trainStep(good, ADAM, true);
    // Not read: the GPU skips this step and every later one until the divergence is reported.
    expect(await gpu.trainStep(poisoned, ADAM, false)).toBeUndefined();
    await gpu.trainStep(good, ADAM, false);
    const thrown = await gpu.takeTotals().catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(StepDivergedError);
    expect((thrown as StepDivergedError).step).toBe(2);
    // The weights and Adam's state are those after step 1.
    expect(maxRelDiff(await gpu.readWeights(), await wasm.readWeights())).toBeLessThan(1e-4);
    // Synchronously, only the host copy a read left, until the next step runs.
    expect(gpu.getWeights()).toEqual(await gpu.readWeights());
    expect((await gpu.readOptimizerState()).step).toBe(1);
    // Read at once, a divergence throws from the step itself; training then goes on.
    await expect(gpu.trainStep(poisoned, ADAM, true)).rejects.toThrow(StepDivergedError);
    const next = await gpu.trainStep(good, ADAM, true);
    expect(() => gpu.getWeights()).toThrow(/use await model\.readWeights\(\)/);
    const reference = await wasm.trainStep(good, ADAM, true);
    expect(Math.abs((next?.loss as number) - (reference?.loss as number))).toBeLessThan(1e-4);
    expect((await gpu.readOptimizerState()).step).toBe(2);
    await gpu.dispose();
    await wasm.dispose();
    model.dispose();
  });

  test("auto keeps fused WASM on the SwiftShader adapter; 'webgpu' and 'wasm' force an engine", async () => {
    const model = await createLeNet({ seed: 14 });
    const data = makePreparedSet(model, 2, 3);
    const run = (fastPath: 'auto' | 'wasm' | 'webgpu') =>
      train(model, data, { epochs: 1, batchSize: 2, shuffle: false, fastPath });
    expect((await run('auto')).path).toBe('fused');
    expect(model.engine?.kind).toBe('fused');
    expect(model.engine?.reason).toMatch(
      /^the fused WASM kernels: the WebGPU adapter \(google swiftshader\) is a software fallback adapter, far slower than WASM for LeNet \(fastPath 'webgpu' forces it\)$/,
    );
    expect((await run('webgpu')).path).toBe('webgpu');
    expect(model.engine).toMatchObject({ kind: 'webgpu', backend: 'webgpu', variant: 'wgsl' });
    expect(model.engine?.reason).toBe("fastPath 'webgpu' asks for the fused WebGPU kernels");
    // The weights moved with the engine: evaluating on either fused engine agrees.
    const onGpu = await evaluate(model, data, { fastPath: 'webgpu' });
    const onWasm = await evaluate(model, data, { fastPath: 'wasm' });
    expect(model.engine?.kind).toBe('fused');
    expect(Math.abs(onGpu.loss - onWasm.loss)).toBeLessThan(1e-4);
    expect((await run('wasm')).path).toBe('fused');
    await expect(run('fast' as 'auto')).rejects.toThrow(OptionError);
    await expect(run('fast' as 'auto')).rejects.toThrow(
      'fastPath must be "auto", "off", "wasm" or "webgpu", got the string "fast"',
    );
    model.dispose();
    // Forcing WebGPU without the WebGPU backend is refused before any work.
    await initBackend({ backend: 'wasm' });
    const other = await createLeNet({ seed: 14 });
    await expect(evaluate(other, data, { fastPath: 'webgpu' })).rejects.toThrow(
      /^fastPath 'webgpu' cannot be honoured: the fused WebGPU kernels need the WebGPU backend active .*; the active backend is wasm$/,
    );
    other.dispose();
    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  });

  test('auto on a hardware adapter picks the faster fused engine by calibration, and says by how much', async () => {
    const hardware = {
      vendor: 'nvidia',
      architecture: 'ampere',
      description: '',
      isFallback: false,
    };
    const spec = DEFAULT_LENET_SPEC;
    expect(chooseEngine(spec, 'webgpu', 'auto', { adapter: hardware })).toMatchObject({
      kind: 'fused',
      needsCalibration: true,
    });
    const faster = chooseEngine(spec, 'webgpu', 'auto', {
      adapter: hardware,
      calibration: { workload: 'training', webgpu: 43_210, wasm: 13_900 },
    });
    expect(faster).toEqual({
      kind: 'webgpu',
      reason:
        'fused WebGPU: 3.1x fused WASM for training in calibration on nvidia ampere (43,210 vs 13,900 samples/s)',
    });
    const slower = chooseEngine(spec, 'webgpu', 'auto', {
      adapter: hardware,
      calibration: { workload: 'inference', webgpu: 900, wasm: 2300 },
    });
    expect(slower).toEqual({
      kind: 'fused',
      kernels: 'lenet',
      reason:
        'fused WASM: 2.6x fused WebGPU for single-image inference in calibration on nvidia ampere (2,300 vs 900 images/s)',
    });
    // The calibration itself, on this adapter at tiny sizes: both engines really run, once.
    const source = await createLeNet({ seed: 15 });
    const weights = await source.readWeights();
    source.dispose();
    const sizes = { batch: 2, warmup: 1, steps: 2, images: 2 };
    const first = calibrate(device(), 'swiftshader-test', 'training', weights, sizes);
    expect(calibrate(device(), 'swiftshader-test', 'training', weights, sizes)).toBe(first);
    const measured = await first;
    expect(measured.workload).toBe('training');
    expect(measured.webgpu).toBeGreaterThan(0);
    expect(measured.wasm).toBeGreaterThan(0);
    const inference = await calibrate(device(), 'swiftshader-test', 'inference', weights, sizes);
    expect(inference.webgpu).toBeGreaterThan(0);
    console.log(`calibration on SwiftShader (software): ${JSON.stringify([measured, inference])}`);
  });

  test('device loss while training on fused WebGPU: fused WASM carries on with weights and Adam state', async () => {
    // Reference: five steps on the fused WASM kernels.
    const ref = await createLeNet({ seed: 16 });
    const refLosses: number[] = [];
    await train(ref, makePreparedSet(ref, 2), {
      epochs: 5,
      batchSize: 2,
      shuffle: false,
      fastPath: 'wasm',
      onBatchEnd: (_b, logs) => {
        refLosses.push(logs.loss);
      },
    });
    ref.dispose();

    // Unshuffled and not augmented, this trains on the resident set (indexed steps); after the
    // loss the fallback gets each batch built on the CPU from the bound set.
    const model = await createLeNet({ seed: 16 });
    const losses: number[] = [];
    let saved: Float32Array[] | undefined;
    let restored: Float32Array[] | undefined;
    let event: BackendChangeEvent | undefined;
    const history = await train(model, makePreparedSet(model, 2), {
      epochs: 5,
      batchSize: 2,
      shuffle: false,
      fastPath: 'webgpu',
      onEpochEnd: async (epoch) => {
        if (epoch === 2) saved = await model.readWeights();
      },
      onBatchEnd: async (_batch, logs) => {
        losses.push(logs.loss);
        // Step 3 ran on the GPU after the end-of-epoch-2 snapshot: it is lost with the device.
        if (losses.length !== 3) return;
        const change = nextBackendChange();
        (device() as { destroy(): void }).destroy();
        event = await change;
        restored = await model.readWeights();
      },
    });
    expect(history.path).toBe('webgpu');
    expect(event?.cause).toBe('device-lost');
    expect(event?.current.backend).toBe('wasm');
    expect(model.engine).toMatchObject({ kind: 'fused', backend: 'wasm' });
    expect(model.engine?.reason).toMatch(
      /^WebGPU device lost; continued on the fused WASM kernels/,
    );
    expect(maxWeightsDiff(restored ?? [], saved ?? [])).toBe(0);
    // Steps 4 and 5, on WASM from the snapshot after step 2, redo the reference's steps 3 and 4.
    expect(losses).toHaveLength(5);
    const engine = await engineModel(model).engineFor({ fastPath: 'wasm' });
    expect((await engine.readOptimizerState()).step).toBe(4);
    expect(history.epochs.map((e) => e.loss)).toEqual([
      ...losses.slice(0, 2),
      Number.NaN,
      ...losses.slice(3),
    ]);
    expect(maxAbsDiff(losses.slice(0, 2), refLosses.slice(0, 2))).toBeLessThan(1e-4);
    expect(maxAbsDiff(losses.slice(3), refLosses.slice(2, 4))).toBeLessThan(1e-4);
    model.dispose();
  });
});
