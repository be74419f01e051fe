/**
 * The fused WebGPU engine (WGSL) on a real WebGPU implementation without a GPU: Dawn over
 * SwiftShader. Checked against the fused WASM engine on the same weights and batches.
 */
import { SKIP_WEBGPU, useSwiftShader } from '../helpers/webgpu-env.js';

useSwiftShader();

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { checkAugmentOptions, DEFAULT_AUGMENT } from '../../src/data/augment.js';
import { StepDivergedError } from '../../src/engine/errors.js';
import { FusedEngine } from '../../src/engine/fused/engine.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { TfjsEngine } from '../../src/engine/tfjs/engine.js';
import { countGpuWork, type GpuWorkCounts } from '../../src/engine/webgpu/count.js';
import { WebGpuEngine } from '../../src/engine/webgpu/engine.js';
import { train } from '../../src/train/train.js';
import { makePreparedSet, maxAbsDiff } from '../helpers/lenet-checks.js';
import { ADAM, adamW, batchOf, device, maxRelDiff } from '../helpers/webgpu-fused.js';

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
        const a = await gpu.trainBatch(batch, settings(step), read);
        const b = (await wasm.trainBatch(batch, settings(step), true)) as {
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
      expect(await gpu.takeTotals()).toEqual({ lossSum: 0, correct: 0, augmentSeconds: 0 });
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
      await engine.trainBatch(batch, ADAM, false);
    };
    const infer = (engine: TfjsEngine | WebGpuEngine) => () => engine.forward(batch.images, 2);
    const counts = {
      fusedStep: await measure(step(fused)),
      residentStep: await measure(async () => {
        expect(fused.bindTrainingSet({ data: makePreparedSet(model, 5, 3) })).toBe(true);
        await fused.trainStep({ indices: Uint32Array.of(4, 1), epoch: 1, batch: 0 }, ADAM, false);
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

  test('trainStep refuses bad input before any work, and a set too large for the device stays on the CPU', async () => {
    const model = await createLeNet({ seed: 19 });
    const gpu = await WebGpuEngine.create(device(), await model.readWeights(), 'test');
    model.dispose();
    const set = makePreparedSet(model, 2, 3);
    const at = (...indices: number[]) => ({
      indices: Uint32Array.from(indices),
      epoch: 1,
      batch: 0,
    });
    await expect(gpu.trainStep(at(0), ADAM, true)).rejects.toThrow(
      'trainStep needs a training set: call bindTrainingSet.',
    );
    expect(() => gpu.bindTrainingSet({ data: { ...set, labels: Uint8Array.of(1, 10) } })).toThrow(
      'labels[1] is 10; labels must be 0..9.',
    );
    expect(() => gpu.bindTrainingSet({ data: { ...set, count: 3 } })).toThrow(
      'the set holds 2 images and 2 labels, fewer than count = 3.',
    );
    expect(gpu.bindTrainingSet({ data: set })).toBe(true);
    await expect(gpu.trainStep(at(0, 2), ADAM, true)).rejects.toThrow(
      "indices[1] is 2, past the set's 2 images.",
    );
    await expect(gpu.trainStep(at(), ADAM, true)).rejects.toThrow(
      'n must be an integer >= 1, got 0.',
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
    expect(gpu.bindTrainingSet({ data: huge })).toBe(false);
    // A real set that stays on the CPU (augmented) trains through the gatherer and the float step.
    const augment = { options: checkAugmentOptions(DEFAULT_AUGMENT), seed: 1 };
    expect(gpu.bindTrainingSet({ data: set, augment })).toBe(false);
    expect(await gpu.trainStep(at(1, 0), ADAM, true)).toMatchObject({
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
    await gpu.trainBatch(good, ADAM, false);
    await wasm.trainBatch(good, ADAM, true);
    // Not read: the GPU skips this step and every later one until the divergence is reported.
    expect(await gpu.trainBatch(poisoned, ADAM, false)).toBeUndefined();
    await gpu.trainBatch(good, ADAM, false);
    const thrown = await gpu.takeTotals().catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(StepDivergedError);
    expect((thrown as StepDivergedError).step).toBe(2);
    // The weights and Adam's state are those after step 1.
    expect(maxRelDiff(await gpu.readWeights(), await wasm.readWeights())).toBeLessThan(1e-4);
    // Synchronously, only the host copy a read left, until the next step runs.
    expect(gpu.getWeights()).toEqual(await gpu.readWeights());
    expect((await gpu.readOptimizerState()).step).toBe(1);
    // Read at once, a divergence throws from the step itself; training then goes on.
    await expect(gpu.trainBatch(poisoned, ADAM, true)).rejects.toThrow(StepDivergedError);
    const next = await gpu.trainBatch(good, ADAM, true);
    expect(() => gpu.getWeights()).toThrow(/use await model\.readWeights\(\)/);
    const reference = await wasm.trainBatch(good, ADAM, true);
    expect(Math.abs((next?.loss as number) - (reference?.loss as number))).toBeLessThan(1e-4);
    expect((await gpu.readOptimizerState()).step).toBe(2);
    await gpu.dispose();
    await wasm.dispose();
    model.dispose();
  });
});
