import * as tf from '@tensorflow/tfjs-core';
import { platform } from '../platform/index.js';

/** The WebGPU adapter that answered `requestAdapter()`, as plain data. */
export interface AdapterSummary {
  /** e.g. `'nvidia'`, `'intel'`, `'google'`; empty when the browser hides it. */
  readonly vendor: string;
  /** e.g. `'ampere'`, `'gen-12lp'`, `'swiftshader'`; empty when the browser hides it. */
  readonly architecture: string;
  /** Driver or device description, when the host reports one (Dawn does, browsers rarely). */
  readonly description: string;
  /**
   * A fallback adapter (WebGPU's `isFallbackAdapter`) or a software rasteriser recognised by
   * name (SwiftShader, llvmpipe, lavapipe, WARP): correct, but far slower than WASM for LeNet.
   */
  readonly isFallback: boolean;
}

/** How a WebGPU device was lost, as the `GPUDevice.lost` promise reports it. */
export interface DeviceLostInfo {
  /** `'destroyed'` when something called `device.destroy()`, else `'unknown'` (driver reset, GPU removed...). */
  readonly reason: string;
  readonly message: string;
}

// Structural views of the WebGPU objects this module touches. Declared here instead of relying
// on @webgpu/types so that no ambient GPU type leaks into the published declarations.
interface GpuInfoLike {
  vendor?: string;
  architecture?: string;
  description?: string;
  device?: string;
  isFallbackAdapter?: boolean;
}
interface GpuDeviceLike {
  readonly lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}
interface GpuAdapterLike {
  readonly info?: GpuInfoLike;
  readonly isFallbackAdapter?: boolean;
  readonly features: { has(name: string): boolean };
  readonly limits: Record<string, number>;
  requestAdapterInfo?(): Promise<GpuInfoLike>;
  requestDevice(descriptor?: object): Promise<GpuDeviceLike>;
}
interface GpuLike {
  requestAdapter(options?: {
    powerPreference?: 'low-power' | 'high-performance';
  }): Promise<GpuAdapterLike | null | undefined>;
}

/** Outcome of {@link activateWebGpuBackend}. */
export type WebGpuAttempt =
  | { readonly ok: true; readonly adapter: AdapterSummary; readonly detail: string }
  | { readonly ok: false; readonly reason: string; readonly adapter?: AdapterSummary };

/** Options of {@link activateWebGpuBackend}. */
export interface WebGpuAttemptOptions {
  /** Accept a fallback/software adapter (explicit `backend: 'webgpu'`, or `allowFallbackAdapter`). */
  readonly allowFallback: boolean;
  /** Called once if the device of the backend this call activated is lost later. */
  readonly onDeviceLost: (info: DeviceLostInfo) => void;
  readonly signal?: AbortSignal | undefined;
  /** Upper bound for the self-test; generous because a software adapter compiles shaders slowly. */
  readonly selfTestTimeoutMs?: number;
}

/** The WebGPU backend this module registered, while its device is usable. */
interface LiveWebGpu {
  readonly device: GpuDeviceLike;
  readonly adapter: AdapterSummary;
  lost: boolean;
  /** Set before this module destroys the device itself, so that the loss is not reported. */
  retiring: boolean;
}

let live: LiveWebGpu | undefined;

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|basic render|software/i;

/** A short human label for an adapter, e.g. `google swiftshader`. */
export function adapterLabel(adapter: AdapterSummary): string {
  const name = [adapter.vendor, adapter.architecture].filter((s) => s !== '').join(' ');
  return name !== '' ? name : adapter.description !== '' ? adapter.description : 'unnamed adapter';
}

async function summarize(adapter: GpuAdapterLike): Promise<AdapterSummary> {
  let info: GpuInfoLike = adapter.info ?? {};
  if (adapter.info === undefined && typeof adapter.requestAdapterInfo === 'function') {
    // Browsers before `GPUAdapter.info` (Chrome < 127) only had the async method.
    info = await adapter.requestAdapterInfo().catch(() => ({}));
  }
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const description = info.description ?? '';
  // `isFallbackAdapter` moved from GPUAdapter to GPUAdapterInfo in the spec; hosts differ.
  const flagged = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  const named = SOFTWARE_ADAPTER.test(
    `${vendor} ${architecture} ${description} ${info.device ?? ''}`,
  );
  return { vendor, architecture, description, isFallback: flagged || named };
}

/** The device descriptor tfjs-backend-webgpu 4.22 requests for itself (its `base.ts`). */
function tfjsDeviceDescriptor(adapter: GpuAdapterLike): object {
  const requiredFeatures: string[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const limits = adapter.limits;
  return {
    requiredFeatures,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.split('\n')[0]}`;
  return String(err);
}

function softwareReason(adapter: AdapterSummary): string {
  const what = adapter.description !== '' ? ` (${adapter.description})` : '';
  return `the adapter WebGPU offers, ${adapterLabel(adapter)}${what}, is a software fallback adapter, far slower than WASM here`;
}

/**
 * Makes tfjs-backend-webgpu the active tfjs backend on a device this module creates, after
 * checking every precondition in order: `navigator.gpu` (see `Platform.provideNavigatorGpu`), an
 * adapter, a hardware adapter unless `allowFallback`, a device, the tfjs backend, and a self-test
 * whose numbers are checked against a JavaScript reference. Never throws for a missing or broken
 * GPU: the failed step is the `reason`. A device already activated by an earlier call is reused.
 */
export async function activateWebGpuBackend(options: WebGpuAttemptOptions): Promise<WebGpuAttempt> {
  // Whatever was put on the global object to reach WebGPU (Node: Dawn's navigator.gpu and
  // constants) stays only while a WebGPU backend runs: a failed or skipped probe leaves nothing.
  try {
    const attempt = await attemptWebGpu(options);
    if (!attempt.ok && live === undefined) platform.withdrawNavigatorGpu();
    return attempt;
  } catch (err) {
    if (live === undefined) platform.withdrawNavigatorGpu();
    throw err;
  }
}

async function attemptWebGpu(options: WebGpuAttemptOptions): Promise<WebGpuAttempt> {
  if (live !== undefined && !live.lost) {
    if (live.adapter.isFallback && !options.allowFallback) {
      return { ok: false, reason: softwareReason(live.adapter), adapter: live.adapter };
    }
    if (!(await tf.setBackend('webgpu'))) {
      return {
        ok: false,
        reason: 'tfjs could not switch back to its WebGPU backend',
        adapter: live.adapter,
      };
    }
    return { ok: true, adapter: live.adapter, detail: 'device initialised earlier' };
  }

  const provided = await platform.provideNavigatorGpu();
  if (!provided.ok) return { ok: false, reason: provided.reason };
  options.signal?.throwIfAborted();
  const gpu = (globalThis as unknown as { navigator: { gpu: GpuLike } }).navigator.gpu;

  let adapter: GpuAdapterLike | null | undefined;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { ok: false, reason: `navigator.gpu.requestAdapter() failed (${errorText(err)})` };
  }
  if (adapter == null) {
    return {
      ok: false,
      reason:
        'navigator.gpu.requestAdapter() returned null: no usable GPU adapter (no GPU or driver, a blocklisted driver, or WebGPU disabled)',
    };
  }
  const summary = await summarize(adapter);
  if (summary.isFallback && !options.allowFallback) {
    return { ok: false, reason: softwareReason(summary), adapter: summary };
  }
  options.signal?.throwIfAborted();

  let device: GpuDeviceLike;
  try {
    device = await adapter.requestDevice(tfjsDeviceDescriptor(adapter));
  } catch (err) {
    return {
      ok: false,
      reason: `adapter ${adapterLabel(summary)}: requestDevice() failed (${errorText(err)})`,
      adapter: summary,
    };
  }
  const state: LiveWebGpu = { device, adapter: summary, lost: false, retiring: false };
  device.lost.then(
    (info) => {
      state.lost = true;
      // Only the device behind the active backend matters; one that failed its self-test or was
      // retired here is not news.
      if (live === state && !state.retiring) {
        options.onDeviceLost({
          reason: info?.reason ?? 'unknown',
          message: info?.message ?? '',
        });
      }
    },
    () => undefined,
  );

  const fail = (reason: string): WebGpuAttempt => {
    retire(state);
    return { ok: false, reason, adapter: summary };
  };
  try {
    options.signal?.throwIfAborted();
  } catch (err) {
    retire(state);
    throw err;
  }

  let backendModule: typeof import('@tensorflow/tfjs-backend-webgpu');
  try {
    // Imported only now: the module registers its backend (and checks `navigator.gpu`) at import
    // time, and the WebGPU code stays out of the way of apps that never get here.
    backendModule = await import('@tensorflow/tfjs-backend-webgpu');
  } catch (err) {
    return fail(`@tensorflow/tfjs-backend-webgpu did not load (${errorText(err)})`);
  }
  let backend: tf.KernelBackend;
  try {
    backend = new backendModule.WebGPUBackend(
      device as unknown as ConstructorParameters<typeof backendModule.WebGPUBackend>[0],
      // tfjs reads only these two (to tune for Intel GPU generations).
      { vendor: summary.vendor, architecture: summary.architecture } as ConstructorParameters<
        typeof backendModule.WebGPUBackend
      >[1],
    );
  } catch (err) {
    return fail(`the tfjs WebGPU backend failed to initialise (${errorText(err)})`);
  }
  // tfjs-backend-webgpu registered a factory that requests its own adapter and device; replace it
  // with one returning the backend on the device checked here (and watched for loss).
  if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend, 3);
  if (!(await tf.setBackend('webgpu'))) {
    return fail('tf.setBackend("webgpu") failed (see the console for tfjs\' error)');
  }
  const test = await selfTest(options.selfTestTimeoutMs ?? 60_000);
  if (!test.ok) return fail(`adapter ${adapterLabel(summary)}: self-test ${test.reason}`);
  live = state;
  return { ok: true, adapter: summary, detail: `self-test passed in ${test.ms.toFixed(0)} ms` };
}

/**
 * Forgets the WebGPU backend: unregisters it from tfjs and destroys its device. For a device that
 * is already lost this only releases what is left.
 */
export function retireWebGpuBackend(): void {
  if (live !== undefined) retire(live);
}

function retire(state: LiveWebGpu): void {
  state.retiring = true;
  if (live === state) live = undefined;
  if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
  try {
    state.device.destroy();
  } catch {
    // Destroying a lost device may throw on some hosts; it is gone either way.
  }
  if (live === undefined) platform.withdrawNavigatorGpu();
}

/** The adapter of the live WebGPU backend, if any. */
export function liveWebGpuAdapter(): AdapterSummary | undefined {
  return live !== undefined && !live.lost ? live.adapter : undefined;
}

/**
 * A few kernels of the families LeNet uses (fused conv2d with bias and ReLU, max pooling, fused
 * matMul), on shapes small enough to compile and run in well under a second even on a software
 * adapter, compared with a plain JavaScript computation. Catches drivers that initialise but
 * compute garbage, and devices that die on first use.
 */
async function selfTest(
  timeoutMs: number,
): Promise<{ ok: true; ms: number } | { ok: false; reason: string }> {
  const start = performance.now();
  const x = Float32Array.from({ length: 16 }, (_, i) => (i % 5) - 2); // [1, 4, 4, 1]
  const w = Float32Array.from([1, 0.5, -1, 0.25, 0.5, -0.5, 2, 1]); // [2, 2, 1, 2]
  const bias = [0.5, -1];
  const dense = Float32Array.from({ length: 8 * 3 }, (_, i) => ((i * 7) % 11) / 10 - 0.5); // [8, 3]
  const expected = referenceSelfTest(x, w, bias, dense);
  let out: tf.Tensor | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    out = tf.tidy(() => {
      const conv = tf.fused.conv2d({
        x: tf.tensor4d(x, [1, 4, 4, 1]),
        filter: tf.tensor4d(w, [2, 2, 1, 2]),
        bias: tf.tensor1d(bias),
        strides: 1,
        pad: 'valid',
        activation: 'relu',
      });
      const pooled = tf.maxPool(conv, 2, 1, 'valid'); // [1, 2, 2, 2]
      return tf.fused.matMul({ a: tf.reshape(pooled, [1, 8]), b: tf.tensor2d(dense, [8, 3]) });
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`did not finish within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    });
    const got = (await Promise.race([out.data(), timeout])) as Float32Array;
    let maxError = 0;
    expected.forEach((want, i) => {
      maxError = Math.max(maxError, Math.abs((got[i] ?? Number.NaN) - want));
    });
    if (!(maxError <= 1e-4)) {
      return {
        ok: false,
        reason: `computed wrong numbers (got [${Array.from(got).map((v) => v.toFixed(4))}], expected [${expected.map((v) => v.toFixed(4))}])`,
      };
    }
    return { ok: true, ms: performance.now() - start };
  } catch (err) {
    return { ok: false, reason: `failed (${errorText(err)})` };
  } finally {
    clearTimeout(timer);
    out?.dispose();
  }
}

/** What {@link selfTest} must produce, computed in plain JavaScript. */
function referenceSelfTest(
  x: Float32Array,
  w: Float32Array,
  bias: readonly number[],
  dense: Float32Array,
): number[] {
  // conv2d valid 2x2, NHWC input [1,4,4,1], HWIO filter [2,2,1,2], + bias, ReLU -> [3,3,2]
  const conv: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      for (let o = 0; o < 2; o++) {
        let s = bias[o] as number;
        for (let kr = 0; kr < 2; kr++) {
          for (let kc = 0; kc < 2; kc++) {
            s += (x[(r + kr) * 4 + (c + kc)] as number) * (w[(kr * 2 + kc) * 2 + o] as number);
          }
        }
        conv[(r * 3 + c) * 2 + o] = Math.max(0, s);
      }
    }
  }
  // max pool 2x2 stride 1 -> [2,2,2], flattened in NHWC order
  const pooled: number[] = [];
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < 2; c++) {
      for (let o = 0; o < 2; o++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let kr = 0; kr < 2; kr++) {
          for (let kc = 0; kc < 2; kc++)
            m = Math.max(m, conv[((r + kr) * 3 + c + kc) * 2 + o] as number);
        }
        pooled.push(m);
      }
    }
  }
  // [1,8] x [8,3]
  return [0, 1, 2].map((j) => pooled.reduce((s, p, i) => s + p * (dense[i * 3 + j] as number), 0));
}
