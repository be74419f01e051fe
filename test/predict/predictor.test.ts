import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist, type Mnist } from '../../src/data/mnist.js';
import { prepareImages } from '../../src/data/preprocess.js';
import { ModelDisposedError } from '../../src/engine/errors.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import type { Model } from '../../src/engine/types.js';
import { OptionError } from '../../src/errors.js';
import { InputError } from '../../src/predict/input.js';
import { createPredictor, type Predictor } from '../../src/predict/predictor.js';

let mnist: Mnist;
let model: Model;
let predictor: Predictor;
const digit = (i: number) => mnist.test.images.subarray(i * 784, (i + 1) * 784);

/** A test digit as a canvas would hold it: scaled up, RGBA, dark ink on white paper. */
function asCanvas(pixels: Uint8Array, scale: number, inkOnPaper = true) {
  const side = 28 * scale;
  const data = new Uint8ClampedArray(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = pixels[Math.floor(y / scale) * 28 + Math.floor(x / scale)] as number;
      const shade = inkOnPaper ? 255 - v : v;
      data.set([shade, shade, shade, 255], (y * side + x) * 4);
    }
  }
  return { data, width: side, height: side };
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  mnist = await loadMnist();
  model = await loadPretrained();
  predictor = await createPredictor(model);
});

describe('createPredictor', () => {
  test('one result per image: a label and 10 probabilities that sum to 1', async () => {
    const { label, probabilities } = await predictor.predict(digit(0));
    expect(label).toBe(mnist.test.labels[0]);
    expect(probabilities).toHaveLength(10);
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(label).toBe(probabilities.indexOf(Math.max(...probabilities)));
  });

  test('Uint8Array, Uint8ClampedArray, Float32Array and prepared 32x32 inputs agree', async () => {
    const prepared = prepareImages({ ...mnist.test, count: 20 });
    for (let i = 0; i < 20; i++) {
      const u8 = digit(i);
      const [a, b, c, d] = await predictor.predictBatch([
        u8,
        new Uint8ClampedArray(u8),
        Float32Array.from(u8, (v) => v / 255),
        prepared.images.subarray(i * 1024, (i + 1) * 1024),
      ]);
      for (const other of [b, c, d]) {
        expect(Array.from(other?.probabilities ?? [])).toEqual(Array.from(a?.probabilities ?? []));
      }
    }
  });

  test('canvas ImageData of any size: dark-on-light drawings are inverted and re-framed', async () => {
    const n = 50;
    const images = Array.from({ length: n }, (_, i) => asCanvas(digit(i), 10));
    const labels = (await predictor.predictBatch(images)).map((p) => p.label);
    const correct = labels.filter((l, i) => l === mnist.test.labels[i]).length;
    expect(correct).toBeGreaterThanOrEqual(47);
    // White ink on black, the MNIST way, with inversion off.
    const whiteOnBlack = await createPredictor(model, { invert: false });
    const direct = await whiteOnBlack.predict(asCanvas(digit(3), 4, false));
    expect(direct.label).toBe(mnist.test.labels[3]);
    whiteOnBlack.dispose();
  });

  test('bad inputs raise InputError naming what was wrong', async () => {
    await expect(predictor.predict(new Uint8Array(100))).rejects.toThrow(
      /784 \(28x28\) or 1024 \(32x32\) pixels, found 100/,
    );
    const outOfRange = new Float32Array(784);
    outOfRange[5] = 37;
    await expect(predictor.predict(outOfRange)).rejects.toThrow(/\[0, 1\], found 37 at index 5/);
    await expect(
      predictor.predict({ data: new Uint8ClampedArray(10), width: 4, height: 4 }),
    ).rejects.toThrow(/RGBA data must be 64 bytes/);
    await expect(predictor.predict('digit' as never)).rejects.toBeInstanceOf(InputError);
    await expect(predictor.predictBatch([digit(0), new Uint8Array(3)])).rejects.toThrow(/image 1/);
    await expect(predictor.predictBatch('x' as never)).rejects.toBeInstanceOf(InputError);
    // A sparse array's holes are missing images, not whatever the last batch left behind.
    await expect(predictor.predictBatch(new Array(3))).rejects.toThrow(/image 0/);
    // biome-ignore lint/suspicious/noSparseArray: the hole is the case under test
    await expect(predictor.predictBatch([digit(0), , digit(1)] as never)).rejects.toThrow(
      /image 1/,
    );
  });

  test.each(['auto', 'off'] as const)(
    'a disposed model: predictions reject with ModelDisposedError (fastPath %s)',
    async (fastPath) => {
      const copy = await loadPretrained();
      const p = await createPredictor(copy, { fastPath });
      await p.predict(digit(0));
      copy.dispose();
      await expect(p.predict(digit(0))).rejects.toBeInstanceOf(ModelDisposedError);
      await expect(p.predictBatch([digit(0)])).rejects.toBeInstanceOf(ModelDisposedError);
    },
  );

  test('bad options are refused at creation with OptionError', async () => {
    await expect(createPredictor(model, { fastPath: 'bogus' as 'off' })).rejects.toBeInstanceOf(
      OptionError,
    );
    await expect(createPredictor(model, { batchSize: 0 })).rejects.toBeInstanceOf(OptionError);
  });
});
