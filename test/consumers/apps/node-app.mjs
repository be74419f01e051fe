// A server-side app as a user writes it (Node, Deno, Bun, or bundled into one file for a
// server): pretrained weights, predictions on real MNIST test digits on the fused kernels and
// on tfjs, error classes.
// Prints one JSON line. Usage: <runtime> node-app.mjs <digits.json>
import { readFileSync } from 'node:fs';
import {
  createLeNet,
  createPredictor,
  detectEnvironment,
  IdxFormatError,
  initBackend,
  loadPretrained,
  parseIdx,
  prepareImages,
  train,
} from 'lenet-mnist';

const { images, labels } = JSON.parse(readFileSync(process.argv.at(-1), 'utf8'));
const out = { runtime: detectEnvironment().runtime, node: globalThis.process?.versions?.node };
try {
  const info = await initBackend();
  out.backend = info.backend;
  out.threads = info.threads;
  out.relaxedSimd = detectEnvironment().wasm.relaxedSimd;
  const model = await loadPretrained();
  const digits = images.map((d) => Uint8Array.from(d));
  // The fused kernels (relaxed SIMD where the engine has it) and the generic tfjs path.
  for (const fastPath of ['auto', 'off']) {
    const predictor = await createPredictor(model, { fastPath });
    const predictions = await predictor.predictBatch(digits);
    out[fastPath === 'auto' ? 'fused' : 'tfjs'] = {
      path: predictor.path,
      correct: predictions.filter((p, i) => p.label === labels[i]).length,
      probabilities: predictions.map((p) => Array.from(p.probabilities)),
    };
  }
  // Two generic (tfjs) training steps: tfjs' gradients must be registered in any bundle.
  const set = prepareImages({
    images: Uint8Array.from(images.flat()),
    labels: Uint8Array.from(labels),
    count: labels.length,
    height: 28,
    width: 28,
  });
  const fresh = await createLeNet({ seed: 1 });
  const history = await train(fresh, set, { epochs: 1, batchSize: 10, fastPath: 'off', seed: 1 });
  out.trainLoss = history.epochs[0].loss;
  out.trainPath = history.path;
  try {
    parseIdx(new Uint8Array(4));
  } catch (err) {
    out.errorName = err.name;
    out.isIdxFormatError = err instanceof IdxFormatError;
  }
} catch (err) {
  out.error = { name: err.name, message: err.message };
}
console.log(JSON.stringify(out));
