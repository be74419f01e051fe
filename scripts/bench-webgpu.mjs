#!/usr/bin/env node
// LeNet-5 training and inference throughput of the three ways the library can run it with
// WebGPU about: tfjs ops on WebGPU ("op-by-op WebGPU", fastPath 'off'), the fused WGSL kernels
// ("fused WebGPU", fastPath 'webgpu') and the fused WASM SIMD kernels ("fused WASM", fastPath
// 'wasm', on the WASM backend), through the built library's public API (dist/: run `npm run
// build` first), in one process, one after the other. Also counts the GPU work per training step
// and per inference batch (dispatches, submits, uploads, read-backs) by wrapping the WebGPU
// interfaces' methods, the same way for both WebGPU paths.
//
//   node scripts/bench-webgpu.mjs                       # batch 64 training, batch 1000 inference
//   node scripts/bench-webgpu.mjs --tiny --swiftshader  # smoke test without a GPU (SwiftShader)
//
// Options: --batch N (64) --steps N (30) --warmup N (3) --infer-batch N (1000) --infer-reps N (10)
// --latency-reps N (50) --paths op-by-op-webgpu,fused-webgpu,fused-wasm --swiftshader (point
// Vulkan at Debian chromium's SwiftShader; tiny sizes only, it is ~1000x slower than WASM)
// --tiny (sizes that finish in seconds on SwiftShader) --json (one JSON object).
//
// Training is timed without per-step reads (the trainer reads the totals at the epoch's end),
// so a GPU path is not made to wait on every step. GPU work is counted in two more train() calls
// on the timed set, of one and two epochs: their difference is one epoch's work, shown per step
// (the epoch's end, its totals read and snapshot, spread over its steps); what the one-epoch call
// did beyond its epoch is the work of one call (Adam's reset, and on fused WebGPU the training
// set's one upload).
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
    paths: { type: 'string', default: 'op-by-op-webgpu,fused-webgpu,fused-wasm' },
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

const PATHS = {
  'op-by-op-webgpu': { backend: 'webgpu', fastPath: 'off', gpu: true },
  'fused-webgpu': { backend: 'webgpu', fastPath: 'webgpu', gpu: true },
  'fused-wasm': { backend: 'wasm', fastPath: 'wasm', gpu: false },
};

/** Counts GPU work by wrapping the WebGPU interfaces' methods until `stop()`. */
function countGpuWork() {
  const counts = { dispatches: 0, submits: 0, writes: 0, writeBytes: 0, reads: 0 };
  const undo = [];
  const wrap = (iface, method, count) => {
    const proto = globalThis[iface]?.prototype;
    const original = proto?.[method];
    if (typeof original !== 'function') return;
    proto[method] = function (...args) {
      count(args);
      return original.apply(this, args);
    };
    undo.push(() => {
      proto[method] = original;
    });
  };
  wrap('GPUComputePassEncoder', 'dispatchWorkgroups', () => counts.dispatches++);
  wrap('GPUQueue', 'submit', () => counts.submits++);
  wrap('GPUQueue', 'writeBuffer', ([, , data, , size]) => {
    counts.writes++;
    counts.writeBytes +=
      size !== undefined ? size * (data.BYTES_PER_ELEMENT ?? 1) : data.byteLength;
  });
  wrap('GPUDevice', 'createBuffer', ([d]) => {
    if (d?.mappedAtCreation) counts.writes++;
  });
  wrap('GPUBuffer', 'mapAsync', () => counts.reads++);
  return {
    counts,
    stop: () => {
      for (const u of undo.reverse()) u();
    },
  };
}

const per = (counts, n) =>
  Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Math.round((v / n) * 10) / 10]));

async function measure(name) {
  const path = PATHS[name];
  if (path === undefined) return { name, error: `unknown path (known: ${Object.keys(PATHS)})` };
  let info;
  try {
    info = await lib.initBackend({ backend: path.backend, snapshotIntervalMs: 0 });
  } catch (err) {
    return { name, error: err.message };
  }
  const model = await lib.createLeNet({ seed: 1 });
  const common = { batchSize: sizes.batch, shuffle: false, fastPath: path.fastPath };

  if (sizes.warmup > 0) {
    await lib.train(model, setOf(model, sizes.batch * sizes.warmup, 1), { ...common, epochs: 1 });
  }
  const timedSet = setOf(model, sizes.batch * sizes.steps, 1);
  const history = await lib.train(model, timedSet, { ...common, epochs: 1 });
  let gpuPerStep;
  let gpuPerCall;
  if (path.gpu) {
    const countedTrain = async (epochs) => {
      const counter = countGpuWork();
      await lib.train(model, timedSet, { ...common, epochs });
      counter.stop();
      return counter.counts;
    };
    const once = await countedTrain(1);
    const twice = await countedTrain(2);
    const keys = Object.keys(once);
    gpuPerStep = Object.fromEntries(keys.map((k) => [k, (twice[k] - once[k]) / sizes.steps]));
    gpuPerCall = Object.fromEntries(keys.map((k) => [k, 2 * once[k] - twice[k]]));
  }

  // Inference: one large batch (throughput), then single images (latency).
  const infer = setOf(model, sizes.inferBatch, 2);
  const single = setOf(model, 1, 3);
  const run = (set) => lib.evaluate(model, set, { batchSize: set.count, fastPath: path.fastPath });
  await run(infer);
  await run(single);
  const batchCounter = path.gpu ? countGpuWork() : undefined;
  await run(infer);
  batchCounter?.stop();
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
  const engine = model.engine;
  model.dispose();
  return {
    name,
    info: lib.formatBackendInfo(info),
    engine: `${engine?.kind} on ${engine?.backend}`,
    trainSamplesPerSec: history.samplesPerSecond,
    inferImagesPerSec: (sizes.inferBatch * sizes.inferReps) / (inferMs / 1000),
    latencyMsMedian: latencies[Math.floor(latencies.length / 2)],
    finalLoss: history.epochs.at(-1)?.loss,
    gpuPerStep: gpuPerStep && per(gpuPerStep, 1),
    gpuPerCall: gpuPerCall && per(gpuPerCall, 1),
    gpuPerBatch: batchCounter?.counts,
  };
}

const results = [];
for (const name of opts.paths.split(',').map((b) => b.trim())) {
  results.push(await measure(name));
}
await lib.initBackend({ backend: 'wasm' }); // leaves tfjs on a CPU backend

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
      console.log(`\n${r.name}: not available - ${r.error}`);
      continue;
    }
    console.log(`\n${r.name} (${r.engine}; ${r.info})`);
    console.log(
      `  training  ${r.trainSamplesPerSec.toFixed(1).padStart(10)} samples/s   (final loss ${r.finalLoss?.toFixed(4)})`,
    );
    console.log(`  inference ${r.inferImagesPerSec.toFixed(1).padStart(10)} images/s`);
    console.log(`  latency   ${r.latencyMsMedian.toFixed(2).padStart(10)} ms per single image`);
    if (r.gpuPerStep)
      console.log(`  GPU work per training step:    ${JSON.stringify(r.gpuPerStep)}`);
    if (r.gpuPerCall)
      console.log(
        `  GPU work per train() call:     ${JSON.stringify(r.gpuPerCall)} (besides its epochs)`,
      );
    if (r.gpuPerBatch)
      console.log(`  GPU work per inference batch:  ${JSON.stringify(r.gpuPerBatch)}`);
  }
  const by = Object.fromEntries(results.filter((r) => !r.error).map((r) => [r.name, r]));
  const ratio = (a, b, key) =>
    by[a] && by[b] ? `${(by[a][key] / by[b][key]).toPrecision(3)}x` : 'n/a';
  console.log('\nratios (same run):');
  for (const [a, b] of [
    ['fused-webgpu', 'op-by-op-webgpu'],
    ['fused-webgpu', 'fused-wasm'],
  ]) {
    console.log(
      `  ${a} / ${b}: training ${ratio(a, b, 'trainSamplesPerSec')}, inference ${ratio(a, b, 'inferImagesPerSec')}, single-image latency ${ratio(b, a, 'latencyMsMedian')} faster`,
    );
  }
  if (opts.swiftshader) {
    console.log(
      '\nSwiftShader is a CPU emulation of a GPU: these WebGPU numbers only prove the path works.',
    );
  }
}
