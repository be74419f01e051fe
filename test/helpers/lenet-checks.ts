/**
 * LeNet checks shared by the Node WebGPU tests and the browser test page, so that both run the
 * same computation. Everything is read back with `await data()`: tfjs' synchronous GPU reads need
 * OffscreenCanvas, which Node lacks.
 */
import type * as tfjs from '@tensorflow/tfjs-core';

type Tf = typeof tfjs;

/** The part of the library's `Model` these checks use. */
export interface CheckedModel {
  apply(images: tfjs.Tensor4D): tfjs.Tensor2D;
  readonly parameters: readonly { name: string; variable: tfjs.Variable }[];
}

/** A deterministic batch of `n` 32x32 images and one-hot labels, made in plain JavaScript. */
export function makeBatch(tf: Tf, n: number, seed = 1): { x: tfjs.Tensor4D; y: tfjs.Tensor2D } {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const pixels = Float32Array.from({ length: n * 32 * 32 }, () => next() * 2 - 0.5);
  const labels = Array.from({ length: n }, (_, i) => (i * 3 + seed) % 10);
  return {
    x: tf.tensor4d(pixels, [n, 32, 32, 1]),
    y: tf.tidy(
      () => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32') as tfjs.Tensor2D,
    ),
  };
}

export interface ForwardAndGradients {
  logits: Float32Array;
  loss: number;
  /** Gradient of the mean softmax cross-entropy per parameter, by parameter name. */
  grads: Record<string, Float32Array>;
}

/** Logits, loss and every parameter's gradient for one batch. */
export async function forwardAndGradients(
  tf: Tf,
  model: CheckedModel,
  n: number,
  seed = 1,
): Promise<ForwardAndGradients> {
  const { x, y } = makeBatch(tf, n, seed);
  try {
    const logitsT = model.apply(x);
    const vars = model.parameters.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x)) as tfjs.Scalar,
      vars,
    );
    const names = model.parameters.map((p) => p.name);
    const arrays = await Promise.all([
      logitsT.data(),
      value.data(),
      ...vars.map((v) => (grads[v.name] as tfjs.Tensor).data()),
    ]);
    tf.dispose([logitsT, value, ...Object.values(grads)]);
    const out: Record<string, Float32Array> = {};
    names.forEach((name, i) => {
      out[name] = arrays[i + 2] as Float32Array;
    });
    return {
      logits: arrays[0] as Float32Array,
      loss: (arrays[1] as Float32Array)[0] as number,
      grads: out,
    };
  } finally {
    tf.dispose([x, y]);
  }
}

/** Adam steps on one fixed batch; `step()` resolves with that step's loss. */
export function makeTrainer(tf: Tf, model: CheckedModel, n: number, seed = 2) {
  const optimizer = tf.train.adam(1e-3);
  const vars = model.parameters.map((p) => p.variable);
  return {
    optimizer,
    async step(): Promise<number> {
      const { x, y } = makeBatch(tf, n, seed);
      try {
        const loss = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(y, model.apply(x)) as tfjs.Scalar,
          true,
          vars,
        ) as tfjs.Scalar;
        const value = (await loss.data())[0] as number;
        loss.dispose();
        return value;
      } finally {
        tf.dispose([x, y]);
      }
    },
    dispose(): void {
      optimizer.dispose();
    },
  };
}

/** Losses of `steps` Adam steps (lr 1e-3) on one fixed batch. */
export async function trainLosses(
  tf: Tf,
  model: CheckedModel,
  n: number,
  steps: number,
): Promise<number[]> {
  const trainer = makeTrainer(tf, model, n);
  try {
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) losses.push(await trainer.step());
    return losses;
  } finally {
    trainer.dispose();
  }
}

/** Reads every parameter of a model (async: works on every backend). */
export async function readWeights(model: CheckedModel): Promise<Float32Array[]> {
  return Promise.all(model.parameters.map(async (p) => (await p.variable.data()) as Float32Array));
}

/** Largest absolute elementwise difference; Infinity on a length mismatch. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Largest {@link maxAbsDiff} over the gradients of two runs. */
export function maxGradDiff(a: ForwardAndGradients, b: ForwardAndGradients): number {
  return Math.max(
    ...Object.keys(a.grads).map((k) => maxAbsDiff(a.grads[k] as Float32Array, b.grads[k] ?? [])),
  );
}
