// The photo pipeline's edges: typed errors for unusable images, grayscale images of any size,
// and the `empty` flag on MNIST-style arrays (which keep their exact path).
import { beforeAll, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist, type Mnist } from '../../src/data/mnist.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { extractDigit } from '../../src/predict/extract.js';
import { InputError, toGrayDigit } from '../../src/predict/input.js';
import { createPredictor } from '../../src/predict/predictor.js';

let mnist: Mnist;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  mnist = await loadMnist();
});

/** A dark MNIST digit on grey paper, `scale` times larger, as one byte a pixel. */
function grayPhoto(index: number, scale: number, paper = 200): Uint8Array {
  const side = 28 * scale;
  const out = new Uint8Array(side * side).fill(paper);
  const digit = mnist.test.images.subarray(index * 784, (index + 1) * 784);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = (digit[((y / scale) | 0) * 28 + ((x / scale) | 0)] as number) / 255;
      out[y * side + x] = Math.round(paper * (1 - v) + 20 * v);
    }
  }
  return out;
}

test('bad images get typed errors naming what was wrong', () => {
  const rgba = (w: number, h: number) => new Uint8ClampedArray(Math.max(0, w * h * 4));
  const cases: [unknown, RegExp][] = [
    [{ data: rgba(0, 0), width: 0, height: 0 }, /positive integers/],
    [{ data: rgba(2, 2), width: Number.NaN, height: 2 }, /positive integers.*NaN/],
    [{ data: new Uint8Array(4), width: 1 << 14, height: 1 << 13 }, /at most 2\^26/],
    [
      { data: rgba(3, 3).subarray(1), width: 3, height: 3 },
      /RGBA data must be 36 bytes.*or 9 for grayscale/,
    ],
    [{ data: new Float32Array(36), width: 3, height: 3 }, /Float32Array/],
    [{ data: [1, 2, 3], width: 1, height: 3 }, /Array\(3\)/],
    [null, /null/],
  ];
  for (const [image, message] of cases) {
    expect(() => extractDigit(image as never), String(message)).toThrow(InputError);
    expect(() => extractDigit(image as never)).toThrow(message);
    expect(() => toGrayDigit(image as never)).toThrow(InputError);
  }
  const detached = new Uint8ClampedArray(16);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  expect(() => extractDigit({ data: detached, width: 2, height: 2 })).toThrow(/detached/);
  expect(() =>
    extractDigit({ data: rgba(2, 2), width: 2, height: 2 }, { invert: 'yes' as never }),
  ).toThrow(/invert must be true, false or 'auto', got "yes"/);
});

test('grayscale images of any size go through the pipeline; tiny or flat ones are empty', async () => {
  const model = await loadPretrained();
  const predictor = await createPredictor(model);
  let right = 0;
  for (let i = 0; i < 20; i++) {
    const photo = grayPhoto(i, 5);
    const p = await predictor.predict({ data: photo, width: 140, height: 140 });
    expect(p.empty).toBe(false);
    if (p.label === mnist.test.labels[i]) right++;
  }
  expect(right).toBeGreaterThanOrEqual(19);
  for (const [w, h] of [
    [1, 1],
    [3, 500],
    [640, 2],
  ] as const) {
    const flat = await predictor.predict({
      data: new Uint8Array(w * h).fill(180),
      width: w,
      height: h,
    });
    expect(flat.empty, `${w}x${h}`).toBe(true);
    expect(flat.probabilities).toHaveLength(10);
  }
  predictor.dispose();
  model.dispose();
});

test('MNIST-style arrays keep their path: never empty for the 10,000 test digits, empty for a blank array', async () => {
  const model = await loadPretrained();
  const predictor = await createPredictor(model);
  const { test: set } = mnist;
  const digits = Array.from({ length: set.count }, (_, i) =>
    set.images.subarray(i * 784, (i + 1) * 784),
  );
  const batch = await predictor.predictBatch(digits);
  const labels = new Uint8Array(set.count);
  await predictor.classifyInto(set, { labels });
  expect(batch.every((p, i) => p.label === labels[i])).toBe(true);
  expect(batch.filter((p) => p.empty)).toHaveLength(0);
  let right = 0;
  for (let i = 0; i < set.count; i++) if (labels[i] === set.labels[i]) right++;
  expect(right / set.count).toBeCloseTo(0.995, 4); // the shipped weights' figure, unchanged
  for (const blank of [new Uint8Array(784), new Uint8Array(1024), new Float32Array(784)]) {
    const p = await predictor.predict(blank);
    expect(p.empty).toBe(true);
    expect(p.probabilities).toHaveLength(10);
  }
  // Arrays read as they are get `empty` from the engine: 5 half-intensity pixels make a digit.
  const specks = [4, 5].map((ink) => new Uint8ClampedArray(1024).fill(128, 300, 300 + ink));
  expect((await predictor.predict(specks[0] as Uint8ClampedArray)).empty).toBe(true);
  expect((await predictor.predict(specks[1] as Uint8ClampedArray)).empty).toBe(false);
  expect((await predictor.predict(digits[0] as Uint8Array)).empty).toBe(false);
  predictor.dispose();
  model.dispose();
});

test('classifyInto reports empty as predictBatch does, for arrays, packed digits and photos', async () => {
  const model = await loadPretrained();
  const predictor = await createPredictor(model);
  const set = mnist.test;
  // Packed 28x28 digits with blank ones between: out.empty marks exactly the blanks.
  const packed = new Uint8Array(6 * 784);
  for (const [slot, i] of [
    [0, 0],
    [2, 1],
    [5, 2],
  ] as const) {
    packed.set(set.images.subarray(i * 784, (i + 1) * 784), slot * 784);
  }
  const empty = new Uint8Array(6).fill(7);
  await predictor.classifyInto(packed, { labels: new Uint8Array(6), empty });
  expect(Array.from(empty)).toEqual([0, 1, 0, 1, 1, 0]);
  // An array of images: photos (a digit on grey paper, a blank sheet) and MNIST arrays.
  const images = [
    { data: grayPhoto(3, 8), width: 224, height: 224 },
    { data: new Uint8Array(224 * 224).fill(200), width: 224, height: 224 },
    set.images.subarray(0, 784),
    new Uint8Array(784),
  ];
  const batch = await predictor.predictBatch(images);
  const flags = new Uint8Array(4);
  const labels = new Uint8Array(4);
  await predictor.classifyInto(images, { labels, empty: flags });
  expect(Array.from(flags)).toEqual(batch.map((p) => (p.empty ? 1 : 0)));
  expect(Array.from(flags)).toEqual([0, 1, 0, 1]);
  expect(Array.from(labels)).toEqual(batch.map((p) => p.label));
  // A wrong output array is a typed error naming it.
  await expect(
    predictor.classifyInto(packed, { labels: new Uint8Array(6), empty: new Uint8Array(2) }),
  ).rejects.toThrow(/out\.empty must be a Uint8Array of at least 6 entries/);
  predictor.dispose();
  model.dispose();
});
