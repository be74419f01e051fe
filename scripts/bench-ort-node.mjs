// onnxruntime-node peer of `npm run bench`: the native yardstick a Node user would pick for
// inference (MLAS kernels, its CPU binaries ship in the npm package). Not a devDependency: the
// harness installs it on demand into bench-out/peers (`ONNXRUNTIME_NODE_INSTALL=skip`, so its
// postinstall fetches no GPU providers) and passes that folder as --peers.
// The model is the one `lenet-mnist export --format onnx` writes from the shared inference
// weights (input [n,1,32,32] normalised floats, output logits). Times session.run from the
// prepared Float32Array to the logits' read; the floats are prepared outside the timing, and the
// softmax for the cross-check is computed outside it too. --threads sets intraOpNumThreads.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { emitResult, parseArgs, summarizeProbs, timeOnnxSession } from './bench-lib.mjs';

const args = parseArgs(process.argv.slice(2));
const batch = Number(args.batch ?? 1000);
const reps = Number(args.reps ?? 10);
const singles = Number(args.single ?? 2000);
const checkRows = Number(args['check-rows'] ?? 100);
const threads = Number(args.threads ?? 1);

const require = createRequire(join(args.peers, 'package.json'));
const ort = require('onnxruntime-node');
const session = await ort.InferenceSession.create(args.model, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const { output, count, ...timing } = await timeOnnxSession(ort, session, { batch, reps, singles });
emitResult({
  ...timing,
  threads,
  node: process.versions.node,
  ort: require('onnxruntime-node/package.json').version,
  ...summarizeProbs(softmaxRows(output, count), count, checkRows),
});

/** Softmax of each row of 10 logits (outside the timing: for the cross-check only). */
function softmaxRows(z, n) {
  const p = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < 10; j++) max = Math.max(max, z[i * 10 + j]);
    let sum = 0;
    for (let j = 0; j < 10; j++) sum += p[i * 10 + j] = Math.exp(z[i * 10 + j] - max);
    for (let j = 0; j < 10; j++) p[i * 10 + j] /= sum;
  }
  return p;
}
