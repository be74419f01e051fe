/**
 * The MaxPoolGrad kernel registered for tfjs-backend-wasm (src/backend/kernels/max_pool_grad.ts)
 * against tfjs' cpu backend, including the all-negative windows the shipped kernel gets wrong.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';

type Case = {
  name: string;
  shape: [number, number, number, number];
  size: number;
  stride: number;
  pad: 'valid' | 'same';
  values?: (i: number) => number;
};

const cases: Case[] = [
  {
    name: 'all-negative windows',
    shape: [1, 4, 4, 1],
    size: 2,
    stride: 2,
    pad: 'valid',
    values: (i) => -1 - ((i * 7) % 5),
  },
  {
    name: 'LeNet pool2 shape, mixed signs',
    shape: [3, 10, 10, 16],
    size: 2,
    stride: 2,
    pad: 'valid',
  },
  {
    name: 'LeNet pool1 shape after ReLU (ties at 0)',
    shape: [2, 28, 28, 6],
    size: 2,
    stride: 2,
    pad: 'valid',
    values: (i) => Math.max(0, Math.sin(i * 0.37)),
  },
  { name: 'overlapping windows', shape: [2, 7, 7, 3], size: 3, stride: 1, pad: 'valid' },
  {
    name: 'same padding, odd size',
    shape: [1, 5, 5, 2],
    size: 2,
    stride: 2,
    pad: 'same',
    values: (i) => -Math.abs(Math.cos(i)),
  },
];

async function gradient(c: Case): Promise<Float32Array> {
  const n = c.shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(
    Float32Array.from({ length: n }, (_, i) => (c.values ?? ((j) => Math.sin(j * 1.7) * 3))(i)),
    c.shape,
  );
  const g = tf.grad((t: tf.Tensor) => {
    const y = tf.maxPool(t as tf.Tensor4D, c.size, c.stride, c.pad);
    return tf.sum(tf.mul(y, tf.reshape(tf.range(1, y.size + 1), y.shape)));
  })(x);
  const out = (await g.data()) as Float32Array;
  tf.dispose([x, g]);
  return out;
}

describe('MaxPoolGrad on wasm', () => {
  test.each(cases)('matches the cpu backend: $name', async (c) => {
    await initBackend({ backend: 'wasm' });
    const onWasm = await gradient(c);
    await tf.setBackend('cpu');
    const onCpu = await gradient(c);
    expect(Array.from(onWasm)).toEqual(Array.from(onCpu));
  });

  test('no tensor leaks', async () => {
    await initBackend({ backend: 'wasm' });
    await gradient(cases[1] as Case); // warm-up
    const before = tf.memory().numTensors;
    await gradient(cases[1] as Case);
    expect(tf.memory().numTensors).toBe(before);
  });
});
