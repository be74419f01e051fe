/** Dataset presets and the subset helper. */
import { expect, test } from 'vitest';
import { loadMnist } from '../../src/data/mnist.js';
import { MNIST_MEAN, MNIST_STD } from '../../src/data/preprocess.js';
import { DATASETS, firstImages } from '../../src/data/presets.js';
import { createLeNet } from '../../src/engine/lenet.js';

test('presets carry mean/std, class names and what to download', async () => {
  expect(DATASETS.mnist).toMatchObject({ mean: MNIST_MEAN, std: MNIST_STD, title: 'MNIST' });
  expect(DATASETS.mnist.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const fashion = DATASETS['fashion-mnist'];
  expect(fashion).toMatchObject({ mean: 0.286, std: 0.353 });
  expect(fashion.classNames).toHaveLength(10);
  expect(fashion.classNames[9]).toBe('Ankle boot');
  expect(Object.values(fashion.download.sha256).every((h) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
  // A model made from the preset prepares data the same way.
  const model = await createLeNet({ mean: fashion.mean, std: fashion.std });
  expect(model.preprocessing).toMatchObject({ mean: 0.286, std: 0.353 });
  expect(Object.isFrozen(DATASETS['fashion-mnist'].classNames)).toBe(true);
});

test('firstImages keeps the first images as views, and every class appears in the first 500 digits', async () => {
  const { train } = await loadMnist();
  const small = firstImages(train, 500);
  expect(small.count).toBe(500);
  expect(small.images.length).toBe(500 * 784);
  expect(small.images.buffer).toBe(train.images.buffer);
  expect(small.labels).toEqual(train.labels.subarray(0, 500));
  const perClass = new Array(10).fill(0);
  for (const l of small.labels) perClass[l]++;
  expect(Math.min(...perClass)).toBe(39);
  expect(Math.max(...perClass)).toBe(66);
  expect(firstImages(train, 10 ** 9)).toBe(train);
  expect(firstImages(train, 0).count).toBe(0);
  expect(() => firstImages(train, -1)).toThrow(RangeError);
  expect(() => firstImages(train, 1.5)).toThrow(
    'firstImages: count must be an integer >= 0, got 1.5',
  );
});
