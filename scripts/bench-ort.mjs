// onnxruntime-web peer of `npm run bench`: inference of the PyTorch LeNet exported to ONNX
// (bench-torch.py export), on ORT's WASM backend in Node, one thread like lenet-mnist.
// Times from a normalised Float32Array [n,1,32,32] to the softmax probabilities (the exported
// graph ends with softmax): tensor wrapping, session.run and the output read are included.
import { emitResult, parseArgs, summarizeProbs, timeOnnxSession } from './bench-lib.mjs';

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
const { output, count, ...timing } = await timeOnnxSession(ort, session, { batch, reps, singles });
emitResult({
  ...timing,
  threads: ort.env.wasm.numThreads,
  ort: ort.env.versions?.web ?? 'unknown',
  ...summarizeProbs(output, count, checkRows),
});
