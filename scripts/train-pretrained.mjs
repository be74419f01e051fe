// Trains the weights shipped as src/engine/lenet-mnist.weights, reproducibly:
//   npm run train:pretrained
// Recipe: the reference's LeNet and data pipeline (Adam, batch 64, shuffled), seeded; 6 epochs
// at learning rate 1e-3, then 3 at 1e-4 (a fresh Adam), which takes LeNet past 99.0% on the
// MNIST test set where the reference's 5 epochs stop near 98.8%. Refuses to write weights that
// score below 99.0%.
import { fileURLToPath } from 'node:url';
import {
  createLeNet,
  evaluate,
  initBackend,
  loadMnist,
  prepareImages,
  saveModelFile,
  train,
  VERSION,
} from '../dist/index.js';

const SEED = 20261126;
const STAGES = [
  { epochs: 6, learningRate: 1e-3 },
  { epochs: 3, learningRate: 1e-4 },
];
const out = fileURLToPath(new URL('../src/engine/lenet-mnist.weights', import.meta.url));

const info = await initBackend();
console.log(`backend: ${info.backend} (${info.reason})`);
const mnist = await loadMnist();
const trainSet = prepareImages(mnist.train);
const testSet = prepareImages(mnist.test);
const model = await createLeNet({ seed: SEED });

let epoch = 0;
for (const [i, stage] of STAGES.entries()) {
  const history = await train(model, trainSet, {
    ...stage,
    seed: SEED + 1000 * i,
    validationData: testSet,
    onEpochEnd: (_, logs) => {
      epoch++;
      console.log(
        `epoch ${epoch} lr ${stage.learningRate}: train loss ${logs.loss.toFixed(4)} acc ${(100 * logs.accuracy).toFixed(2)}% | test loss ${logs.valLoss.toFixed(4)} acc ${(100 * logs.valAccuracy).toFixed(2)}% | ${logs.seconds.toFixed(1)} s`,
      );
    },
  });
  console.log(
    `stage ${i + 1}: ${history.path} path, ${Math.round(history.samplesPerSecond)} samples/s`,
  );
}

const result = await evaluate(model, testSet);
console.log(`test accuracy ${(100 * result.accuracy).toFixed(2)}%, loss ${result.loss.toFixed(4)}`);
if (result.accuracy < 0.99) {
  console.error('below 99.0%: not writing the weights');
  process.exit(1);
}
await saveModelFile(model, out, {
  name: 'lenet-mnist pretrained LeNet-5',
  libraryVersion: VERSION,
  recipe: {
    seed: SEED,
    batchSize: 64,
    optimizer: 'adam',
    stages: STAGES,
    data: 'MNIST train 60k, bilinear 28->32, mean 0.1307 std 0.3081',
  },
  testAccuracy: result.accuracy,
  testLoss: result.loss,
  command: 'npm run train:pretrained',
});
console.log(`wrote ${out}`);
