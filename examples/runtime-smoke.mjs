// Runs the Node build of lenet-mnist end to end in whichever runtime executes this file
// (node, deno, bun): backend, pretrained weights, prediction, a few training steps, save/load.
// Used by test/package/runtimes.test.ts; run it yourself with e.g. `npx deno run -A examples/runtime-smoke.mjs`.

// The subpath entries (package.json maps `lenet-mnist/data` and `lenet-mnist/interop` to these
// files in Node, Deno and Bun).
import { encodeIdx, firstImages, parseIdx } from '../dist/data.js';
import {
  createLeNet,
  createPredictor,
  detectEnvironment,
  initBackend,
  loadMnist,
  loadModel,
  loadPretrained,
  prepareImages,
  train,
} from '../dist/index.js';
import { decodeWeights, exportSafetensors, importSafetensors } from '../dist/interop.js';

const env = detectEnvironment();
const info = await initBackend();
const mnist = await loadMnist();
const model = await loadPretrained();
const predictor = await createPredictor(model);
const images = Array.from({ length: 200 }, (_, i) =>
  mnist.test.images.subarray(i * 784, (i + 1) * 784),
);
const predictions = await predictor.predictBatch(images);
const correct = predictions.filter((p, i) => p.label === mnist.test.labels[i]).length;

const fresh = await createLeNet({ seed: 1 });
const small = prepareImages({ ...mnist.train, count: 256 });
const history = await train(fresh, small, { epochs: 1, seed: 1 });
const copy = await loadModel(await fresh.save());

// lenet-mnist/data: a subset written as IDX and read back; lenet-mnist/interop: the weights
// through safetensors and the library's own format.
const few = firstImages(mnist.test, 3);
const idx = parseIdx(encodeIdx({ dtype: 'uint8', shape: [3, 28, 28], data: few.images }));
const viaSafetensors = await importSafetensors(await exportSafetensors(copy));
const decoded = decodeWeights(await viaSafetensors.save());

console.log(
  JSON.stringify({
    runtime: env.runtime,
    backend: info.backend,
    simd: info.simd,
    pretrainedCorrect: correct,
    of: images.length,
    trainLoss: history.epochs[0].loss,
    trainPath: history.path,
    reloadedParams: copy.parameterCount,
    idxShape: idx.shape,
    safetensorsTensors: decoded.tensors.length,
  }),
);
