// Samples/s of the fused LeNet training step, single-threaded (FusedLeNet) against the
// data-parallel trainer (src/engine/fused/parallel.ts), in one process, alternating windows.
// Usage: node [--experimental-wasm-relaxed-simd] scripts/bench-parallel.mjs [batch] [windows] [steps]
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const fusedDir = fileURLToPath(new URL('../src/engine/fused/', import.meta.url));
const [batch = 64, windows = 10, steps = 30] = process.argv.slice(2).map(Number);
const dir = await mkdtemp(join(tmpdir(), 'lenet-par-bench-'));
try {
  await build({
    entryPoints: [join(fusedDir, 'lenet_fused.ts'), join(fusedDir, 'parallel.ts')],
    outdir: dir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    logLevel: 'error',
  });
  for (const file of ['lenet-simd.wasm', 'lenet-relaxed-simd.wasm']) {
    await copyFile(join(fusedDir, file), join(dir, file));
  }
  const { loadFusedLeNet } = await import(pathToFileURL(join(dir, 'lenet_fused.js')).href);
  const { createParallelFusedTrainer } = await import(pathToFileURL(join(dir, 'parallel.js')).href);

  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed / 4294967296) * 2 - 1;
  };
  const sizes = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10];
  const params = sizes.map((s) => Float32Array.from({ length: s }, () => rand() * 0.1));
  const pool = 32; // distinct batches, cycled
  const images = Float32Array.from({ length: pool * batch * 1024 }, rand);
  const labels = Uint8Array.from({ length: pool * batch }, () => Math.floor((rand() + 1) * 5));
  const batchAt = (i) => {
    const b = i % pool;
    return [
      images.subarray(b * batch * 1024, (b + 1) * batch * 1024),
      labels.subarray(b * batch, (b + 1) * batch),
    ];
  };

  const single = await loadFusedLeNet();
  const par = await createParallelFusedTrainer({ threads: 2 });
  single.setParams(params);
  par.setParams(params);
  const runSingle = async (i) => single.trainStep(...batchAt(i), batch);
  const runPar = async (i) => par.trainStep(...batchAt(i), batch);
  async function window(run, count) {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await run(i);
    return (count * batch) / ((performance.now() - t0) / 1000);
  }
  await window(runSingle, 20);
  await window(runPar, 20);
  const rates = { single: [], parallel: [] };
  for (let w = 0; w < windows; w++) {
    rates.single.push(await window(runSingle, steps));
    rates.parallel.push(await window(runPar, steps));
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const s = median(rates.single);
  const p = median(rates.parallel);
  console.log(
    `variant ${single.variant}, batch ${batch}, ${windows} windows x ${steps} steps each: ` +
      `single ${s.toFixed(0)} samples/s (${((batch / s) * 1000).toFixed(2)} ms/step), ` +
      `2 threads ${p.toFixed(0)} samples/s (${((batch / p) * 1000).toFixed(2)} ms/step), x${(p / s).toFixed(2)}`,
  );
  console.log(
    `  windows single: ${rates.single.map((r) => r.toFixed(0)).join(' ')}\n  windows 2 threads: ${rates.parallel.map((r) => r.toFixed(0)).join(' ')}`,
  );
  single.dispose();
  await par.dispose();
} finally {
  await rm(dir, { recursive: true, force: true });
}
