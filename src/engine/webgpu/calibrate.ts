import { FusedEngine } from '../fused/engine.js';
import { memoPromise } from '../memo.js';
import type { Engine } from '../types.js';
import { WebGpuEngine } from './engine.js';
import { IMAGE } from './shaders.js';

/** What a model is being bound for: training steps, or predictions of single images. */
export type Workload = 'training' | 'inference';

/** Throughput of both fused engines on one workload, measured side by side. */
export interface Calibration {
  readonly workload: Workload;
  /** Samples/s (training) or images/s (single-image inference) of the fused WebGPU engine. */
  readonly webgpu: number;
  /** The same for the fused WASM engine (one thread). */
  readonly wasm: number;
}

/** Sizes of a calibration run (defaults: batch 64, 1 warm-up and 5 timed steps, 20 images). */
export interface CalibrationSizes {
  batch?: number;
  warmup?: number;
  steps?: number;
  images?: number;
}

const cache = new Map<string, Promise<Calibration>>();

/**
 * Times both fused engines on `workload` with copies of `weights` (never the caller's engine):
 * training, `steps` Adam steps of `batch` images after `warmup` (the GPU's time is counted by
 * reading the totals at the end); inference, `images` single-image predictions, each read back.
 * Cached per `key` (the adapter) and workload for the session; a failed run is not cached.
 */
export function calibrate(
  device: object,
  key: string,
  workload: Workload,
  weights: readonly Float32Array[],
  sizes: CalibrationSizes = {},
): Promise<Calibration> {
  const id = `${key}\u0000${workload}`;
  return memoPromise(cache, id, () => measureBoth(device, workload, weights, sizes));
}

async function measureBoth(
  device: object,
  workload: Workload,
  weights: readonly Float32Array[],
  sizes: CalibrationSizes,
): Promise<Calibration> {
  const gpu = await WebGpuEngine.create(device, weights, 'calibration');
  const wasm = await FusedEngine.create(weights, 'calibration').catch(async (err) => {
    await gpu.dispose();
    throw err;
  });
  try {
    const measure = workload === 'training' ? trainingRate : inferenceRate;
    return { workload, webgpu: await measure(gpu, sizes), wasm: await measure(wasm, sizes) };
  } finally {
    await Promise.all([gpu.dispose(), wasm.dispose()]);
  }
}

/** Deterministic images in the normalised range, and labels. */
function syntheticBatch(n: number) {
  const images = Float32Array.from({ length: n * IMAGE }, (_, i) => ((i * 7919) % 255) / 127 - 1);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return { images, labels, n };
}

async function trainingRate(
  engine: FusedEngine | WebGpuEngine,
  sizes: CalibrationSizes,
): Promise<number> {
  const { batch = 64, warmup = 1, steps = 5 } = sizes;
  const data = syntheticBatch(batch);
  const adam = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
  for (let i = 0; i < warmup; i++) await engine.trainBatch(data, adam, false);
  await engine.takeTotals();
  const start = performance.now();
  for (let i = 0; i < steps; i++) await engine.trainBatch(data, adam, false);
  await engine.takeTotals();
  return (batch * steps) / ((performance.now() - start) / 1000);
}

async function inferenceRate(engine: Engine, sizes: CalibrationSizes): Promise<number> {
  const { images = 20, warmup = 1 } = sizes;
  const one = syntheticBatch(1).images;
  for (let i = 0; i < warmup; i++) await engine.forward(one, 1);
  const start = performance.now();
  for (let i = 0; i < images; i++) await engine.forward(one, 1);
  return images / ((performance.now() - start) / 1000);
}
