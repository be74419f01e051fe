import { beforeAll, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { prepareImages } from '../../src/data/preprocess.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { createPredictor } from '../../src/predict/predictor.js';
import { evaluate } from '../../src/train/evaluate.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

test('the shipped weights score at least 99.3% on the full MNIST test set, on both engines', async () => {
  const model = await loadPretrained();
  expect(model.spec).toEqual({
    kind: 'lenet',
    inputSize: 32,
    pooling: 'max',
    activation: 'relu',
    conv2Activation: false,
  });
  const { test: testSet } = await loadMnist();
  const prepared = prepareImages(testSet);
  for (const fastPath of ['auto', 'off'] as const) {
    const result = await evaluate(model, prepared, { fastPath, batchSize: 500 });
    expect(result.count).toBe(10_000);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.993);
    // The file records what the training script measured; re-measuring must agree.
    expect(Math.abs(result.accuracy - (model.metadata.testAccuracy as number))).toBeLessThanOrEqual(
      2e-4,
    );
  }
  const predictor = await createPredictor(model);
  const digits = Array.from({ length: 100 }, (_, i) =>
    testSet.images.subarray(i * 784, (i + 1) * 784),
  );
  const labels = (await predictor.predictBatch(digits)).map((p) => p.label);
  expect(labels.filter((l, i) => l === testSet.labels[i]).length).toBeGreaterThanOrEqual(98);
  // Trained by scripts/train-pretrained.mjs with the 'best' recipe, as the file says.
  expect(model.metadata.recipe).toMatchObject({ name: 'best', optimizer: 'adamw', epochs: 12 });
  predictor.dispose();
  model.dispose();
});
