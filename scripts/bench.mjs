// `npm run bench`: lenet-mnist against its peers (PyTorch CPU, onnxruntime-web) on this machine.
//
//   npm run bench [-- --rounds 3 | --quick | --install-peers | --dist DIR]
//   npm run bench -- --time-to-accuracy [--seeds 1] [--max-epochs 10] [--target 0.99]
//                    [--recipes reference,best] [--no-peers]
//   (`node scripts/bench.mjs --help` lists the options; BENCHMARKS.md explains the method)
//
// Every contender runs in its own fresh process (no shared JIT, heap or thread pool), once per
// round, in an order rotated each round, so slow drifts of the machine's load spread over all of
// them; the table shows medians over rounds and ratios of medians. All contenders train and run
// the same LeNet-5 on the same bytes (lenet-mnist's prepared 32x32 MNIST, written once by the
// setup step), and the inference peers get the same weights: their outputs are cross-checked.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import {
  ensureDir,
  median,
  OUT_DIR,
  parseArgs,
  RESULT_PREFIX,
  ROOT,
  WORK_DIR,
} from './bench-lib.mjs';

const USAGE = `Usage: npm run bench [-- options]   (or: node scripts/bench.mjs [options] after a build)

Throughput (default): training samples/s, inference images/s at batch 1000 and batch-1 latency.
  --rounds N         interleaved rounds, one fresh process per contender per round (default 3)
  --quick            smoke run: 1 round, few batches and repetitions (numbers are rough)
  --dist DIR         the lenet-mnist Node build to measure (default dist/); it is copied to
                     bench-out/work/dist-node first, so a rebuild during the run changes nothing
Time to accuracy:
  --time-to-accuracy train lenet-mnist and PyTorch from scratch on the 60k set until the test
                     accuracy reaches --target (0.99) or --max-epochs (10); --seeds N|a,b (1);
                     --torch-threads N (1); --recipes reference,best trains lenet-mnist with
                     each named train() recipe (default: reference); --no-peers skips PyTorch
Peers:
  --install-peers    as root on Debian: apt-get install python3-torch python3-numpy if missing
                     (BENCH_PYTHON picks the Python interpreter)
Writes bench-out/bench.json and bench-out/bench.md (bench-tta.* for --time-to-accuracy).`;

const args = parseArgs(process.argv.slice(2));
const KNOWN = [
  '_',
  'help',
  'rounds',
  'quick',
  'time-to-accuracy',
  'seeds',
  'max-epochs',
  'target',
  'torch-threads',
  'recipes',
  'no-peers',
  'install-peers',
  'dist',
];
const unknown = Object.keys(args).filter((k) => !KNOWN.includes(k));
if (args.help || unknown.length || args._.length) {
  if (!args.help)
    console.error(`Unknown argument: ${[...unknown.map((k) => `--${k}`), ...args._].join(' ')}\n`);
  console.log(USAGE);
  process.exit(args.help ? 0 : 2);
}
const quick = Boolean(args.quick);
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`--rounds must be a positive integer, got ${args.rounds}`);
  process.exit(2);
}
// Batches and repetitions: the defaults keep a 3-round run within ~5 minutes on 2 busy cores.
const size = {
  // Timed windows per training process (the process reports its median window).
  windows: quick ? 1 : 3,
  trainBatches: quick ? 20 : 100,
  trainWarmup: quick ? 3 : 10,
  // The generic tfjs path is ~10x slower than the fused one: fewer batches, same metric.
  tfjsBatches: quick ? 5 : 15,
  tfjsWarmup: quick ? 2 : 3,
  inferBatch: 1000,
  inferReps: quick ? 3 : 10,
  singles: quick ? 200 : 2000,
};
const log = (msg) => process.stderr.write(`${msg}\n`);
const worker = (name) => join(ROOT, 'scripts', name);
const rel = (p) => p.replace(`${ROOT}/`, '');

// ---------------------------------------------------------------------------------------------
// Peers: find them, or say how to get them.

function findPython() {
  const candidates = [process.env.BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch, numpy; print(torch.__version__)'], {
      encoding: 'utf8',
    });
    if (r.status === 0) return { python: py, version: r.stdout.trim() };
  }
  return undefined;
}

function findTorch() {
  let found = findPython();
  if (found) return found;
  const debianRoot = process.getuid?.() === 0 && existsSync('/etc/debian_version');
  if (args['install-peers'] && debianRoot) {
    log('Installing PyTorch from Debian: apt-get install -y python3-torch python3-numpy');
    const opts = { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
    spawnSync('apt-get', ['update'], opts);
    spawnSync('apt-get', ['install', '-y', 'python3-torch', 'python3-numpy'], opts);
    found = findPython();
    if (found) return found;
  }
  log(
    'PyTorch not found (python3 -c "import torch, numpy" failed): its rows will read "not measured".\n' +
      (debianRoot
        ? '  Install it with `npm run bench -- --install-peers` (apt-get install python3-torch python3-numpy),\n'
        : '  Install it with `sudo apt-get install python3-torch python3-numpy` (Debian/Ubuntu),\n') +
      '  or `pip install torch numpy`; set BENCH_PYTHON to pick the interpreter.',
  );
  return undefined;
}

function findOrt() {
  // Resolved from the repository, as the worker's `import('onnxruntime-web')` will be; its
  // package.json is not in the package's exports, so walk up from the entry point.
  const require = createRequire(join(ROOT, 'package.json'));
  for (const dir of require.resolve.paths('onnxruntime-web') ?? []) {
    const pkg = join(dir, 'onnxruntime-web', 'package.json');
    if (existsSync(pkg)) return { version: JSON.parse(readFileSync(pkg, 'utf8')).version };
  }
  log('onnxruntime-web not found: `npm i -D onnxruntime-web`; its rows will read "not measured".');
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Running workers.

/** Runs one worker process; resolves with its JSON result or `{ error }`. */
function runWorker(cmd, argv, timeoutMs = 15 * 60_000) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)));
        return;
      }
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      resolve({ error: `exit ${code ?? signal}: ${tail || stdout.trim().slice(-500)}` });
    });
    child.on('error', (err) => resolve({ error: err.message }));
  });
}

const node = (script, ...rest) => [process.execPath, [worker(script), ...rest]];
/** Node 20 runs the fused module's plain-SIMD build unless relaxed SIMD is switched on. */
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

// ---------------------------------------------------------------------------------------------
// Machine description.

function machineInfo(extra) {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const flags = (/flags\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? '').split(' ');
  const simd = ['avx2', 'fma', 'avx512f', 'avx512_vnni', 'amx_tile'].filter((f) =>
    flags.includes(f),
  );
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const git = (a) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    date: new Date().toISOString(),
    cpu: model,
    cpuFlags: simd.join(' '),
    logicalCores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: /PRETTY_NAME="(.*)"/.exec(osRelease)?.[1] ?? `${os.type()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain']) ? ' (+ uncommitted changes)' : ''}`,
    loadAverageAtStart: os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' '),
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Throughput mode.

/**
 * A contender is one process per round; `rows` maps its result to table rows. `baseline` marks
 * the lenet-mnist row each metric's ratios are computed against.
 */
function contenders(peers) {
  const list = [];
  const lenet = (id, fastPath) => ({ id, peer: 'lenet', fastPath });
  list.push({
    ...lenet('lenet-train', 'auto'),
    cmd: node(
      'bench-lenet.mjs',
      'train',
      '--fast-path=auto',
      `--batches=${size.trainBatches}`,
      `--warmup=${size.trainWarmup}`,
      `--windows=${size.windows}`,
    ),
    rows: (r) => [
      {
        metric: 'train',
        label: `lenet-mnist train(), fastPath 'auto' → ${r.path}${r.variant ? ` (${r.variant})` : ''}`,
        value: r.samplesPerSecond,
        baseline: true,
      },
    ],
  });
  list.push({
    ...lenet('lenet-train-relaxed', 'auto'),
    cmd: [
      process.execPath,
      [
        RELAXED_FLAG,
        worker('bench-lenet.mjs'),
        'train',
        '--fast-path=auto',
        `--batches=${size.trainBatches}`,
        `--warmup=${size.trainWarmup}`,
        `--windows=${size.windows}`,
      ],
    ],
    rows: (r) => [
      {
        metric: 'train',
        label: `lenet-mnist train(), fastPath 'auto' → ${r.path}${r.variant ? ` (${r.variant})` : ''}, node ${RELAXED_FLAG}`,
        value: r.samplesPerSecond,
      },
    ],
  });
  list.push({
    ...lenet('lenet-train-tfjs', 'off'),
    cmd: node(
      'bench-lenet.mjs',
      'train',
      '--fast-path=off',
      `--batches=${size.tfjsBatches}`,
      `--warmup=${size.tfjsWarmup}`,
      `--windows=${size.windows}`,
    ),
    rows: (r) => [
      {
        metric: 'train',
        label: `lenet-mnist train(), fastPath 'off' → ${r.path} ops on ${r.backend}`,
        value: r.samplesPerSecond,
      },
    ],
  });
  const inferArgs = [
    `--batch=${size.inferBatch}`,
    `--reps=${size.inferReps}`,
    `--single=${size.singles}`,
    `--weights=${join(WORK_DIR, 'weights-infer.f32')}`,
  ];
  for (const fastPath of ['auto', 'off']) {
    list.push({
      ...lenet(fastPath === 'auto' ? 'lenet-infer' : 'lenet-infer-tfjs', fastPath),
      cmd: node('bench-lenet.mjs', 'infer', `--fast-path=${fastPath}`, ...inferArgs),
      rows: (r) => {
        const name = `lenet-mnist predictor, fastPath '${fastPath}' → ${r.path}`;
        return [
          {
            metric: 'batch',
            label: `${name}, 32x32 prepared input`,
            value: r.input32.batchImagesPerSecond,
            baseline: fastPath === 'auto',
          },
          {
            metric: 'batch',
            label: `${name}, 28x28 input (+ resize)`,
            value: r.input28.batchImagesPerSecond,
          },
          {
            metric: 'single',
            label: `${name}, 32x32 prepared input`,
            value: r.input32.singleMs,
            baseline: fastPath === 'auto',
          },
          {
            metric: 'single',
            label: `${name}, 28x28 input (+ resize)`,
            value: r.input28.singleMs,
          },
        ];
      },
    });
  }
  if (peers.torch) {
    const py = peers.torch.python;
    const data = `--data-dir=${WORK_DIR}`;
    for (const threads of [1, 2]) {
      list.push({
        id: `torch-train-t${threads}`,
        peer: 'torch',
        threads,
        cmd: [
          py,
          [
            worker('bench-torch.py'),
            'train',
            data,
            `--threads=${threads}`,
            `--batches=${size.trainBatches}`,
            `--warmup=${size.trainWarmup}`,
            `--windows=${size.windows}`,
            `--weights=${join(WORK_DIR, 'weights-seed1.f32')}`,
          ],
        ],
        rows: (r) => [
          {
            metric: 'train',
            label: `PyTorch ${r.torch} CPU, ${r.threads} thread${r.threads > 1 ? 's' : ''}`,
            value: r.samplesPerSecond,
            best: 'PyTorch',
          },
        ],
      });
      list.push({
        id: `torch-infer-t${threads}`,
        peer: 'torch',
        threads,
        cmd: [
          py,
          [
            worker('bench-torch.py'),
            'infer',
            data,
            `--threads=${threads}`,
            `--batch=${size.inferBatch}`,
            `--reps=${size.inferReps}`,
            `--single=${size.singles}`,
            `--weights=${join(WORK_DIR, 'weights-infer.f32')}`,
          ],
        ],
        rows: (r) => {
          const label = `PyTorch ${r.torch} CPU, ${r.threads} thread${r.threads > 1 ? 's' : ''}, no_grad`;
          return [
            { metric: 'batch', label, value: r.batchImagesPerSecond, best: 'PyTorch' },
            { metric: 'single', label, value: r.singleMs, best: 'PyTorch' },
          ];
        },
      });
    }
  }
  if (peers.ort && peers.torch) {
    list.push({
      id: 'ort-infer',
      peer: 'ort',
      cmd: node(
        'bench-ort.mjs',
        `--model=${join(WORK_DIR, 'lenet.onnx')}`,
        `--batch=${size.inferBatch}`,
        `--reps=${size.inferReps}`,
        `--single=${size.singles}`,
      ),
      rows: (r) => {
        const label = `onnxruntime-web ${r.ort} (Node, WASM, ${r.threads} thread)`;
        return [
          { metric: 'batch', label, value: r.batchImagesPerSecond },
          { metric: 'single', label, value: r.singleMs },
        ];
      },
    });
  }
  return list;
}

const METRICS = {
  train: { title: 'Training (batch 64, Adam), samples/s', unit: 'samples/s', higherIsBetter: true },
  batch: { title: 'Inference, batch 1000, images/s', unit: 'images/s', higherIsBetter: true },
  single: { title: 'Inference, batch 1, latency ms', unit: 'ms', higherIsBetter: false },
};

/** Medians per row over rounds, the "best threads" rows, and ratios against the baseline. */
function aggregate(list, results) {
  const rows = new Map();
  for (const c of list) {
    for (const [round, r] of results[c.id].entries()) {
      if (r.error) continue;
      for (const row of c.rows(r)) {
        const key = `${row.metric}|${row.label}`;
        if (!rows.has(key)) rows.set(key, { ...row, contender: c.id, values: [], rounds: [] });
        rows.get(key).values.push(row.value);
        rows.get(key).rounds.push(round + 1);
      }
    }
  }
  const out = [...rows.values()].map((row) => ({
    ...row,
    median: median(row.values),
    min: Math.min(...row.values),
    max: Math.max(...row.values),
  }));
  // "Best threads": the thread count with the better median (not the best round of either).
  for (const metric of Object.keys(METRICS)) {
    const better = METRICS[metric].higherIsBetter ? (a, b) => a > b : (a, b) => a < b;
    const candidates = out.filter((r) => r.metric === metric && r.best === 'PyTorch');
    if (candidates.length < 2) continue;
    const best = candidates.reduce((a, b) => (better(b.median, a.median) ? b : a));
    const threads = /(\d+) thread/.exec(best.label)?.[1];
    const after = out.indexOf(candidates.at(-1)) + 1;
    out.splice(after, 0, {
      ...best,
      label: `PyTorch (best threads: ${threads})`,
      summary: true,
      best: undefined,
    });
  }
  // A lenet-mnist contender whose path changed between rounds (fused kernels missing from a
  // build, say) gives two rows; only the one seen in most rounds stays the baseline.
  const warnings = [];
  for (const c of list) {
    results[c.id].forEach((r, round) => {
      if (r.error) warnings.push(`${c.id} failed in round ${round + 1}: ${r.error.split('\n')[0]}`);
    });
  }
  for (const metric of Object.keys(METRICS)) {
    const bases = out.filter((r) => r.metric === metric && r.baseline);
    if (bases.length < 2) continue;
    bases.sort((a, b) => b.values.length - a.values.length);
    for (const extra of bases.slice(1)) extra.baseline = false;
    warnings.push(
      `${METRICS[metric].title}: the baseline contender ran different paths in different rounds (${bases.map((b) => `"${b.label}" in round ${b.rounds.join(', ')}`).join('; ')}); ratios use the first.`,
    );
  }
  for (const row of out) {
    const base = out.find((r) => r.metric === row.metric && r.baseline);
    if (!base) continue;
    // Speed relative to lenet-mnist's baseline row: >1 means faster than lenet-mnist.
    row.ratio = METRICS[row.metric].higherIsBetter
      ? row.median / base.median
      : base.median / row.median;
  }
  return { rows: out, warnings };
}

function crossCheck(list, results) {
  const first = (id) => results[id]?.find((r) => !r.error);
  const ref = first('lenet-infer');
  if (!ref) return [];
  const checks = [];
  for (const id of ['lenet-infer-tfjs', 'torch-infer-t1', 'ort-infer']) {
    const r = first(id);
    if (!r || !list.some((c) => c.id === id)) continue;
    let maxDiff = 0;
    ref.probs.forEach((row, i) => {
      row.forEach((v, j) => {
        maxDiff = Math.max(maxDiff, Math.abs(v - r.probs[i][j]));
      });
    });
    const agree = ref.argmax.filter((a, i) => a === r.argmax[i]).length;
    checks.push({
      against: id,
      maxAbsProbDiff: maxDiff,
      rowsCompared: ref.probs.length,
      argmaxAgree: agree,
      of: ref.argmax.length,
    });
  }
  return checks;
}

const fmt = (v, unit) => {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (unit === 'ms') return v < 1 ? v.toFixed(3) : v.toFixed(2);
  return Math.round(v).toLocaleString('en-US');
};

function markdownTable(rows, peers) {
  const lines = [
    '| Contender | Metric | Median | Min–max | Speed vs lenet-mnist |',
    '|---|---|---:|---:|---:|',
  ];
  for (const [metric, m] of Object.entries(METRICS)) {
    const group = rows.filter((r) => r.metric === metric);
    group.sort((a, b) => Number(b.baseline ?? 0) - Number(a.baseline ?? 0));
    for (const r of group) {
      const name = r.baseline || r.summary ? `**${r.label}**` : r.label;
      const range = r.values.length > 1 ? `${fmt(r.min, m.unit)}–${fmt(r.max, m.unit)}` : '–';
      lines.push(
        `| ${name} | ${m.title} | ${fmt(r.median, m.unit)}${m.unit === 'ms' ? ` (${fmt(1000 / r.median)}/s)` : ''} | ${range} | ${r.ratio === undefined ? '–' : `${r.ratio.toFixed(2)}×`} |`,
      );
    }
    const missing = [];
    if (!peers.torch) missing.push('PyTorch');
    if (!peers.ort || !peers.torch) missing.push('onnxruntime-web');
    for (const who of missing) {
      if (metric === 'train' && who === 'onnxruntime-web') continue;
      lines.push(`| ${who} | ${m.title} | not measured | | |`);
    }
  }
  return lines.join('\n');
}

async function throughput(peers) {
  log('Setup: preparing MNIST (lenet-mnist prepareImages) and the shared weights…');
  const setup = await runWorker(
    ...node('bench-lenet.mjs', 'setup', '--seeds=1', '--infer-weights'),
  );
  if (setup.error) throw new Error(`setup failed: ${setup.error}`);
  if (peers.torch) {
    const exported = await runWorker(peers.torch.python, [
      worker('bench-torch.py'),
      'export',
      `--weights=${join(WORK_DIR, 'weights-infer.f32')}`,
      `--out=${join(WORK_DIR, 'lenet.onnx')}`,
    ]);
    if (exported.error) {
      log(`ONNX export failed, onnxruntime-web not measured: ${exported.error}`);
      peers.ort = undefined;
    }
  }
  const list = contenders(peers);
  const results = Object.fromEntries(list.map((c) => [c.id, []]));
  for (let round = 0; round < rounds; round++) {
    const k = round % list.length;
    const order = [...list.slice(k), ...list.slice(0, k)];
    for (const c of order) {
      const t = performance.now();
      const r = await runWorker(...c.cmd);
      results[c.id][round] = r;
      const took = ((performance.now() - t) / 1000).toFixed(1);
      log(
        `round ${round + 1}/${rounds}  ${c.id.padEnd(18)} ${r.error ? `FAILED ${r.error}` : 'ok'} (${took} s)`,
      );
    }
  }
  const { rows, warnings } = aggregate(list, results);
  return { setup, list, results, rows, warnings, checks: crossCheck(list, results) };
}

// ---------------------------------------------------------------------------------------------
// Time-to-accuracy mode.

async function timeToAccuracy(peers) {
  // `--seeds 3` means seeds 1, 2, 3; `--seeds 4,7` means those two.
  const spec = String(args.seeds ?? '1');
  const seeds = spec.includes(',')
    ? spec.split(',').map(Number)
    : Array.from({ length: Number(spec) }, (_, i) => i + 1);
  const target = Number(args.target ?? 0.99);
  const maxEpochs = Number(args['max-epochs'] ?? 10);
  const torchThreads = Number(args['torch-threads'] ?? 1);
  log(`Setup: preparing MNIST and initial weights for seeds ${seeds.join(', ')}…`);
  const setup = await runWorker(...node('bench-lenet.mjs', 'setup', `--seeds=${seeds.join(',')}`));
  if (setup.error) throw new Error(`setup failed: ${setup.error}`);
  const runs = [];
  const recipes = String(args.recipes ?? 'reference').split(',');
  for (const [i, seed] of seeds.entries()) {
    const weights = `--weights=${join(WORK_DIR, `weights-seed${seed}.f32`)}`;
    const jobs = recipes.map((recipe) => ({
      who: recipes.length > 1 || recipe !== 'reference' ? `lenet-mnist ${recipe}` : 'lenet-mnist',
      cmd: node(
        'bench-lenet.mjs',
        'tta',
        `--seed=${seed}`,
        `--target=${target}`,
        `--max-epochs=${maxEpochs}`,
        `--recipe=${recipe}`,
        weights,
      ),
    }));
    if (peers.torch && !args['no-peers']) {
      jobs.push({
        who: 'PyTorch',
        cmd: [
          peers.torch.python,
          [
            worker('bench-torch.py'),
            'tta',
            `--data-dir=${WORK_DIR}`,
            `--seed=${seed}`,
            `--target=${target}`,
            `--max-epochs=${maxEpochs}`,
            `--threads=${torchThreads}`,
            weights,
          ],
        ],
      });
    }
    if (i % 2) jobs.reverse(); // alternate who goes first
    for (const job of jobs) {
      log(
        `time to ${(target * 100).toFixed(1)}%: ${job.who}, seed ${seed} (up to ${maxEpochs} epochs)…`,
      );
      const r = await runWorker(...job.cmd, 2 * 60 * 60_000);
      if (r.error) log(`  FAILED ${r.error}`);
      runs.push({ who: job.who, seed, ...r });
    }
  }
  return { seeds, target, maxEpochs, torchThreads, setup, runs };
}

function ttaMarkdown(tta) {
  const pct = (v) => (v === undefined || v === null ? '–' : `${(v * 100).toFixed(2)}%`);
  // Epoch-end checks only: the granularity both contenders offer (see BENCHMARKS.md).
  const epochEnds = (r) => r.curve?.filter((p) => Number.isInteger(p.epoch)) ?? [];
  // 99.0% sits at the edge of this recipe's reach, so lower thresholds are shown as well: they
  // compare the contenders' speed with less luck of the seed in them.
  const thresholds = [...new Set([0.98, 0.985, 0.99, tta.target])]
    .filter((t) => t <= tta.target)
    .sort((a, b) => a - b);
  const firstAt = (points, t) => points.find((p) => p.accuracy >= t);
  const perEpoch = (points) =>
    median(points.map((p, i) => p.seconds - (i ? points[i - 1].seconds : 0)));
  const who = (r) => `${r.who} (${r.path ?? `${r.threads} thread${r.threads > 1 ? 's' : ''}`})`;
  const tHead = thresholds.map((t) => `s to ${(t * 100).toFixed(1)}% (epoch)`);
  const lines = [
    `| Contender | Seed | Training s per epoch | of which augmentation | ${tHead.join(' | ')} | Best test accuracy (epoch) | PyTorch, ¼-epoch checks: s to ${(tta.target * 100).toFixed(1)}% |`,
    `|---|---:|---:|---:|${thresholds.map(() => '---:|').join('')}---:|---:|`,
  ];
  const runs = [...tta.runs].sort((a, b) => a.who.localeCompare(b.who) || a.seed - b.seed);
  const ok = runs.filter((r) => !r.error);
  for (const r of runs) {
    if (r.error) {
      lines.push(`| ${r.who} | ${r.seed} | failed: ${r.error.split('\n')[0]} |`);
      continue;
    }
    const ends = epochEnds(r);
    const best = ends.reduce((a, b) => (b.accuracy > (a?.accuracy ?? -1) ? b : a), undefined);
    const cells = thresholds.map((t) => {
      const hit = firstAt(ends, t);
      return hit ? `${hit.seconds.toFixed(1)} (${hit.epoch})` : `not in ${ends.length}`;
    });
    const fine = r.who === 'PyTorch' ? firstAt(r.curve, tta.target) : undefined;
    lines.push(
      `| ${who(r)} | ${r.seed} | ${perEpoch(ends).toFixed(1)} | ${median(ends.map((p) => p.augmentSeconds ?? 0)).toFixed(1)} | ${cells.join(' | ')} | ${pct(best?.accuracy)} (${best?.epoch ?? '–'}) | ${fine ? `${fine.seconds.toFixed(1)} (epoch ${fine.epoch.toFixed(2)})` : '–'} |`,
    );
  }
  const summary = [
    '',
    'Over seeds (medians):',
    '',
    `| Contender | Training s per epoch | ${thresholds.map((t) => `to ${(t * 100).toFixed(1)}%: seeds reaching, median s`).join(' | ')} |`,
    `|---|---:|${thresholds.map(() => '---:|').join('')}`,
  ];
  for (const name of [...new Set(ok.map((r) => r.who))]) {
    const runs = ok.filter((r) => r.who === name);
    const cells = thresholds.map((t) => {
      const hits = runs.map((r) => firstAt(epochEnds(r), t)).filter(Boolean);
      return `${hits.length}/${runs.length}${hits.length ? `, ${median(hits.map((h) => h.seconds)).toFixed(1)} s` : ''}`;
    });
    summary.push(
      `| ${who(runs[0])} | ${median(runs.map((r) => perEpoch(epochEnds(r)))).toFixed(1)} | ${cells.join(' | ')} |`,
    );
  }
  const curves = [
    '',
    'Test accuracy after each epoch (cumulative training seconds):',
    '',
    `| Epoch | ${runs.map((r) => `${r.who} (seed ${r.seed})`).join(' | ')} |`,
    `|---:|${runs.map(() => '---:|').join('')}`,
  ];
  for (let e = 1; e <= tta.maxEpochs; e++) {
    const cells = runs.map((r) => {
      const p = r.curve?.find((q) => q.epoch === e);
      return p ? `${pct(p.accuracy)} @ ${p.seconds.toFixed(0)} s` : '';
    });
    if (cells.every((c) => c === '')) break;
    curves.push(`| ${e} | ${cells.join(' | ')} |`);
  }
  return [...lines, ...summary, ...curves].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const distDir = resolve(ROOT, args.dist ?? join('dist', 'node'));
  if (!existsSync(join(distDir, 'index.js'))) {
    throw new Error(`${rel(distDir)}/index.js is missing: run \`npm run build\` first`);
  }
  ensureDir(WORK_DIR);
  // Workers load this snapshot (LENET_MNIST_DIST): other work rebuilding dist/ mid-run would
  // otherwise swap the code under test between rounds.
  const snapshot = join(WORK_DIR, 'dist-node');
  rmSync(snapshot, { recursive: true, force: true });
  cpSync(distDir, snapshot, { recursive: true });
  process.env.LENET_MNIST_DIST = snapshot;
  const fusedBuilt = ['lenet-simd.wasm', 'lenet-relaxed-simd.wasm'].filter((f) =>
    existsSync(join(snapshot, f)),
  );
  if (fusedBuilt.length === 0) {
    log(
      `Warning: ${rel(distDir)} has no fused kernels (lenet-simd.wasm): lenet-mnist will run its tfjs path.`,
    );
  }
  const torch = findTorch();
  const ort = findOrt();
  const peers = { torch, ort };
  const machine = machineInfo({
    pytorch: torch?.version ?? 'not found',
    onnxruntimeWeb: ort?.version ?? 'not found',
    build: `${rel(distDir)} (fused kernels: ${fusedBuilt.join(', ') || 'missing'})`,
  });
  const mode = args['time-to-accuracy'] ? 'time-to-accuracy' : 'throughput';
  const started = performance.now();
  const report = { mode, machine };
  let body;
  if (mode === 'throughput') {
    const t = await throughput(peers);
    machine.tfjs = t.setup.tfjs;
    machine.lenetMnist = t.setup.lenetMnist;
    const paths = t.list
      .flatMap((c) => t.results[c.id].filter((r) => r && !r.error && r.reason))
      .map((r) => r.reason);
    Object.assign(report, {
      config: { rounds, quick, ...size },
      contenders: t.list.map((c) => ({
        id: c.id,
        command: [rel(c.cmd[0]), ...c.cmd[1].map(rel)].join(' '),
      })),
      results: t.results,
      rows: t.rows.map(
        ({
          contender,
          metric,
          label,
          median: med,
          min,
          max,
          values,
          rounds: rs,
          ratio,
          baseline,
          summary,
        }) => ({
          contender,
          metric,
          label,
          median: med,
          min,
          max,
          values,
          rounds: rs,
          ratio,
          baseline: Boolean(baseline),
          summary: Boolean(summary),
        }),
      ),
      crossCheck: t.checks,
    });
    const checks = t.checks
      .map(
        (c) =>
          `- ${c.against} vs lenet-infer: max |Δ probability| ${c.maxAbsProbDiff.toExponential(1)} over ${c.rowsCompared} images, same argmax ${c.argmaxAgree}/${c.of}${c.maxAbsProbDiff > 1e-4 ? ' **MISMATCH: not the same function**' : ''}`,
      )
      .join('\n');
    body = [
      markdownTable(t.rows, peers),
      '',
      `Medians over ${rounds} round${rounds > 1 ? 's' : ''} (each contender a fresh process per round, order rotated); "Speed vs lenet-mnist" divides medians against the **bold** lenet-mnist row of the same metric (latency inverted): above 1 is faster than lenet-mnist.`,
      `lenet-mnist paths seen: ${[...new Set(paths)].join('; ')}.`,
      ...t.warnings.map((w) => `**Warning:** ${w}`),
      '',
      'Same function, same inputs (first round):',
      checks || '- (no peers to check)',
    ].join('\n');
  } else {
    const tta = await timeToAccuracy(peers);
    machine.tfjs = tta.setup.tfjs;
    machine.lenetMnist = tta.setup.lenetMnist;
    Object.assign(report, {
      config: {
        target: tta.target,
        maxEpochs: tta.maxEpochs,
        seeds: tta.seeds,
        torchThreads: tta.torchThreads,
      },
      runs: tta.runs,
    });
    body = ttaMarkdown(tta);
  }
  machine.loadAverageAtEnd = os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
  machine.benchSeconds = Math.round((performance.now() - started) / 1000);
  const machineLines = [
    `- Date: ${machine.date}; lenet-mnist ${machine.lenetMnist} at ${machine.commit}, build ${machine.build}`,
    `- CPU: ${machine.cpu} (${machine.cpuFlags}), ${machine.logicalCores} logical cores, ${machine.memoryGiB} GiB; ${machine.os}`,
    `- Node ${machine.node} (V8 ${machine.v8}), tfjs-core ${machine.tfjs}; PyTorch ${machine.pytorch}; onnxruntime-web ${machine.onnxruntimeWeb}`,
    `- Load average (1/5/15 min) at start ${machine.loadAverageAtStart}, at end ${machine.loadAverageAtEnd}; bench took ${machine.benchSeconds} s`,
  ].join('\n');
  const markdown = `${body}\n\nMachine:\n${machineLines}\n`;
  ensureDir(OUT_DIR);
  const name = mode === 'throughput' ? 'bench' : 'bench-tta';
  writeFileSync(join(OUT_DIR, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(OUT_DIR, `${name}.md`), markdown);
  console.log(`\n${markdown}`);
  log(`Written: ${rel(join(OUT_DIR, `${name}.json`))}, ${rel(join(OUT_DIR, `${name}.md`))}`);
}

main().catch((err) => {
  console.error(err.stack ?? err);
  process.exit(1);
});
