// Real MNIST test digits, presented as a person would: drawn on a 280x280 canvas (RGBA
// ImageData-like), with thick or thin strokes, turned up to 15 degrees, small or large, off the
// centre, dark on light or light on dark, a little blurred and noisy (test/helpers/drawn.ts).
// The predictor's ImageData path re-frames them like MNIST; the shipped weights must read at
// least 97% of them.
import { beforeAll, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { mulberry32 } from '../../src/data/batches.js';
import { loadMnist, type Mnist } from '../../src/data/mnist.js';
import { loadModelFile } from '../../src/engine/io.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import type { ImageDataLike } from '../../src/predict/input.js';
import { createPredictor } from '../../src/predict/predictor.js';
import { type DrawnStyle, drawLikeAPerson } from '../helpers/drawn.js';

const COUNT = 600;
let mnist: Mnist;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  mnist = await loadMnist();
});

test(`the shipped weights read at least 97% of ${COUNT} MNIST test digits drawn like a person would`, async () => {
  // LENET_ROBUSTNESS_WEIGHTS=file measures another weights file (e.g. the previous release's).
  const other = process.env.LENET_ROBUSTNESS_WEIGHTS;
  const model = other ? await loadModelFile(other) : await loadPretrained();
  const predictor = await createPredictor(model, { batchSize: 100 });
  const random = mulberry32(20261127);
  // A seeded pick of test digits across the whole set.
  const picks = Array.from({ length: COUNT }, () => Math.floor(random() * mnist.test.count));
  const images: ImageDataLike[] = [];
  const styles: DrawnStyle[] = [];
  for (const i of picks) {
    const { image, style } = drawLikeAPerson(
      mnist.test.images.subarray(i * 784, (i + 1) * 784),
      random,
    );
    images.push(image);
    styles.push(style);
  }
  // The mix covers what the issue asks for.
  const share = (f: (s: DrawnStyle) => boolean) => styles.filter(f).length / COUNT;
  expect(share((s) => s.stroke === 'thick')).toBeGreaterThan(0.25);
  expect(share((s) => s.stroke === 'thin')).toBeGreaterThan(0.25);
  expect(share((s) => Math.abs(s.angle) > 10)).toBeGreaterThan(0.25);
  expect(share((s) => s.background === 'dark')).toBeGreaterThan(0.4);
  expect(share((s) => s.background === 'light')).toBeGreaterThan(0.4);
  expect(share((s) => s.zoom < 4)).toBeGreaterThan(0.1); // digit ink under ~80 px of 280
  expect(share((s) => s.zoom > 9)).toBeGreaterThan(0.1); // ink over ~180 px
  expect(share((s) => Math.hypot(...s.offset) > 40)).toBeGreaterThan(0.25);
  expect(share((s) => s.blur > 0)).toBeGreaterThan(0.5);

  const predictions = await predictor.predictBatch(images);
  const wrong = predictions
    .map((p, k) => ({ k, label: p.label, truth: mnist.test.labels[picks[k] as number] }))
    .filter((r) => r.label !== r.truth);
  const accuracy = 1 - wrong.length / COUNT;
  const by = (f: (s: DrawnStyle) => boolean) => {
    const idx = styles.map((s, k) => (f(s) ? k : -1)).filter((k) => k >= 0);
    const bad = wrong.filter((w) => idx.includes(w.k)).length;
    return `${(100 * (1 - bad / idx.length)).toFixed(1)}% of ${idx.length}`;
  };
  console.log(
    `robustness (${other ?? 'shipped weights'}): ${(100 * accuracy).toFixed(1)}% of ${COUNT}; thick ${by((s) => s.stroke === 'thick')}, thin ${by((s) => s.stroke === 'thin')}, |angle| > 10 ${by((s) => Math.abs(s.angle) > 10)}, small ${by((s) => s.zoom < 4)}, dark background ${by((s) => s.background === 'dark')}`,
  );
  expect(accuracy).toBeGreaterThanOrEqual(0.97);
  predictor.dispose();
  model.dispose();
});
