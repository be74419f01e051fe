// Issue 20's acceptance on a modest sample of the generated photo set (scripts/photo-set.mjs):
// MNIST *test* digits photographed or scanned on varied paper, and blank images. The full
// figures (500 a style) come from `node scripts/photo-eval.mjs` and are in BENCHMARKS.md.
import { beforeAll, expect, test } from 'vitest';
import { BLANK_KINDS, blankSample, PHOTO_STYLES, photoSample } from '../../scripts/photo-set.mjs';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist, type Mnist } from '../../src/data/mnist.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { extractDigit } from '../../src/predict/extract.js';
import { createPredictor } from '../../src/predict/predictor.js';

const PER_STYLE = 50;
const BLANKS = 12 * BLANK_KINDS.length;
let mnist: Mnist;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  mnist = await loadMnist();
});

test(`the pretrained model reads >= 97% of ${PER_STYLE} photographed digits a style (>= 95% each), and flags blank images empty`, async () => {
  const model = await loadPretrained();
  const predictor = await createPredictor(model);
  const report: string[] = [];
  let right = 0;
  let digitsEmpty = 0;
  const perStyle: Record<string, number> = {};
  for (const style of PHOTO_STYLES) {
    const samples = Array.from({ length: PER_STYLE }, (_, i) => photoSample(mnist.test, style, i));
    const predictions = await predictor.predictBatch(samples.map((s) => s.image));
    let styleRight = 0;
    predictions.forEach((p, i) => {
      if (p.empty) digitsEmpty++;
      else if (p.label === samples[i]?.label) styleRight++;
    });
    right += styleRight;
    perStyle[style] = styleRight / PER_STYLE;
    report.push(`${style} ${((100 * styleRight) / PER_STYLE).toFixed(0)}%`);
  }
  const blanks = Array.from({ length: BLANKS }, (_, i) => blankSample(i));
  const blankPredictions = await predictor.predictBatch(blanks.map((b) => b.image));
  const blanksEmpty = blankPredictions.filter((p) => p.empty).length;
  const total = PER_STYLE * PHOTO_STYLES.length;
  console.log(
    `photo set: ${((100 * right) / total).toFixed(1)}% of ${total}; ${report.join(', ')}; blanks flagged ${blanksEmpty}/${BLANKS}; digits flagged ${digitsEmpty}`,
  );
  for (const style of PHOTO_STYLES) {
    expect(perStyle[style], style).toBeGreaterThanOrEqual(0.95);
  }
  expect(right / total).toBeGreaterThanOrEqual(0.97);
  expect(blanksEmpty / BLANKS).toBeGreaterThanOrEqual(0.95);
  expect(digitsEmpty / total).toBeLessThan(0.01);
  // Probabilities are still there for empty images.
  const blank = blankPredictions[0];
  expect(blank?.probabilities).toHaveLength(10);
  predictor.dispose();
  model.dispose();
});

test('extractDigit gives what the predictor reads: predicting its 28x28 digit gives the same label and probabilities', async () => {
  const model = await loadPretrained();
  const predictor = await createPredictor(model);
  for (const style of ['grey-paper', 'chalkboard', 'small-in-large'] as const) {
    const { image } = photoSample(mnist.test, style, 7);
    const extracted = extractDigit(image);
    expect(extracted.empty).toBe(false);
    expect(extracted.pixels).toHaveLength(784);
    const direct = await predictor.predict(image);
    const viaDigit = await predictor.predict(extracted.pixels);
    expect(viaDigit.label).toBe(direct.label);
    expect(Array.from(viaDigit.probabilities)).toEqual(Array.from(direct.probabilities));
    // The box lies inside the image.
    const box = extracted.box;
    expect(box).not.toBeNull();
    if (box) {
      expect(box.x + box.width).toBeLessThanOrEqual(image.width);
      expect(box.y + box.height).toBeLessThanOrEqual(image.height);
    }
  }
  expect(extractDigit(photoSample(mnist.test, 'chalkboard', 1).image).polarity).toBe(
    'light-on-dark',
  );
  expect(extractDigit(photoSample(mnist.test, 'grey-paper', 1).image).polarity).toBe(
    'dark-on-light',
  );
  const blank = extractDigit(blankSample(0).image);
  expect(blank.empty).toBe(true);
  expect(blank.box).toBeNull();
  expect(blank.pixels.every((v) => v === 0)).toBe(true);
  predictor.dispose();
  model.dispose();
});
