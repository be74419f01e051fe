import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../src/backend/select.js';
import { loadModel } from '../src/model/io.js';
import { createLeNet } from '../src/model/lenet.js';
import { createMlp } from '../src/model/mlp.js';
import { decodeWeights, encodeWeights, WeightsFormatError } from '../src/model/weights.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

function logits(model: Awaited<ReturnType<typeof createLeNet>>, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => model.apply(x).dataSync() as Float32Array);
}

describe('createLeNet', () => {
  test('summary matches the reference shapes and 61,706 parameters', async () => {
    const model = await createLeNet({ seed: 1 });
    expect(model.summary().map((l) => [l.name, l.outputShape])).toEqual([
      ['conv1', [1, 6, 28, 28]],
      ['pool1', [1, 6, 14, 14]],
      ['conv2', [1, 16, 10, 10]],
      ['pool2', [1, 16, 5, 5]],
      ['flatten', [1, 400]],
      ['fc1', [1, 120]],
      ['fc2', [1, 84]],
      ['fc3', [1, 10]],
    ]);
    expect(model.parameterCount).toBe(61706);
    expect(model.formatSummary()).toContain('Total params: 61,706');
    model.dispose();
  });

  test('seeded initialisation is reproducible and bounded like PyTorch', async () => {
    const a = await createLeNet({ seed: 7 });
    const b = await createLeNet({ seed: 7 });
    const c = await createLeNet({ seed: 8 });
    expect(a.getWeights()[0]).toEqual(b.getWeights()[0]);
    expect(a.getWeights()[0]).not.toEqual(c.getWeights()[0]);
    const fc1 = a.getWeights()[4] as Float32Array;
    const bound = 1 / Math.sqrt(400);
    expect(Math.max(...fc1.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...fc1.map(Math.abs))).toBeGreaterThan(bound * 0.9);
    for (const m of [a, b, c]) m.dispose();
  });

  test('variants build and run: avg pooling, tanh, conv2 activation, 28x28 input', async () => {
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const small = await createLeNet({
      inputSize: 28,
      pooling: 'avg',
      activation: 'tanh',
      conv2Activation: true,
      seed: 1,
    });
    expect(small.summary().find((l) => l.name === 'flatten')?.outputShape).toEqual([1, 256]);
    expect(logits(small, x).length).toBe(20);
    small.dispose();
    x.dispose();
    await expect(createLeNet({ inputSize: 30 })).rejects.toThrow(WeightsFormatError);
  });
});

describe('createMlp', () => {
  test('784 inputs, trainable shapes', async () => {
    const mlp = await createMlp({ hidden: [128, 64], seed: 1 });
    expect(mlp.parameterCount).toBe(784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10);
    expect(mlp.summary()[0]?.outputShape).toEqual([1, 784]);
    mlp.dispose();
  });
});

describe('weights save/load', () => {
  test('save -> load gives identical predictions and metadata', async () => {
    const model = await createLeNet({ seed: 3 });
    const x = tf.randomNormal([4, 32, 32, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    const bytes = await model.save({ note: 'test' });
    const copy = await loadModel(bytes);
    expect(Array.from(logits(copy, x))).toEqual(Array.from(logits(model, x)));
    expect(copy.spec).toEqual(model.spec);
    expect(copy.preprocessing).toEqual(model.preprocessing);
    expect(copy.metadata.note).toBe('test');
    for (const t of [model, copy, x]) t.dispose();
  });

  test('refuses NaN, wrong shapes, truncation, bad magic and bad spec with clear errors', async () => {
    const model = await createLeNet({ seed: 3 });
    const bytes = await model.save();
    const withNaN = bytes.slice();
    new DataView(withNaN.buffer).setFloat32(withNaN.length - 4, Number.NaN, true);
    await expect(loadModel(withNaN)).rejects.toThrow(/fc3\.bias\[9\] is NaN/);
    await expect(loadModel(bytes.subarray(0, bytes.length - 8))).rejects.toThrow(
      /payload is .* the tensors need/,
    );
    await expect(loadModel(bytes.subarray(0, 5))).rejects.toThrow(/truncated/);
    const badMagic = bytes.slice();
    badMagic[0] = 0x58;
    await expect(loadModel(badMagic)).rejects.toThrow(/magic "XNMW"/);

    const mlp = await createMlp({ hidden: [32] });
    const { header, tensors } = decodeWeights(await mlp.save());
    const shapes = header.tensors.map((t) =>
      t.name === 'fc1.weight' ? { ...t, shape: [784, 33] } : t,
    );
    const tampered = encodeWeights({ ...header, tensors: shapes }, tensors);
    mlp.dispose();
    await expect(loadModel(tampered)).rejects.toThrow(
      /fc1\.weight: shape \[784,33\] found, \[784,32\] expected/,
    );
    await expect(loadModel(bytes.slice(0, 4))).rejects.toBeInstanceOf(WeightsFormatError);

    const w = model.getWeights();
    w[2] = new Float32Array(3);
    expect(() => model.setWeights(w)).toThrow(/conv2\.weight: 3 values given/);
    model.dispose();
  });
});
