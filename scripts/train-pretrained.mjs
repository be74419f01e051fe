// Trains the weights shipped as src/engine/lenet-mnist.weights, reproducibly:
//   npm run train:pretrained            (or: node scripts/train-pretrained.mjs after a build)
//   node scripts/train-pretrained.mjs --out /tmp/check.weights   (write elsewhere, e.g. to
//                                        compare the SHA-256 with the shipped file)
// Recipe: train()'s `recipe: 'best'`, seeded, on the reference's LeNet-5 and data pipeline
// (Pillow-exact 28->32, mean 0.1307, std 0.3081, batches of 64, shuffled per epoch): AdamW
// (weight decay 0.05), one epoch of linear warm-up to 2e-3 then cosine decay to 0 over 12
// epochs, every training image randomly rotated/scaled/sheared/shifted (seeded per image). The
// test set is evaluated after each epoch only to print the curve; the weights written are the
// last epoch's, whatever the curve did (no selection on the test set).
// Bit-for-bit reproducible on the same fused kernel build (single thread): Node 20 runs the
// plain-SIMD build, Node 22+ the relaxed-SIMD (FMA) build, whose rounding differs; the file
// records which. Refuses to write weights that score below 99.3%.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLeNet,
  evaluate,
  initBackend,
  loadMnist,
  prepareImages,
  saveModelFile,
  train,
  trainingRecipe,
  VERSION,
} from '../dist/index.js';

const SEED = 20261126;
const RECIPE = 'best';
const MIN_ACCURACY = 0.993;
const outArg = process.argv.indexOf('--out');
const out =
  outArg > 0
    ? resolve(process.argv[outArg + 1])
    : fileURLToPath(new URL('../src/engine/lenet-mnist.weights', import.meta.url));

const info = await initBackend({ backend: 'wasm' });
console.log(`backend: ${info.backend} (${info.reason})`);
const mnist = await loadMnist();
const trainSet = prepareImages(mnist.train);
const testSet = prepareImages(mnist.test);
const model = await createLeNet({ seed: SEED });
const { epochs, weightDecay, augment } = trainingRecipe(RECIPE);

const history = await train(model, trainSet, {
  recipe: RECIPE,
  seed: SEED,
  threads: 1,
  validationData: testSet,
  validationBatchSize: 1000,
  onEpochEnd: (epoch, logs) => {
    console.log(
      `epoch ${epoch}/${epochs} lr ${logs.learningRate.toExponential(2)}: train loss ${logs.loss.toFixed(4)} acc ${(100 * logs.accuracy).toFixed(2)}% | test loss ${logs.valLoss.toFixed(4)} acc ${(100 * logs.valAccuracy).toFixed(2)}% | ${logs.seconds.toFixed(1)} s (augmentation ${logs.augmentSeconds.toFixed(1)} s)`,
    );
  },
});
console.log(
  `${history.path} path (${model.engine?.variant ?? 'tfjs'}), ${Math.round(history.samplesPerSecond)} samples/s, ${history.seconds.toFixed(0)} s`,
);

const result = await evaluate(model, testSet);
console.log(`test accuracy ${(100 * result.accuracy).toFixed(2)}%, loss ${result.loss.toFixed(4)}`);
if (result.accuracy < MIN_ACCURACY) {
  console.error(`below ${(100 * MIN_ACCURACY).toFixed(1)}%: not writing the weights`);
  process.exit(1);
}
await saveModelFile(model, out, {
  name: 'lenet-mnist pretrained LeNet-5',
  libraryVersion: VERSION,
  recipe: {
    name: RECIPE,
    seed: SEED,
    epochs,
    batchSize: 64,
    optimizer: 'adamw',
    weightDecay,
    learningRate: 'linear warm-up 1 epoch to 2e-3, cosine to 0 (per step)',
    augment,
    data: 'MNIST train 60k, bilinear 28->32, mean 0.1307 std 0.3081',
    engine: `${history.path} ${model.engine?.variant ?? ''}, 1 thread`.trim(),
  },
  testAccuracy: result.accuracy,
  testLoss: result.loss,
  command: 'npm run train:pretrained',
});
const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
console.log(`wrote ${out}\nsha256 ${sha}`);
