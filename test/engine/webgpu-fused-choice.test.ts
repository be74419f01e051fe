/**
 * The fused WebGPU engine (WGSL) on Dawn over SwiftShader: which fused engine `auto` and the
 * forced options pick, calibration on a hardware adapter, and device loss while training.
 */
import { SKIP_WEBGPU, useSwiftShader } from '../helpers/webgpu-env.js';

useSwiftShader();

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type BackendChangeEvent, initBackend } from '../../src/backend/select.js';
import { DEFAULT_LENET_SPEC } from '../../src/cli/models.js';
import { chooseEngine } from '../../src/engine/choose.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { engineModel } from '../../src/engine/model.js';
import { calibrate } from '../../src/engine/webgpu/calibrate.js';
import { OptionError } from '../../src/errors.js';
import { evaluate } from '../../src/train/evaluate.js';
import { train } from '../../src/train/train.js';
import { makePreparedSet, maxAbsDiff, maxWeightsDiff } from '../helpers/lenet-checks.js';
import { device, nextBackendChange } from '../helpers/webgpu-fused.js';

describe.skipIf(SKIP_WEBGPU)(
  'fused WebGPU engine: choice and device loss (Dawn over SwiftShader)',
  () => {
    beforeAll(async () => {
      await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
    });
    afterAll(async () => {
      await initBackend({ backend: 'wasm' });
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
        'fastPath must be "auto", "off", "wasm", "webgpu", got "fast"',
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
      console.log(
        `calibration on SwiftShader (software): ${JSON.stringify([measured, inference])}`,
      );
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
  },
);
