/**
 * WebGPU in Node on a real implementation: Dawn (npm `webgpu`) over SwiftShader, Vulkan on the
 * CPU. No mocks: where a failure must be provoked (a device that cannot be created or dies), the
 * real navigator.gpu or adapter is wrapped and real Dawn still does the rest. SwiftShader is
 * about 1000x slower than WASM, so batches are 2 images.
 */
import { MISSING_ADAPTER_HELP, SKIP_WEBGPU, useSwiftShader } from '../helpers/webgpu-env.js';

// Before anything loads Dawn: the Vulkan loader reads VK_ICD_FILENAMES once per process.
useSwiftShader();

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterAll, describe, expect, test, vi } from 'vitest';
import {
  type BackendChangeEvent,
  BackendError,
  formatBackendInfo,
  initBackend,
  onBackendChange,
} from '../../src/backend/select.js';
import { latestSnapshot } from '../../src/backend/snapshot.js';
import { StepDivergedError } from '../../src/engine/errors.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { engineModel } from '../../src/engine/model.js';
import type { TfjsEngine } from '../../src/engine/tfjs/engine.js';
import { platform } from '../../src/platform/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import { train } from '../../src/train/train.js';
import { trainOnFloats } from '../helpers/float-step.js';
import {
  forwardAndGradients,
  makePreparedSet,
  maxAbsDiff,
  maxGradDiff,
  maxWeightsDiff,
  trainSteps,
} from '../helpers/lenet-checks.js';

type AnyFn = (...args: unknown[]) => unknown;
interface GpuLike {
  requestAdapter(options?: object): Promise<object | null>;
}

/** Replaces `navigator.gpu` while `fn` runs. */
async function withGpu<T>(gpu: GpuLike, fn: () => Promise<T>): Promise<T> {
  const nav = globalThis.navigator as unknown as { gpu: GpuLike };
  const real = nav.gpu;
  Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  try {
    return await fn();
  } finally {
    Object.defineProperty(nav, 'gpu', { value: real, configurable: true, writable: true });
  }
}

/** The real Dawn GPU, with the real adapter's `requestDevice` replaced. */
function gpuWithDevice(
  requestDevice: (real: AnyFn, descriptor: object) => Promise<unknown>,
): GpuLike {
  const real = (globalThis.navigator as unknown as { gpu: GpuLike }).gpu;
  return {
    async requestAdapter(options) {
      const adapter = await real.requestAdapter(options);
      if (adapter === null) return null;
      return new Proxy(adapter, {
        get(target, key) {
          const value = Reflect.get(target, key, target);
          if (key === 'requestDevice') {
            return (descriptor: object) => requestDevice((value as AnyFn).bind(target), descriptor);
          }
          return typeof value === 'function' ? (value as AnyFn).bind(target) : value;
        },
      });
    },
  };
}

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

function gpuDevice(): { destroy(): void } {
  return (tf.backend() as unknown as { device: { destroy(): void } }).device;
}

describe.skipIf(SKIP_WEBGPU)('WebGPU in Node (Dawn over SwiftShader)', () => {
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  test('Dawn provides navigator.gpu and a SwiftShader adapter', async () => {
    const provided = await platform.provideNavigatorGpu();
    expect(provided).toEqual({ ok: true, source: "the 'webgpu' package (Dawn)" });
    const gpu = (globalThis.navigator as unknown as { gpu: GpuLike }).gpu;
    const adapter = (await gpu.requestAdapter()) as { info: { architecture: string } } | null;
    if (adapter === null) throw new Error(MISSING_ADAPTER_HELP);
    expect(adapter.info.architecture).toBe('swiftshader');
  });

  // The failure paths run before WebGPU first succeeds: a live device is reused afterwards.
  test('auto falls back to WASM when requestDevice() rejects, and says so', async () => {
    const gpu = gpuWithDevice(async () => {
      throw new Error('simulated: device creation failed');
    });
    const info = await withGpu(gpu, () => initBackend({ allowFallbackAdapter: true }));
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toMatch(
      /^auto: WebGPU not used: adapter google swiftshader: requestDevice\(\) failed \(Error: simulated: device creation failed\)$/,
    );
    expect(info.adapter).toEqual({
      vendor: 'google',
      architecture: 'swiftshader',
      isFallback: true,
    });
    // Asked for explicitly, the same failure is an error naming the step.
    await withGpu(gpu, async () => {
      await expect(initBackend({ backend: 'webgpu' })).rejects.toThrow(BackendError);
      await expect(initBackend({ backend: 'webgpu' })).rejects.toThrow(/requestDevice\(\) failed/);
    });
    expect(tf.getBackend()).toBe('wasm');
  });

  test('auto falls back to WASM when the device dies before the self-test completes', async () => {
    // A real Dawn device, destroyed as soon as it exists: the self-test's read fails.
    const gpu = gpuWithDevice(async (real, descriptor) => {
      const device = (await real(descriptor)) as { destroy(): void };
      device.destroy();
      return device;
    });
    const info = await withGpu(gpu, () => initBackend({ allowFallbackAdapter: true }));
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toMatch(/WebGPU not used: adapter google swiftshader: self-test failed/);
  });

  test('auto picks WASM over the SwiftShader fallback adapter and says why', async () => {
    const info = await initBackend();
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.adapter).toEqual({
      vendor: 'google',
      architecture: 'swiftshader',
      isFallback: true,
    });
    expect(info.reason).toContain(
      'auto: WebGPU not used: the adapter WebGPU offers, google swiftshader',
    );
    expect(info.reason).toContain('is a software fallback adapter, far slower than WASM');
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(1);
    expect(formatBackendInfo(info)).toMatch(/^WASM SIMD, 1 thread - auto: WebGPU not used: /);
  });

  test('explicit webgpu uses the SwiftShader adapter after a self-test', async () => {
    const change = nextBackendChange();
    const info = await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
    expect(info).toMatchObject({
      backend: 'webgpu',
      adapter: { vendor: 'google', architecture: 'swiftshader', isFallback: true },
    });
    expect(info.reason).toMatch(
      /^WebGPU requested: software fallback adapter, self-test passed in \d+ ms$/,
    );
    expect(tf.getBackend()).toBe('webgpu');
    expect(formatBackendInfo(info)).toMatch(
      /^WebGPU on google swiftshader \(software fallback adapter\) - /,
    );
    const event = await change;
    expect(event).toMatchObject({ cause: 'init', current: info });
    expect(event.previous?.backend).toBe('wasm');
  });

  test('LeNet forward outputs and gradients on WebGPU match WASM within 1e-4', async () => {
    await initBackend({ backend: 'wasm' });
    const model = await createLeNet({ seed: 3 });
    const data = makePreparedSet(model, 2, 9);
    const before = await model.readWeights();
    const onWasm = await forwardAndGradients(model, 2);
    const evalWasm = await evaluate(model, data);
    expect(model.engine).toMatchObject({ kind: 'fused', backend: 'wasm' });
    // The same model moves to WebGPU: its engine is re-bound there, the weights carried over.
    // (tfjs ops, asked for: on a software adapter 'auto' keeps the fused WASM kernels.)
    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
    const evalGpu = await evaluate(model, data, { fastPath: 'off' });
    expect(model.engine).toMatchObject({ kind: 'tfjs', backend: 'webgpu' });
    const onGpu = await forwardAndGradients(model, 2);
    expect(tf.getBackend()).toBe('webgpu');
    expect(onGpu.logits.length).toBe(20);
    expect(maxAbsDiff(onGpu.logits, onWasm.logits)).toBeLessThan(1e-4);
    expect(Math.abs(onGpu.loss - onWasm.loss)).toBeLessThan(1e-4);
    expect(Object.keys(onGpu.grads)).toHaveLength(10);
    expect(maxGradDiff(onGpu, onWasm)).toBeLessThan(1e-4);
    // The library's own forward pass (fused kernels on WASM, tfjs engine on WebGPU) agrees too.
    expect(Math.abs(evalGpu.loss - evalWasm.loss)).toBeLessThan(1e-4);
    expect(evalGpu.confusion).toEqual(evalWasm.confusion);
    // And back to WASM, values intact (a voluntary switch copies the variables over).
    await initBackend({ backend: 'wasm' });
    expect(maxWeightsDiff(await model.readWeights(), before)).toBe(0);
    await evaluate(model, data);
    expect(model.engine).toMatchObject({ kind: 'fused', backend: 'wasm' });
    expect(maxWeightsDiff(await model.readWeights(), before)).toBe(0);
    model.dispose();
  });

  test('Adam steps lower the loss the same way on WebGPU and WASM', async () => {
    await initBackend({ backend: 'wasm' });
    const a = await createLeNet({ seed: 4 });
    const wasm = await trainSteps(train, a, 2, 3);
    a.dispose();
    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
    const b = await createLeNet({ seed: 4 });
    const gpu = await trainSteps(train, b, 2, 3);
    b.dispose();
    expect(wasm).toMatchObject({ path: 'tfjs', backend: 'wasm' });
    expect(gpu).toMatchObject({ path: 'tfjs', backend: 'webgpu' });
    expect(gpu.losses).toHaveLength(3);
    expect(gpu.losses[2]).toBeLessThan(gpu.losses[0] as number);
    expect(wasm.losses[2]).toBeLessThan(wasm.losses[0] as number);
    expect(maxAbsDiff(gpu.losses, wasm.losses)).toBeLessThan(1e-4);
    expect(maxWeightsDiff(gpu.weights, wasm.weights)).toBeLessThan(1e-4);
  });

  test('divergence guard of the tfjs path on WebGPU: a poisoned step applies nothing', async () => {
    // The guard sums 31 terms; one AddN over all of them needs more storage buffers than Dawn
    // allows (8), and its shader fails to build: the terms are added a few at a time.
    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
    const model = await createLeNet({ seed: 6 });
    const engine = await engineModel(model).engineFor({ fastPath: 'off' });
    expect(engine.info).toMatchObject({ kind: 'tfjs', backend: 'webgpu' });
    const set = makePreparedSet(model, 2);
    const images = Float32Array.from(set.images, (v) => (v / 255 - set.mean) / set.std);
    images.fill(Number.POSITIVE_INFINITY, 0, 5);
    const before = await model.readWeights();
    const adam = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
    await expect(
      trainOnFloats(engine, { images, labels: set.labels, n: 2 }, adam, true),
    ).rejects.toThrow(StepDivergedError);
    expect(maxWeightsDiff(await model.readWeights(), before)).toBe(0);
    model.dispose();
  });

  test('device loss during training: WASM takes over with weights and Adam state restored', async () => {
    // Reference: five steps on WASM only (tfjs ops, as on WebGPU).
    await initBackend({ backend: 'wasm' });
    const ref = await createLeNet({ seed: 5 });
    const refRun = await trainSteps(train, ref, 2, 5);
    ref.dispose();

    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
    const model = await createLeNet({ seed: 5 });
    const losses: number[] = [];
    let saved: Float32Array[] | undefined;
    let restored: Float32Array[] | undefined;
    let variables = 0;
    let event: BackendChangeEvent | undefined;
    // One step per epoch: train() snapshots the variables at the end of each epoch.
    const history = await train(model, makePreparedSet(model, 2), {
      epochs: 5,
      batchSize: 2,
      shuffle: false,
      fastPath: 'off',
      onEpochEnd: async (epoch) => {
        if (epoch !== 2) return;
        saved = await model.readWeights();
        // Node has no synchronous GPU reads (tfjs needs OffscreenCanvas for them): the snapshot
        // leaves CPU copies that make the synchronous getWeights() work until the next step.
        expect(model.getWeights()[0]).toEqual(saved[0]);
        expect((await model.save()).length).toBeGreaterThan(61_706 * 4);
      },
      onBatchEnd: async (_batch, logs) => {
        losses.push(logs.loss);
        // Step 3 ran on the GPU after the last snapshot: it is lost with the device.
        if (losses.length !== 3) return;
        variables = Object.keys(tf.engine().registeredVariables).length;
        const change = nextBackendChange();
        gpuDevice().destroy(); // what a driver reset or an unplugged GPU does to tfjs
        event = await change;
        restored = await model.readWeights();
      },
    });
    expect(history.backend).toBe('webgpu');
    expect(event?.cause).toBe('device-lost');
    expect(event?.previous?.backend).toBe('webgpu');
    expect(event?.current.backend).toBe('wasm');
    expect(event?.current.reason).toMatch(
      /^WebGPU device lost \(destroyed.*\); switched to WASM; restored \d+ variables from a snapshot taken \d+\.\d s earlier$/,
    );
    expect(event?.recovery?.deviceLost.reason).toBe('destroyed');
    expect(event?.recovery?.lostVariables).toEqual([]);
    // Every variable of the model's tfjs engine: the 10 parameters, Adam's two moments of each
    // and its step count.
    const engine = (await engineModel(model).engineFor({ fastPath: 'off' })) as TfjsEngine;
    expect(engine.variables).toHaveLength(10);
    expect(variables).toBe(31);
    expect(event?.recovery?.restoredVariables).toBe(variables);
    expect(tf.getBackend()).toBe('wasm');
    expect(maxWeightsDiff(restored ?? [], saved ?? [])).toBe(0);
    // Training resumed from the snapshot (after step 2) with Adam's state intact: steps 4 and 5,
    // on WASM, redo the reference's steps 3 and 4.
    expect(losses).toHaveLength(5);
    expect((await engine.readOptimizerState()).step).toBe(4); // 2 in the snapshot, 2 after
    // The epoch whose step was lost reports NaN; the others their step's loss.
    expect(history.epochs.map((e) => e.loss)).toEqual([
      ...losses.slice(0, 2),
      Number.NaN,
      ...losses.slice(3),
    ]);
    expect(
      maxAbsDiff([...losses.slice(0, 2), ...losses.slice(3)], refRun.losses.slice(0, 4)),
    ).toBeLessThan(1e-4);
    model.dispose();
  });

  test('periodic snapshots cover a loss; variables never snapshotted are reported as NaN', async () => {
    // One device for both cases: every new device recompiles every shader, slowly on SwiftShader.
    const info = await initBackend({ backend: 'webgpu', snapshotIntervalMs: 50 });
    expect(info.backend).toBe('webgpu'); // a new device after the loss above
    const model = await createLeNet({ seed: 7 });
    await trainSteps(train, model, 2, 1); // binds the tfjs engine on WebGPU
    // New weights after train()'s own end-of-epoch snapshot: only the timer can copy them.
    const set = (await model.readWeights()).map((w) => w.map((v) => v * 0.5));
    model.setWeights(set);
    const changed = performance.now();
    // Wait for the timer's next snapshot (taken after the change), not for a guessed delay.
    await vi.waitFor(() => expect(latestSnapshot()?.takenAt ?? 0).toBeGreaterThan(changed), {
      timeout: 30_000,
      interval: 20,
    });
    const saved = await model.readWeights();
    expect(maxWeightsDiff(saved, set)).toBe(0);
    // Same live device, timer off: a model created and used now is in no snapshot.
    await initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
    const late = await createLeNet({ seed: 8 });
    // Uploads its weights to the GPU, where only the GPU has them.
    await evaluate(late, makePreparedSet(late, 1), { fastPath: 'off' });
    const lateEngine = (await engineModel(late).engineFor({ fastPath: 'off' })) as TfjsEngine;
    expect(lateEngine.info).toMatchObject({ kind: 'tfjs', backend: 'webgpu' });
    const names = lateEngine.variables.map((v) => v.name);
    expect(names).toHaveLength(10);

    const change = nextBackendChange();
    gpuDevice().destroy();
    const event = await change;
    expect(event.recovery?.snapshotAgeMs).toBeGreaterThanOrEqual(0); // a snapshot was used
    // The late engine's parameters and Adam's moments for each, all of them only on the GPU.
    expect(event.recovery?.lostVariables).toEqual([
      ...names,
      ...names.map((n) => `${n}/adam_m`),
      ...names.map((n) => `${n}/adam_v`),
    ]);
    expect(event.current.reason).toMatch(/; 30 variables could not be restored and hold NaN: /);
    expect(maxWeightsDiff(await model.readWeights(), saved)).toBe(0);
    expect(Number.isNaN((await late.readWeights())[0]?.[0])).toBe(true);
    model.dispose();
    late.dispose();
  });
});
