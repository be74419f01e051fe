// onnxruntime-web peer of `npm run bench`: inference of the PyTorch LeNet exported to ONNX
// (bench-torch.py export), on ORT's WASM backend in Node, one thread like lenet-mnist.
// Times from a normalised Float32Array [n,1,32,32] to the softmax probabilities (the exported
// graph ends with softmax): tensor wrapping, session.run and the output read are included.
import {
  emitResult,
  median,
  normalizeU8,
  parseArgs,
  readPrepared,
  summarizeProbs,
  timeCalls,
} from './bench-lib.mjs';

const args = parseArgs(process.argv.slice(2));
const batch = Number(args.batch ?? 1000);
const reps = Number(args.reps ?? 10);
const singles = Number(args.single ?? 2000);
const checkRows = Number(args['check-rows'] ?? 100);

const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(args.model, {
  executionProviders: ['wasm'],
  graphOptimizationLevel: 'all',
});
const [inputName] = session.inputNames;
const [outputName] = session.outputNames;

const { images, count } = readPrepared('test', batch);
const x = normalizeU8(images);
const one = x.slice(0, 1024);
const run = async (data, n) => {
  const out = await session.run({ [inputName]: new ort.Tensor('float32', data, [n, 1, 32, 32]) });
  return out[outputName].data;
};

for (let i = 0; i < 3; i++) await run(x, count);
for (let i = 0; i < 50; i++) await run(one, 1);
let probs;
const batchTimes = await timeCalls(reps, async () => {
  probs = await run(x, count);
});
const singleTimes = await timeCalls(singles, () => run(one, 1));
const batchMs = median(batchTimes);
emitResult({
  batchImagesPerSecond: (count * 1000) / batchMs,
  batchMs,
  singleMs: median(singleTimes),
  threads: ort.env.wasm.numThreads,
  ort: ort.env.versions?.web ?? 'unknown',
  ...summarizeProbs(probs, count, checkRows),
});
