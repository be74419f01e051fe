import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { activateWasmBackend } from '../../src/backend/wasm.js';

type Pad =
  | 'valid'
  | 'same'
  | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}

const cases: Case[] = [
  { name: 'LeNet conv1', x: [64, 32, 32, 1], filter: [5, 5, 1, 6], strides: [1, 1], pad: 'valid' },
  { name: 'LeNet conv2', x: [64, 14, 14, 6], filter: [5, 5, 6, 16], strides: [1, 1], pad: 'valid' },
  {
    name: 'stride 2, valid, uneven',
    x: [3, 10, 9, 4],
    filter: [3, 3, 4, 5],
    strides: [2, 2],
    pad: 'valid',
  },
  { name: 'same padding', x: [2, 8, 8, 3], filter: [3, 3, 3, 2], strides: [1, 1], pad: 'same' },
  {
    name: 'stride 2, same, asymmetric',
    x: [2, 7, 8, 2],
    filter: [4, 3, 2, 3],
    strides: [2, 2],
    pad: 'same',
  },
  {
    name: 'explicit padding, mixed strides',
    x: [2, 9, 7, 2],
    filter: [3, 2, 2, 4],
    strides: [2, 1],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
];

function filterGrad(
  backend: string,
  c: Case,
  x: Float32Array,
  dy: Float32Array,
  dyShape: number[],
) {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const out = tf
      .engine()
      .runKernel(
        'Conv2DBackpropFilter',
        { x: tf.tensor4d(x, c.x), dy: tf.tensor(dy, dyShape) },
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter },
      ) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

describe('Conv2DBackpropFilter on wasm', () => {
  beforeAll(async () => {
    await activateWasmBackend();
  });

  test.each(cases)('matches tfjs-backend-cpu: $name', (c) => {
    const outShape = tf.conv2d(
      tf.zeros(c.x) as tf.Tensor4D,
      tf.zeros(c.filter) as tf.Tensor4D,
      c.strides,
      c.pad,
    ).shape;
    const x = tf.randomNormal(c.x, 0, 1, 'float32', 1).dataSync() as Float32Array;
    const dy = tf.randomNormal(outShape, 0, 1, 'float32', 2).dataSync() as Float32Array;
    const expected = filterGrad('cpu', c, x, dy, outShape);
    const before = tf.memory().numTensors;
    const actual = filterGrad('wasm', c, x, dy, outShape);
    expect(tf.memory().numTensors).toBe(before);
    expect(actual.length).toBe(expected.length);
    // Error relative to the tensor's scale: LeNet conv2 sums 6,400 products per weight, and any
    // float32 accumulation (XNNPACK's, PyTorch's) drifts in proportion to those sums' size.
    let maxErr = 0;
    let scale = 1;
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i] as number;
      scale = Math.max(scale, Math.abs(e));
      maxErr = Math.max(maxErr, Math.abs((actual[i] as number) - e));
    }
    expect(maxErr / scale).toBeLessThan(1e-4);
  });

  test('a conv net trains on wasm: gradients flow through conv2d', () => {
    tf.setBackend('wasm');
    const w = tf.variable(tf.randomNormal([3, 3, 1, 2], 0, 1, 'float32', 3));
    const x = tf.randomNormal([4, 6, 6, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const grads = tf.variableGrads(
      () => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid')) as tf.Scalar,
    );
    expect(grads.grads[w.name]?.shape).toEqual([3, 3, 1, 2]);
    tf.dispose([w, x, grads.value, ...Object.values(grads.grads)]);
  });
});
