/**
 * LeNet checks shared by the Node WebGPU tests and the browser test page, so that both run the
 * same computation. Forward passes and gradients are computed here from the model's current
 * weights (`await model.readWeights()`) with the library's own tfjs layer ops (`applyLayers` over
 * `buildLayers(spec)`); training goes through the library's public `train()`. Everything is read
 * back asynchronously: tfjs' synchronous GPU reads need OffscreenCanvas, which Node lacks.
 *
 * In the browser page this module (and the layer code) is bundled from source beside the served
 * library bundle: two copies of tfjs-core, which share tfjs' one global engine and registries.
 */
import * as tf from '@tensorflow/tfjs-core';
import { applyLayers } from '../../src/engine/tfjs/layers.js';
import type { Model } from '../../src/index.js';
import { buildLayers } from '../../src/model/layers.js';

/** What these checks need of the library's `train()` (the page passes the built library's). */
export type TrainFn = typeof import('../../src/index.js').train;
type PreparedSet = Parameters<TrainFn>[1];

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A deterministic batch of `n` 32x32 normalised images and their labels, in plain JavaScript. */
export function makeBatch(n: number, seed = 1): { pixels: Float32Array; labels: number[] } {
  const next = lcg(seed);
  const pixels = Float32Array.from({ length: n * 32 * 32 }, () => next() * 2 - 0.5);
  const labels = Array.from({ length: n }, (_, i) => (i * 3 + seed) % 10);
  return { pixels, labels };
}

/**
 * A deterministic training set of `n` 8-bit images of the model's input size, normalised the way
 * the model expects (what `prepareImages` returns).
 */
export function makePreparedSet(model: Model, n: number, seed = 2): PreparedSet {
  const { size, mean, std } = model.preprocessing;
  const next = lcg(seed);
  const images = Uint8Array.from({ length: n * size * size }, () => Math.floor(next() * 256));
  const labels = Uint8Array.from({ length: n }, (_, i) => (i * 3 + seed) % 10);
  return { images, labels, count: n, height: size, width: size, mean, std };
}

export interface ForwardAndGradients {
  logits: Float32Array;
  loss: number;
  /** Gradient of the mean softmax cross-entropy per parameter, by parameter name. */
  grads: Record<string, Float32Array>;
}

/**
 * Logits, loss and every parameter's gradient for one batch, on the active backend, from the
 * model's current weights.
 */
export async function forwardAndGradients(
  model: Model,
  n: number,
  seed = 1,
): Promise<ForwardAndGradients> {
  const weights = await model.readWeights();
  const layers = buildLayers(model.spec);
  const { pixels, labels } = makeBatch(n, seed);
  const x = tf.tensor4d(pixels, [n, 32, 32, 1]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32'));
  const params = model.parameters.map((p, i) =>
    tf.tensor(weights[i] as Float32Array, [...p.shape], 'float32'),
  );
  /** Each conv or dense layer takes the next two parameters: [weight, bias]. */
  const perLayer = (ps: readonly tf.Tensor[]): tf.Tensor[][] => {
    let next = 0;
    return layers.map((layer) => {
      if (layer.type !== 'conv' && layer.type !== 'dense') return [];
      next += 2;
      return ps.slice(next - 2, next);
    });
  };
  try {
    const logitsT = applyLayers(layers, x, perLayer(params));
    const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) =>
      tf.losses.softmaxCrossEntropy(y, applyLayers(layers, x, perLayer(ps))),
    )(params);
    const arrays = await Promise.all([logitsT.data(), value.data(), ...grads.map((g) => g.data())]);
    tf.dispose([logitsT, value, ...grads]);
    const out: Record<string, Float32Array> = {};
    model.parameters.forEach(({ name }, i) => {
      out[name] = arrays[i + 2] as Float32Array;
    });
    return {
      logits: arrays[0] as Float32Array,
      loss: (arrays[1] as Float32Array)[0] as number,
      grads: out,
    };
  } finally {
    tf.dispose([x, y, ...params]);
  }
}

/** Per-step losses and the final weights of a {@link trainSteps} run. */
export interface TrainRun {
  losses: number[];
  weights: Float32Array[];
  path: string;
  backend: string;
}

/**
 * `steps` Adam steps (lr 1e-3) of the library's `train()` on one fixed batch of `n` images (one
 * epoch per step, no shuffling), on tfjs ops (`fastPath: 'off'`) whatever the backend, so that
 * WASM and WebGPU run the same engine.
 */
export async function trainSteps(
  train: TrainFn,
  model: Model,
  n: number,
  steps: number,
  seed = 2,
): Promise<TrainRun> {
  const losses: number[] = [];
  const history = await train(model, makePreparedSet(model, n, seed), {
    epochs: steps,
    batchSize: n,
    shuffle: false,
    fastPath: 'off',
    onBatchEnd: (_batch, logs) => {
      losses.push(logs.loss);
    },
  });
  return {
    losses,
    weights: await model.readWeights(),
    path: history.path,
    backend: history.backend,
  };
}

/** Largest absolute elementwise difference; Infinity on a length mismatch. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Largest {@link maxAbsDiff} over parameter lists (weights) of two runs; Infinity on a count mismatch. */
export function maxWeightsDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  return Math.max(0, ...a.map((w, i) => maxAbsDiff(w, b[i] ?? [])));
}

/** Largest {@link maxAbsDiff} over the gradients of two runs. */
export function maxGradDiff(a: ForwardAndGradients, b: ForwardAndGradients): number {
  return Math.max(
    ...Object.keys(a.grads).map((k) => maxAbsDiff(a.grads[k] as Float32Array, b.grads[k] ?? [])),
  );
}
