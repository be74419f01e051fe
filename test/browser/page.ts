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
  makePreparedSet,
  maxAbsDiff,
  maxGradDiff,
  maxWeightsDiff,
  trainSteps,
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

/**
 * LeNet forward outputs and gradients on WASM, then on WebGPU for the same model (its engine
 * re-bound there by an evaluation, the weights carried over), and the library's own losses.
 */
export async function compareForward(n: number) {
  await lib.initBackend({ backend: 'wasm' });
  const model = await lib.createLeNet({ seed: 3 });
  const data = makePreparedSet(model, n, 9);
  const before = await model.readWeights();
  const onWasm = await forwardAndGradients(model, n);
  const evalWasm = await lib.evaluate(model, data);
  const wasmEngine = model.engine;
  const gpu = await lib.initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  // tfjs ops, asked for: on a software adapter 'auto' keeps the fused WASM kernels.
  const evalGpu = await lib.evaluate(model, data, { fastPath: 'off' });
  const gpuEngine = model.engine;
  const onGpu = await forwardAndGradients(model, n);
  const weightsDiff = maxWeightsDiff(await model.readWeights(), before);
  model.dispose();
  return {
    gpu,
    tfBackend: tf.getBackend(),
    wasmEngine: { kind: wasmEngine?.kind, backend: wasmEngine?.backend },
    gpuEngine: { kind: gpuEngine?.kind, backend: gpuEngine?.backend },
    logitsLength: onGpu.logits.length,
    gradCount: Object.keys(onGpu.grads).length,
    logitsDiff: maxAbsDiff(onGpu.logits, onWasm.logits),
    lossDiff: Math.abs(onGpu.loss - onWasm.loss),
    gradDiff: maxGradDiff(onGpu, onWasm),
    evalLossDiff: Math.abs(evalGpu.loss - evalWasm.loss),
    weightsDiff,
  };
}

/**
 * The fused WebGPU engine (fastPath 'webgpu') against the fused WASM engine ('wasm') on the same
 * batches from the same weights, through the public train() and evaluate(); and what 'auto'
 * picks on this (software) adapter.
 */
export async function compareFused(n: number, steps: number) {
  await lib.initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  const run = async (fastPath: 'webgpu' | 'wasm') => {
    const model = await lib.createLeNet({ seed: 6 });
    const data = makePreparedSet(model, n, 4);
    const losses: number[] = [];
    const history = await lib.train(model, data, {
      epochs: steps,
      batchSize: n,
      shuffle: false,
      fastPath,
      learningRate: 1e-3,
      onBatchEnd: (_b, logs) => {
        losses.push(logs.loss);
      },
    });
    const evaluation = await lib.evaluate(model, data, { fastPath });
    const weights = await model.readWeights();
    const engine = { kind: model.engine?.kind, backend: model.engine?.backend };
    model.dispose();
    return { losses, weights, evaluation, engine, path: history.path };
  };
  const gpu = await run('webgpu');
  const wasm = await run('wasm');
  const auto = await lib.createLeNet({ seed: 6 });
  await lib.evaluate(auto, makePreparedSet(auto, 1, 4));
  const autoEngine = { kind: auto.engine?.kind, reason: auto.engine?.reason };
  auto.dispose();
  let paramError = 0;
  gpu.weights.forEach((w, i) => {
    const ref = wasm.weights[i] as Float32Array;
    w.forEach((v, j) => {
      const r = ref[j] as number;
      paramError = Math.max(paramError, Math.abs(v - r) / Math.max(1, Math.abs(r)));
    });
  });
  return {
    gpuLosses: gpu.losses,
    wasmLosses: wasm.losses,
    gpuPath: gpu.path,
    gpuEngine: gpu.engine,
    wasmEngine: wasm.engine,
    paramError,
    evalLossDiff: Math.abs(gpu.evaluation.loss - wasm.evaluation.loss),
    sameConfusion:
      JSON.stringify(gpu.evaluation.confusion) === JSON.stringify(wasm.evaluation.confusion),
    autoEngine,
  };
}

/** The same Adam steps of `train()` (tfjs ops) from the same initial weights on WASM and WebGPU. */
export async function compareTraining(n: number, steps: number) {
  await lib.initBackend({ backend: 'wasm' });
  const a = await lib.createLeNet({ seed: 4 });
  const wasm = await trainSteps(lib.train, a, n, steps);
  a.dispose();
  await lib.initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  const b = await lib.createLeNet({ seed: 4 });
  const webgpu = await trainSteps(lib.train, b, n, steps);
  b.dispose();
  return {
    wasm: wasm.losses,
    webgpu: webgpu.losses,
    wasmRun: { path: wasm.path, backend: wasm.backend },
    webgpuRun: { path: webgpu.path, backend: webgpu.backend },
    weightsDiff: maxWeightsDiff(webgpu.weights, wasm.weights),
    tfBackend: tf.getBackend(),
  };
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
 * Trains on WebGPU with `train()` (one step per epoch; it snapshots at each epoch's end), then
 * destroys the backend's real device (what a driver reset does) right after step 3, before its
 * snapshot: the library must switch to WASM with the snapshot's weights and Adam state, and
 * training goes on there. A reference runs the same steps on WASM only.
 */
export async function deviceLossDuringTraining() {
  await lib.initBackend({ backend: 'wasm' });
  const ref = await lib.createLeNet({ seed: 5 });
  const refRun = await trainSteps(lib.train, ref, 2, 5);
  ref.dispose();

  await lib.initBackend({ backend: 'webgpu', snapshotIntervalMs: 0 });
  const model = await lib.createLeNet({ seed: 5 });
  const losses: number[] = [];
  let saved: Float32Array[] = [];
  let restored: Float32Array[] = [];
  let variables = 0;
  let event: lib.BackendChangeEvent | undefined;
  const history = await lib.train(model, makePreparedSet(model, 2), {
    epochs: 5,
    batchSize: 2,
    shuffle: false,
    fastPath: 'off',
    onEpochEnd: async (epoch) => {
      if (epoch === 2) saved = await model.readWeights();
    },
    onBatchEnd: async (_batch, logs) => {
      losses.push(logs.loss);
      if (losses.length !== 3) return; // step 3: after the last snapshot, lost with the device
      variables = Object.keys(tf.engine().registeredVariables).length;
      const changed = new Promise<lib.BackendChangeEvent>((resolve) => {
        const off = lib.onBackendChange((e) => {
          off();
          resolve(e);
        });
      });
      (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
      event = await changed;
      restored = await model.readWeights();
    },
  });
  model.dispose();
  return {
    cause: event?.cause,
    previous: event?.previous?.backend,
    current: event?.current,
    recovery: event?.recovery,
    variables,
    weightsDiff: maxWeightsDiff(restored, saved),
    losses,
    refLosses: refRun.losses,
    epochLosses: history.epochs.map((e) => e.loss),
    trainBackend: history.backend,
    tfBackend: tf.getBackend(),
  };
}
