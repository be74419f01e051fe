#!/usr/bin/env node
// LeNet-5 training and inference throughput on WebGPU beside WASM, through the built library
// (dist/node: run `npm run build` first). Meant for a machine with a real GPU; Node gets WebGPU
// from the optional `webgpu` package (Dawn).
//
//   node scripts/bench-webgpu.mjs                       # batch 64 training, batch 1000 inference
//   node scripts/bench-webgpu.mjs --tiny --swiftshader  # smoke test without a GPU (SwiftShader)
//
// Options: --batch N (64) --steps N (30) --warmup N (3) --infer-batch N (1000) --infer-reps N (10)
// --latency-reps N (50) --backends webgpu,wasm --swiftshader (point Vulkan at Debian chromium's
// SwiftShader; tiny sizes only, it is ~1000x slower than WASM) --tiny (sizes that finish in
// seconds on SwiftShader) --json (one JSON object instead of the table).
//
// Both backends run the same tfjs ops (forward, backward, Adam), so the numbers compare the
// backends; the library's fused WASM training kernels (default LeNet on WASM) are faster still
// and are measured in BENCHMARKS.md's WASM section.
import { existsSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    'infer-batch': { type: 'string', default: '1000' },
    'infer-reps': { type: 'string', default: '10' },
    'latency-reps': { type: 'string', default: '50' },
    backends: { type: 'string', default: 'webgpu,wasm' },
    swiftshader: { type: 'boolean', default: false },
    tiny: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const TINY = { batch: 2, steps: 2, warmup: 1, inferBatch: 4, inferReps: 2, latencyReps: 2 };
const sizes = opts.tiny
  ? TINY
  : {
      batch: Number(opts.batch),
      steps: Number(opts.steps),
      warmup: Number(opts.warmup),
      inferBatch: Number(opts['infer-batch']),
      inferReps: Number(opts['infer-reps']),
      latencyReps: Number(opts['latency-reps']),
    };
for (const [k, v] of Object.entries(sizes)) {
  if (!Number.isInteger(v) || v < (k === 'warmup' ? 0 : 1)) {
    console.error(`bench-webgpu: --${k} must be a positive integer, got ${v}`);
    process.exit(2);
  }
}

if (opts.swiftshader) {
  const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!existsSync(icd)) {
    console.error(`bench-webgpu: --swiftshader needs ${icd} (Debian package 'chromium')`);
    process.exit(2);
  }
  // Must be set before the library loads Dawn (it does so on the first WebGPU initialisation).
  process.env.VK_ICD_FILENAMES = icd;
}

const distEntry = new URL('../dist/index.js', import.meta.url);
if (!existsSync(distEntry)) {
  console.error('bench-webgpu: dist/index.js is missing; run `npm run build` first');
  process.exit(2);
}
const lib = await import(distEntry.href);

/** Deterministic 8-bit 32x32 images and labels 0-9, prepared as `model` expects. */
function setOf(model, n, seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const { size, mean, std } = model.preprocessing;
  return {
    images: Uint8Array.from({ length: n * size * size }, () => Math.floor(next() * 256)),
    labels: Uint8Array.from({ length: n }, () => Math.floor(next() * 10)),
    count: n,
    height: size,
    width: size,
    mean,
    std,
  };
}

async function measure(backend) {
  let info;
  try {
    info = await lib.initBackend({ backend });
  } catch (err) {
    return { backend, error: err.message };
  }
  const model = await lib.createLeNet({ seed: 1 });
  // tfjs ops on both backends (fastPath 'off'), through the library's own train() and evaluate().
  const common = { batchSize: sizes.batch, shuffle: false, fastPath: 'off' };

  // Training: forward, backward and Adam per step; reading the loss each step (onBatchEnd) is
  // what a real training loop does, and makes the timing include the GPU work.
  let lastLoss = Number.NaN;
  const onBatchEnd = (_batch, logs) => {
    lastLoss = logs.loss;
  };
  if (sizes.warmup > 0) {
    await lib.train(model, setOf(model, sizes.batch * sizes.warmup, 1), {
      ...common,
      epochs: 1,
      onBatchEnd,
    });
  }
  const history = await lib.train(model, setOf(model, sizes.batch * sizes.steps, 1), {
    ...common,
    epochs: 1,
    onBatchEnd,
  });

  // Inference: one large batch (throughput), then single images (latency).
  const infer = setOf(model, sizes.inferBatch, 2);
  const single = setOf(model, 1, 3);
  const run = (set) => lib.evaluate(model, set, { batchSize: set.count, fastPath: 'off' });
  await run(infer);
  await run(single);
  let t0 = performance.now();
  for (let i = 0; i < sizes.inferReps; i++) await run(infer);
  const inferMs = performance.now() - t0;
  const latencies = [];
  for (let i = 0; i < sizes.latencyReps; i++) {
    t0 = performance.now();
    await run(single);
    latencies.push(performance.now() - t0);
  }
  latencies.sort((a, b) => a - b);

  model.dispose();
  return {
    backend,
    info: lib.formatBackendInfo(info),
    trainSamplesPerSec: history.samplesPerSecond,
    inferImagesPerSec: (sizes.inferBatch * sizes.inferReps) / (inferMs / 1000),
    latencyMsMedian: latencies[Math.floor(latencies.length / 2)],
    finalLoss: lastLoss,
  };
}

const results = [];
for (const backend of opts.backends.split(',').map((b) => b.trim())) {
  results.push(await measure(backend));
}
await lib.initBackend({ backend: 'wasm' }); // releases nothing, but leaves tfjs on a CPU backend

const machine = {
  node: process.version,
  cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown'}`,
  sizes,
  swiftshader: opts.swiftshader,
};
if (opts.json) {
  console.log(JSON.stringify({ machine, results }, null, 2));
} else {
  console.log(`LeNet-5 on ${machine.cpus}, Node ${machine.node}`);
  console.log(
    `training batch ${sizes.batch} x ${sizes.steps} steps (after ${sizes.warmup} warm-up); inference batch ${sizes.inferBatch} x ${sizes.inferReps}; latency: median of ${sizes.latencyReps} single images`,
  );
  for (const r of results) {
    if (r.error) {
      console.log(`\n${r.backend}: not available - ${r.error}`);
      continue;
    }
    console.log(`\n${r.info}`);
    console.log(
      `  training  ${r.trainSamplesPerSec.toFixed(1).padStart(10)} samples/s   (final loss ${r.finalLoss.toFixed(4)})`,
    );
    console.log(`  inference ${r.inferImagesPerSec.toFixed(1).padStart(10)} images/s`);
    console.log(`  latency   ${r.latencyMsMedian.toFixed(2).padStart(10)} ms per single image`);
  }
  if (opts.swiftshader) {
    console.log(
      '\nSwiftShader is a CPU emulation of a GPU: these WebGPU numbers only prove the path works.',
    );
  }
}
