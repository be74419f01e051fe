/**
 * The browser test page's script. It imports the built library exactly as an app would (the test
 * bundles this file with `../../src/index.js` and `../../src/tfjs.js` mapped to the served
 * `dist/browser.js` and `dist/browser-tfjs.js`: lenet-mnist's own tfjs instance), and
 * exposes one function per check for the Node side to call with `page.evaluate`.
 */
import * as lib from '../../src/index.js';
import { tf } from '../../src/tfjs.js';
import {
  forwardAndGradients,
  makeTrainer,
  maxAbsDiff,
  maxGradDiff,
  readWeights,
  trainLosses,
} from '../helpers/lenet-checks.js';

/** A thrown error, as data that survives `page.evaluate`. */
export interface PageError {
  ok: false;
  name: string;
  message: string;
  isBackendError: boolean;
}

function asPageError(err: unknown): PageError {
  const e = err as Error;
  return {
    ok: false,
    name: e?.name ?? 'Error',
    message: e?.message ?? String(err),
    isBackendError: err instanceof lib.BackendError,
  };
}

export function environment() {
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    isSecureContext: globalThis.isSecureContext === true,
    hasNavigatorGpu: (navigator as { gpu?: unknown }).gpu != null,
  };
}

export async function init(
  options: lib.InitBackendOptions,
): Promise<{ ok: true; info: lib.BackendInfo; formatted: string; tfBackend: string } | PageError> {
  try {
    const info = await lib.initBackend(options);
    return { ok: true, info, formatted: lib.formatBackendInfo(info), tfBackend: tf.getBackend() };
  } catch (err) {
    return asPageError(err);
  }
}

/** LeNet forward outputs and gradients on WASM, then on WebGPU for the same model. */
export async function compareForward(n: number) {
  await lib.initBackend({ backend: 'wasm' });
  const model = await lib.createLeNet({ seed: 3 });
  const onWasm = await forwardAndGradients(tf, model, n);
  const gpu = await lib.initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  const onGpu = await forwardAndGradients(tf, model, n);
  model.dispose();
  return {
    gpu,
    tfBackend: tf.getBackend(),
    logitsLength: onGpu.logits.length,
    gradCount: Object.keys(onGpu.grads).length,
    logitsDiff: maxAbsDiff(onGpu.logits, onWasm.logits),
    lossDiff: Math.abs(onGpu.loss - onWasm.loss),
    gradDiff: maxGradDiff(onGpu, onWasm),
  };
}

/** The same Adam steps from the same initial weights on WASM and on WebGPU. */
export async function compareTraining(n: number, steps: number) {
  await lib.initBackend({ backend: 'wasm' });
  const a = await lib.createLeNet({ seed: 4 });
  const wasm = await trainLosses(tf, a, n, steps);
  a.dispose();
  await lib.initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  const b = await lib.createLeNet({ seed: 4 });
  const webgpu = await trainLosses(tf, b, n, steps);
  b.dispose();
  return { wasm, webgpu, tfBackend: tf.getBackend() };
}

/**
 * `auto` on the browser's real adapter, except that `requestDevice()` rejects: the real
 * `navigator.gpu` and adapter are wrapped, since a device failure cannot be caused at will.
 */
export async function autoWithFailingDevice() {
  const nav = navigator as unknown as {
    gpu: { requestAdapter(o?: object): Promise<object | null> };
  };
  const real = nav.gpu;
  const wrapped = {
    async requestAdapter(options?: object) {
      const adapter = await real.requestAdapter(options);
      if (adapter === null) return null;
      return new Proxy(adapter, {
        get(target, key) {
          if (key === 'requestDevice') {
            return async () => {
              throw new DOMException('simulated: device creation failed', 'OperationError');
            };
          }
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
  Object.defineProperty(nav, 'gpu', { value: wrapped, configurable: true });
  try {
    return await init({ allowFallbackAdapter: true });
  } finally {
    Object.defineProperty(nav, 'gpu', { value: real, configurable: true });
  }
}

/**
 * Trains on WebGPU, snapshots, trains one more step, then destroys the backend's real device (what
 * a driver reset does): the library must switch to WASM with the snapshot's weights.
 */
export async function deviceLossDuringTraining() {
  await lib.initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  const model = await lib.createLeNet({ seed: 5 });
  const trainer = makeTrainer(tf, model, 2);
  await trainer.step();
  await trainer.step();
  await lib.snapshotWeights();
  const saved = await readWeights(model);
  await trainer.step(); // after the snapshot: lost with the device
  const changed = new Promise<lib.BackendChangeEvent>((resolve) => {
    const off = lib.onBackendChange((event) => {
      off();
      resolve(event);
    });
  });
  (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
  const event = await changed;
  const restored = await readWeights(model);
  const lossAfter = await trainer.step();
  trainer.dispose();
  model.dispose();
  return {
    cause: event.cause,
    previous: event.previous?.backend,
    current: event.current,
    recovery: event.recovery,
    weightsDiff: Math.max(...restored.map((w, i) => maxAbsDiff(w, saved[i] as Float32Array))),
    lossAfter,
    tfBackend: tf.getBackend(),
  };
}
