import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadModel } from '../../src/engine/io.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { engineModel } from '../../src/engine/model.js';
import type { Model } from '../../src/engine/types.js';
import { pytorchDefaultInit } from '../../src/model/init.js';
import { buildLayers, layerParameterShapes } from '../../src/model/layers.js';
import { decodeWeights, encodeWeights, WeightsFormatError } from '../../src/model/weights.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Logits of `n` images through the model's engine (what predictors and evaluate use). */
async function logits(model: Model, images: Float32Array, n: number): Promise<Float32Array> {
  return (await engineModel(model).engineFor()).forward(images, n);
}

function randomImages(n: number, side: number, seed: number): Float32Array {
  return tf.tidy(
    () => tf.randomNormal([n, side, side, 1], 0, 1, 'float32', seed).dataSync() as Float32Array,
  );
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

  test('initial weights are tf.randomUniform draws (seed * 131 + i), made without a backend', () => {
    const spec = {
      kind: 'lenet',
      inputSize: 32,
      pooling: 'max',
      activation: 'relu',
      conv2Activation: false,
    } as const;
    const init = pytorchDefaultInit(spec, 5);
    buildLayers(spec)
      .flatMap(layerParameterShapes)
      .forEach(({ shape, fanIn }, i) => {
        const bound = 1 / Math.sqrt(fanIn);
        const expected = tf.tidy(() =>
          tf.randomUniform(shape, -bound, bound, 'float32', 5 * 131 + i).dataSync(),
        );
        expect(init[i]).toEqual(expected);
      });
  });

  test('creating a model binds no engine; first use binds the fused one on WASM', async () => {
    const model = await createLeNet({ seed: 1 });
    expect(model.engine).toBeUndefined();
    const before = model.getWeights();
    await logits(model, randomImages(1, 32, 1), 1);
    expect(model.engine).toMatchObject({ kind: 'fused', backend: 'wasm', threads: 1 });
    expect(model.getWeights()).toEqual(before);
    model.dispose();
  });

  test('bad options are RangeErrors named after the option, before anything is built', async () => {
    await expect(createLeNet({ inputSize: 30 })).rejects.toThrow(/createLeNet: spec.inputSize 30/);
    await expect(createLeNet({ pooling: 'min' as 'max' })).rejects.toThrow(RangeError);
    await expect(createLeNet({ std: 0 })).rejects.toThrow(/createLeNet: std must be/);
    await expect(createLeNet({ mean: Number.NaN })).rejects.toThrow(/mean must be a finite/);
    await expect(createLeNet({ resize: 'nearest' as 'pad' })).rejects.toThrow(/resize "nearest"/);
    await expect(createLeNet({ seed: Number.NaN })).rejects.toThrow(/seed must be/);
    await expect(createMlp({ hidden: [0] })).rejects.toThrow(RangeError);
  });

  test('variants build and run: avg pooling, tanh, conv2 activation, 28x28 input', async () => {
    const x = randomImages(2, 28, 1);
    const small = await createLeNet({
      inputSize: 28,
      pooling: 'avg',
      activation: 'tanh',
      conv2Activation: true,
      seed: 1,
    });
    expect(small.summary().find((l) => l.name === 'flatten')?.outputShape).toEqual([1, 256]);
    expect((await logits(small, x, 2)).length).toBe(20);
    expect(small.engine?.kind).toBe('fused');
    expect(small.engine?.kernels).toBe('generic');
    expect(small.engine?.reason).toMatch(
      /generic fused kernels .*: a 28x28 input \(not 32x32\), avg pooling \(not max\), tanh activations \(not ReLU\), an activation after conv2/,
    );
    small.dispose();
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
    const x = randomImages(4, 32, 2);
    const bytes = await model.save({ note: 'test' });
    const copy = await loadModel(bytes);
    expect(Array.from(await logits(copy, x, 4))).toEqual(Array.from(await logits(model, x, 4)));
    expect(copy.spec).toEqual(model.spec);
    expect(copy.preprocessing).toEqual(model.preprocessing);
    expect(copy.metadata.note).toBe('test');
    for (const t of [model, copy]) t.dispose();
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
