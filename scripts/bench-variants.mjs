// Training speed of every model variant the factories build, on the fused path, the tfjs path
// and PyTorch CPU (1 and 2 threads), through the public API as an app calls it: train(), batch
// 64, Adam. Interleaved rounds, one fresh process per contender per round; the figure per
// contender is the median over rounds (each process reports the median of its timed windows).
//
//   npm run build && node scripts/bench-variants.mjs [--rounds 3] [--variants avg,mlp] [--batches 60]
//     [--threads auto|N] [--relaxed] [--baseline-dist DIR]
//
// `--threads` is train()'s setting for the fused and tfjs workers (default: train()'s default,
// 'auto'); `--relaxed` runs them with `--experimental-wasm-relaxed-simd` (the relaxed-SIMD
// build, as Node 22+ and Chromium get it). `--baseline-dist DIR` adds a column for another build
// (e.g. main's dist/, built elsewhere) run by the same worker, interleaved with the others. Worker modes (one per process): `node
// scripts/bench-variants.mjs worker --variant avg --fast-path auto|off [--threads N]`, and
// scripts/bench-variants-torch.py for PyTorch. Workers load the build from $LENET_MNIST_DIST when
// set (the bench harness's snapshot, or another build to compare), else dist/. Importing this
// file (scripts/bench-contenders.mjs takes VARIANTS) runs nothing.
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { emitResult, median, parseArgs, RESULT_PREFIX, ROOT } from './bench-lib.mjs';

/** The variants: the factory options here, and the same network in bench-variants-torch.py. */
export const VARIANTS = {
  avg: { factory: 'lenet', options: { pooling: 'avg' } },
  tanh: { factory: 'lenet', options: { activation: 'tanh' } },
  conv2act: { factory: 'lenet', options: { conv2Activation: true } },
  in28: { factory: 'lenet', options: { inputSize: 28, resize: 'none' } },
  classic: {
    factory: 'lenet',
    options: { activation: 'tanh', pooling: 'avg', conv2Activation: true, resize: 'pad' },
  },
  in20: { factory: 'lenet', options: { inputSize: 20 } },
  mlp: { factory: 'mlp', options: {} },
  mlpTanh: { factory: 'mlp', options: { hidden: [300, 100], activation: 'tanh' } },
};

const args = parseArgs(process.argv.slice(2));
const BATCH = 64;

async function worker() {
  const variant = VARIANTS[args.variant];
  if (!variant) throw new Error(`unknown --variant ${args.variant}`);
  const fastPath = args['fast-path'] ?? 'auto';
  const batches = Number(args.batches ?? 60);
  const warmup = Number(args.warmup ?? 5);
  const windows = Number(args.windows ?? 3);
  const dist = process.env.LENET_MNIST_DIST ?? join(ROOT, 'dist');
  const lib = await import(pathToFileURL(join(dist, 'index.js')).href);
  const make = variant.factory === 'mlp' ? lib.createMlp : lib.createLeNet;
  const model = await make({ ...variant.options, seed: 1 });
  const mnist = await lib.loadMnist();
  const set = lib.prepareImages(
    { ...mnist.train, count: Math.max(warmup, batches) * BATCH },
    model.preprocessing,
  );
  // Warm-up: JIT, the backend's first kernels, the fused module's compile.
  const threads = args.threads === undefined ? undefined : threadsSetting(args.threads);
  await train(lib, model, set, warmup, fastPath, 1, threads);
  const rates = [];
  let history;
  for (let w = 0; w < windows; w++) {
    history = await train(lib, model, set, batches, fastPath, 2 + w, threads);
    rates.push(history.samplesPerSecond);
  }
  emitResult({
    samplesPerSecond: median(rates),
    windows: rates,
    engine: model.engine,
    threads: history.threads,
    lastLoss: history.epochs.at(-1)?.loss,
  });
}

function threadsSetting(value) {
  return value === 'auto' ? 'auto' : Number(value);
}

function train(lib, model, set, batches, fastPath, seed, threads) {
  return lib.train(
    model,
    { ...set, count: batches * BATCH },
    { epochs: 1, batchSize: BATCH, learningRate: 1e-3, fastPath, seed, threads },
  );
}

/** Runs one worker process and returns its BENCH_RESULT. */
function run(cmd, argv, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) {
        reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}\n${err.slice(-2000)}`));
      } else resolve(JSON.parse(line.slice(RESULT_PREFIX.length)));
    });
  });
}

async function main() {
  const rounds = Number(args.rounds ?? 3);
  const names = args.variants ? String(args.variants).split(',') : Object.keys(VARIANTS);
  const batches = String(args.batches ?? 60);
  // The tfjs path is about 10x slower: fewer batches per window, the same per-sample measure.
  const tfjsBatches = String(Math.max(10, Math.round(Number(batches) / 4)));
  const python = args.python ?? '/usr/bin/python3';
  const nodeFlags = args.relaxed ? ['--experimental-wasm-relaxed-simd'] : [];
  const threads = args.threads === undefined ? [] : ['--threads', String(args.threads)];
  const contenders = [
    {
      key: 'fused',
      cmd: process.execPath,
      argv: (v) => [
        ...nodeFlags,
        import.meta.filename,
        'worker',
        '--variant',
        v,
        '--fast-path',
        'auto',
        '--batches',
        batches,
        ...threads,
      ],
    },
    {
      key: 'tfjs',
      cmd: process.execPath,
      argv: (v) => [
        ...nodeFlags,
        import.meta.filename,
        'worker',
        '--variant',
        v,
        '--fast-path',
        'off',
        '--batches',
        tfjsBatches,
        ...threads,
      ],
    },
    {
      key: 'torch1',
      cmd: python,
      argv: (v) => [
        join(ROOT, 'scripts', 'bench-variants-torch.py'),
        '--variant',
        v,
        '--threads',
        '1',
        '--batches',
        batches,
      ],
    },
    {
      key: 'torch2',
      cmd: python,
      argv: (v) => [
        join(ROOT, 'scripts', 'bench-variants-torch.py'),
        '--variant',
        v,
        '--threads',
        '2',
        '--batches',
        batches,
      ],
    },
  ];
  const baseline = args['baseline-dist'];
  if (baseline) {
    const fused = contenders[0];
    contenders.push({
      ...fused,
      key: 'baseline',
      env: { ...process.env, LENET_MNIST_DIST: String(baseline) },
    });
  }
  const results = Object.fromEntries(
    names.map((v) => [v, Object.fromEntries(contenders.map((c) => [c.key, []]))]),
  );
  const engines = {};
  // Other work on the machine moves every figure: the load averages go with the table.
  const loadBefore = loadavg()[0];
  for (let r = 0; r < rounds; r++) {
    for (const v of names) {
      // Rotate the order each round, so no contender always runs first (or after another).
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      for (const c of order) {
        const res = await run(c.cmd, c.argv(v), c.env);
        results[v][c.key].push(res.samplesPerSecond);
        if (c.key === 'fused') engines[v] = { ...res.engine, threads: res.threads };
        process.stderr.write(
          `round ${r + 1} ${v} ${c.key}: ${res.samplesPerSecond.toFixed(0)} samples/s\n`,
        );
      }
    }
  }
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  const lines = [
    `Training samples/s, batch 64, Adam, train() through ${process.env.LENET_MNIST_DIST ?? 'dist/'} (threads ${args.threads ?? "train()'s default"}${args.relaxed ? ', --experimental-wasm-relaxed-simd' : ''}; Node ${process.version}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'}); PyTorch CPU (/usr/bin/python3) at 1 and 2 threads; medians of ${rounds} interleaved rounds, fresh processes; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after.`,
    '',
    `| variant | fused (kernels) | tfjs path | PyTorch 1 thread | PyTorch 2 threads | fused / tfjs | fused / PyTorch best |${baseline ? ' baseline build | fused / baseline |' : ''}`,
    `|---|---|---|---|---|---|---|${baseline ? '---|---|' : ''}`,
  ];
  if (baseline) lines.splice(1, 0, `Baseline build: ${baseline}.`);
  for (const v of names) {
    const m = Object.fromEntries(contenders.map((c) => [c.key, median(results[v][c.key])]));
    const best = Math.max(m.torch1, m.torch2);
    const e = engines[v];
    lines.push(
      `| ${v} | ${fmt(m.fused)} (${e?.kind}${e?.kernels ? `/${e.kernels}` : ''}${e?.variant ? ` ${e.variant}` : ''}, ${e?.threads} thr) | ${fmt(m.tfjs)} | ${fmt(m.torch1)} | ${fmt(m.torch2)} | ${(m.fused / m.tfjs).toFixed(1)}x | ${(m.fused / best).toFixed(2)}x |${baseline ? ` ${fmt(m.baseline)} | ${(m.fused / m.baseline).toFixed(2)}x |` : ''}`,
    );
  }
  console.log(lines.join('\n'));
}

// Run only as a script: the bench harness imports VARIANTS.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (args._[0] === 'worker') await worker();
  else await main();
}
