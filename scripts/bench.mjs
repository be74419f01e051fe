// `npm run bench`: lenet-mnist against its peers (PyTorch CPU, onnxruntime-web) on this machine.
//
//   npm run bench [-- --rounds 5 | --quick | --epochs N | --only job,batch | --dist DIR]
//   npm run bench -- --main-job [--rounds 5]     # npm start's whole job vs PyTorch's, 5 epochs
//   npm run bench -- --profile                   # per-layer profile of the fused step and forward
//   npm run bench -- --time-to-accuracy [--seeds 1] [--max-epochs 10] [--target 0.99]
//                    [--recipes reference,best] [--no-peers]
//   (`node scripts/bench.mjs --help` lists the options; BENCHMARKS.md explains the method)
//
// Every contender runs in its own fresh process (no shared JIT, heap or thread pool), once per
// round, in an order rotated each round, so slow drifts of the machine's load spread over all of
// them; the table shows medians over rounds and ratios of medians. The contenders are a table of
// entries in bench-contenders.mjs. All of them train and run the same LeNet-5 on the same bytes,
// and the inference peers get the same weights: their outputs are cross-checked.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { contenders, metrics, RELAXED_FLAG, VARIANT_NAMES } from './bench-contenders.mjs';
import {
  ensureDir,
  median,
  OUT_DIR,
  parseArgs,
  RESULT_PREFIX,
  ROOT,
  WORK_DIR,
} from './bench-lib.mjs';

/** The npm peers installed on demand, outside package.json (dev-only, large). */
const ORT_NODE_VERSION = '1.23.2';
const NODE22_VERSION = '22.23.3';
const PEERS_DIR = join(OUT_DIR, 'peers');

const USAGE = `Usage: npm run bench [-- options]   (or: node scripts/bench.mjs [options] after a build)

Throughput (default): every row of issue 14's table, interleaved in one run:
  train N epochs as a whole process (lenet-mnist CLI vs scripts/torch-main-job.py), training
  samples/s in-process, predictBatch of 1,000 test digits (images/s), predict of one (ms),
  and startup in Node (import to the first prediction of the pretrained model, ms).
  --rounds N         interleaved rounds, one fresh process per contender per round (default 5)
  --quick            smoke run: 1 round, few batches and repetitions, whole-process jobs on
                     the first 6,400 training images (numbers are rough)
  --epochs N         epochs of the whole-process rows (default 1)
  --only LIST        only the contenders of these tables: job,train,batch,single,startup,variants
  --variants [LIST]  add one training table per model variant (scripts/bench-variants.mjs's
                     workers: fused, tfjs path, PyTorch 1 and 2 threads); LIST picks variants
  --main-job         only the whole job: \`npm start\`'s command (5 epochs, test evaluation after
                     each, --verify) against the PyTorch script's 5 epochs at 1 and 2 threads
  --dist DIR         the lenet-mnist Node build to measure (default dist/); it is copied to
                     bench-out/work/dist-node first, so a rebuild during the run changes nothing
Profile:
  --profile          per-layer times of the fused training step and forward pass
                     (scripts/bench-fused.mjs, plain and relaxed SIMD, each a fresh process)
Time to accuracy:
  --time-to-accuracy train lenet-mnist and PyTorch from scratch on the 60k set until the test
                     accuracy reaches --target (0.99) or --max-epochs (10); --seeds N|a,b (1);
                     --torch-threads N (1); --recipes reference,best trains lenet-mnist with
                     each named train() recipe (default: reference); --no-peers skips PyTorch
Peers:
  --install-peers    as root on Debian: apt-get install python3-torch python3-numpy if missing
                     (BENCH_PYTHON picks the Python interpreter)
  --ort-node         install onnxruntime-node (the native yardstick, ${ORT_NODE_VERSION}) into
                     bench-out/peers if missing (ONNXRUNTIME_NODE_INSTALL=skip: its CPU binaries
                     ship in the package); once there, its rows (1 and 2 threads) always run
  --node22           install Node 22 (npm i node@22) into bench-out/peers if missing; once
                     there, lenet-mnist's train/infer rows and onnxruntime-node's run on it too
Writes bench-out/bench.json and bench-out/bench.md (bench-main-job.*, bench-profile.*,
bench-tta.* for the other modes).`;

const args = parseArgs(process.argv.slice(2));
const KNOWN = [
  '_',
  'help',
  'rounds',
  'quick',
  'epochs',
  'only',
  'main-job',
  'variants',
  'profile',
  'time-to-accuracy',
  'seeds',
  'max-epochs',
  'target',
  'torch-threads',
  'recipes',
  'no-peers',
  'install-peers',
  'ort-node',
  'node22',
  'dist',
];
const unknown = Object.keys(args).filter((k) => !KNOWN.includes(k));
if (args.help || unknown.length || args._.length) {
  if (!args.help)
    console.error(`Unknown argument: ${[...unknown.map((k) => `--${k}`), ...args._].join(' ')}\n`);
  console.log(USAGE);
  process.exit(args.help ? 0 : 2);
}
const usageError = (msg) => {
  console.error(msg);
  process.exit(2);
};
const positiveInt = (name, fallback) => {
  const v = Number(args[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1)
    usageError(`--${name} must be a positive integer, got ${args[name]}`);
  return v;
};
const quick = Boolean(args.quick);
const mainJob = Boolean(args['main-job']);
const rounds = positiveInt('rounds', quick ? 1 : 5);
// The main job is `npm start`'s: 5 epochs (the CLI's default).
const epochs = positiveInt('epochs', mainJob ? 5 : 1);
if (mainJob && args.epochs !== undefined && epochs !== 5)
  usageError('--main-job is the 5-epoch job of `npm start`; use --epochs N without it');
const TABLES = ['job', 'train', 'batch', 'single', 'startup', 'variants'];
// `--variants` alone: every variant; `--variants avg,mlp`: those. `--only variants` implies all.
const variants =
  args.variants === undefined
    ? args.only !== undefined && String(args.only).split(',').includes('variants')
      ? VARIANT_NAMES
      : []
    : args.variants === true
      ? VARIANT_NAMES
      : String(args.variants).split(',');
const only = args.only === undefined ? undefined : new Set(String(args.only).split(','));
if (only && (only.size === 0 || [...only].some((m) => !TABLES.includes(m))))
  usageError(`--only takes a list of ${TABLES.join(', ')}, got ${args.only}`);
// Batches and repetitions: the defaults keep a 5-round run within ~10 minutes on 2 busy cores.
const size = {
  // Timed windows per training process (the process reports its median window).
  windows: quick ? 1 : 3,
  trainBatches: quick ? 20 : 100,
  trainWarmup: quick ? 3 : 10,
  // Per-variant training windows (bench-variants.mjs's default is 60 batches).
  variantBatches: quick ? 10 : 60,
  // The generic tfjs path is ~10x slower than the fused one: fewer batches, same metric.
  tfjsBatches: quick ? 5 : 15,
  tfjsWarmup: quick ? 2 : 3,
  inferBatch: 1000,
  inferReps: quick ? 3 : 10,
  singles: quick ? 200 : 2000,
};
const log = (msg) => process.stderr.write(`${msg}\n`);
const worker = (name) => join(ROOT, 'scripts', name);
const rel = (p) => p.replaceAll(`${ROOT}/`, '');
/** The command line that reproduces this run (npm sets npm_lifecycle_event for `npm run`). */
const argv = process.argv.slice(2).join(' ');
const invocation =
  process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${argv ? ` -- ${argv}` : ''}`
    : `node scripts/bench.mjs${argv ? ` ${argv}` : ''}`;
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

/**
 * An npm package in the peers folder (bench-out/peers), installed there when `install` is set
 * and it is missing. Returns the folder, or undefined (with a note) when it is not there.
 */
function peerPackage(name, version, install, env = {}) {
  const pkg = join(PEERS_DIR, 'node_modules', name, 'package.json');
  if (!existsSync(pkg) && install) {
    ensureDir(PEERS_DIR);
    if (!existsSync(join(PEERS_DIR, 'package.json'))) {
      writeFileSync(join(PEERS_DIR, 'package.json'), '{"name":"bench-peers","private":true}\n');
    }
    log(`Installing ${name}@${version} into ${rel(PEERS_DIR)}…`);
    spawnSync('npm', ['install', '--no-audit', '--no-fund', `${name}@${version}`], {
      cwd: PEERS_DIR,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
  }
  if (existsSync(pkg)) return JSON.parse(readFileSync(pkg, 'utf8')).version;
  return undefined;
}

/** onnxruntime-node in bench-out/peers: `{ dir, version }` or undefined. */
function findOrtNode() {
  const version = peerPackage('onnxruntime-node', ORT_NODE_VERSION, Boolean(args['ort-node']), {
    // Its postinstall only fetches GPU providers; the CPU binaries ship in the package.
    ONNXRUNTIME_NODE_INSTALL: 'skip',
  });
  if (version) return { dir: PEERS_DIR, version };
  log(
    'onnxruntime-node not installed: `npm run bench -- --ort-node` installs it into bench-out/peers.',
  );
  return undefined;
}

/** Node 22's binary in bench-out/peers (npm's `node` package): `{ bin, version }` or undefined. */
function findNode22() {
  const version = peerPackage('node', NODE22_VERSION, Boolean(args.node22));
  const bin = join(PEERS_DIR, 'node_modules', '.bin', 'node');
  if (version && existsSync(bin)) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return { bin, version: r.stdout.trim() };
  }
  log('Node 22 not installed: `npm run bench -- --node22` installs it into bench-out/peers.');
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Running workers.

/**
 * Runs one process; resolves with its result (the `BENCH_RESULT` line, or `parse(stdout)`) plus
 * `wallSeconds`, the time from spawning it to its exit, or with `{ error }`.
 */
function runWorker(cmd, argv, { timeoutMs = 15 * 60_000, parse } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      const wallSeconds = (performance.now() - started) / 1000;
      clearTimeout(timer);
      let result;
      if (code === 0) {
        if (parse) result = parse(stdout);
        else {
          const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
          if (line) result = JSON.parse(line.slice(RESULT_PREFIX.length));
        }
      }
      if (result) {
        resolve({ ...result, wallSeconds });
        return;
      }
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      const how = timedOut
        ? `killed after the ${timeoutMs / 1000} s limit`
        : `exit ${code ?? signal}`;
      resolve({ error: `${how}: ${tail || stdout.trim().slice(-500)}` });
    });
    child.on('error', (err) => resolve({ error: err.message }));
  });
}

const node = (script, ...rest) => [process.execPath, [worker(script), ...rest]];
const loadAverage = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

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
    command: invocation,
    cpu: model,
    cpuFlags: simd.join(' '),
    logicalCores: os.cpus().length,
    availableParallelism: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: /PRETTY_NAME="(.*)"/.exec(osRelease)?.[1] ?? `${os.type()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain']) ? ' (+ uncommitted changes)' : ''}`,
    loadAverageAtStart: loadAverage(),
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Throughput mode (and --main-job, which runs only the whole-process contenders).

/**
 * Medians per row over rounds, the "best threads" rows, ratios against the baseline, and a
 * "not in this build" or "failed" row for each contender that never gave a result.
 */
function aggregate(list, results, table) {
  const rows = new Map();
  for (const c of list) {
    for (const [round, r] of results[c.id].entries()) {
      if (r.error || r.missing) continue;
      for (const row of c.rows(r)) {
        // Rows of a new kind (a plug-in's) bring their table's description with them.
        table[row.metric] ??= {
          title: row.title ?? row.metric,
          unit: row.unit ?? '',
          higherIsBetter: row.higherIsBetter ?? true,
        };
        const key = `${row.metric}\n${row.label}`;
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
  const warnings = [];
  for (const c of list) {
    const rs = results[c.id];
    rs.forEach((r, round) => {
      if (r.error) warnings.push(`${c.id} failed in round ${round + 1}: ${r.error.split('\n')[0]}`);
    });
    if (rs.some((r) => !r.error && !r.missing)) continue;
    const missing = rs.find((r) => r.missing)?.missing;
    const note = missing
      ? `not in this build (${missing})`
      : `failed: ${rs[0]?.error.split('\n')[0] ?? 'not run'}`;
    for (const metric of c.metrics) {
      table[metric] ??= { title: metric, unit: '', higherIsBetter: true };
      out.push({ metric, label: c.title, note, contender: c.id, values: [], rounds: [] });
    }
  }
  // "Best threads": the thread count with the better median (not the best round of either).
  for (const metric of Object.keys(table)) {
    const better = table[metric].higherIsBetter ? (a, b) => a > b : (a, b) => a < b;
    const candidates = out.filter((r) => r.metric === metric && r.best === 'PyTorch');
    if (candidates.length === 0) continue;
    const best = candidates.reduce((a, b) => (better(b.median, a.median) ? b : a));
    const threads = /(\d+) thread/.exec(best.label)?.[1];
    // A thread count that failed or timed out in every round has no row to compare.
    const lost = list.some(
      (c) =>
        c.id.includes('torch') && c.metrics.includes(metric) && results[c.id].every((r) => r.error),
    );
    const after = out.indexOf(candidates.at(-1)) + 1;
    out.splice(after, 0, {
      ...best,
      label: `PyTorch (best threads: ${threads}${lost ? ', of those that finished' : ''})`,
      summary: true,
      best: undefined,
    });
  }
  // A lenet-mnist contender whose path changed between rounds (fused kernels missing from a
  // build, say) gives two rows; only the one seen in most rounds stays the baseline.
  for (const metric of Object.keys(table)) {
    const bases = out.filter((r) => r.metric === metric && r.baseline);
    if (bases.length < 2) continue;
    bases.sort((a, b) => b.values.length - a.values.length);
    for (const extra of bases.slice(1)) extra.baseline = false;
    warnings.push(
      `${table[metric].title}: the baseline contender ran different paths in different rounds (${bases.map((b) => `"${b.label}" in round ${b.rounds.join(', ')}`).join('; ')}); ratios use the first.`,
    );
  }
  for (const row of out) {
    const base = out.find((r) => r.metric === row.metric && r.baseline);
    if (!base || row.median === undefined || row.noRatio) continue;
    // Speed relative to lenet-mnist's baseline row: >1 means faster than lenet-mnist.
    row.ratio = table[row.metric].higherIsBetter
      ? row.median / base.median
      : base.median / row.median;
  }
  return { rows: out, warnings };
}

function crossCheck(list, results) {
  const first = (id) => results[id]?.find((r) => !r.error && !r.missing);
  const ref = first('lenet-infer');
  if (!ref) return [];
  const checks = [];
  for (const id of [
    'lenet-infer-tfjs',
    'lenet-infer-t1',
    'lenet-infer-node22',
    'torch-infer-t1',
    'ort-infer',
    'ort-node-t1',
    'ort-node-t2',
    'ort-node-t2-node22',
  ]) {
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
  if (unit === 'ms') return v < 0.1 ? v.toFixed(4) : v < 1 ? v.toFixed(3) : v.toFixed(2);
  if (unit === 's') return v.toFixed(2);
  if (unit === '×') return v.toFixed(2);
  return Math.round(v).toLocaleString('en-US');
};
const times = (r) => (r === undefined || Number.isNaN(r) ? '–' : `${r.toFixed(2)}×`);

/** One table per metric: median, min–max over rounds, and speed against lenet-mnist's row. */
function markdownTables(rows, table, peers) {
  const lines = [];
  for (const [metric, m] of Object.entries(table)) {
    const group = rows.filter((r) => r.metric === metric);
    if (group.length === 0) continue;
    group.sort((a, b) => Number(b.baseline ?? 0) - Number(a.baseline ?? 0));
    lines.push(
      `### ${m.title}`,
      '',
      '| Contender | Median | Min–max | Rounds | Speed vs lenet-mnist |',
      '|---|---:|---:|---:|---:|',
    );
    for (const r of group) {
      const name = r.baseline || r.summary ? `**${r.label}**` : r.label;
      if (r.note) {
        lines.push(`| ${name} | ${r.note} | | | |`);
        continue;
      }
      const range = r.values.length > 1 ? `${fmt(r.min, m.unit)}–${fmt(r.max, m.unit)}` : '–';
      const perSecond = metric === 'single' ? ` (${fmt(1000 / r.median)}/s)` : '';
      lines.push(
        `| ${name} | ${fmt(r.median, m.unit)}${perSecond} | ${range} | ${r.values.length} | ${times(r.ratio)} |`,
      );
    }
    const missing = [];
    if (!peers.torch && ['job', 'train', 'batch', 'single'].includes(metric))
      missing.push('PyTorch');
    if ((!peers.ort || !peers.torch) && (metric === 'batch' || metric === 'single'))
      missing.push('onnxruntime-web');
    for (const who of missing) lines.push(`| ${who} | not measured | | | |`);
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * The issue's table: lenet-mnist's headline row of each workload against PyTorch's better
 * thread count and onnxruntime-web, as "lenet-mnist is N× as fast", with issue 14's goals.
 */
function summaryTable(rows, table) {
  const goals = {
    job: mainJob ? { text: '≥ 3× PyTorch', met: (r) => r.torch && r.torch >= 3 } : undefined,
    batch: { text: '≥ 2× PyTorch', met: (r) => r.torch && r.torch >= 2 },
    single: { text: '≤ 0.03 ms', met: (r) => r.lenet <= 0.03 },
    startup: { text: '≤ 150 ms', met: (r) => r.lenet <= 150 },
  };
  const lines = [
    '| Workload | lenet-mnist | PyTorch (best of 1 and 2 threads) | lenet-mnist vs PyTorch | onnxruntime-web | lenet-mnist vs onnxruntime-web | Issue 14 goal |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const [metric, m] of Object.entries(table)) {
    const lenet = rows.find((r) => r.metric === metric && r.baseline && !r.note);
    // Model variants have their own summary (variantSummary).
    if (!lenet || m.variant) continue;
    const torch = rows.find((r) => r.metric === metric && r.summary && r.peer === 'torch');
    const ort = rows.find((r) => r.metric === metric && r.peer === 'ort' && !r.note);
    // As fast as: above 1 means lenet-mnist is faster.
    const speed = (peer) =>
      peer === undefined
        ? undefined
        : m.higherIsBetter
          ? lenet.median / peer.median
          : peer.median / lenet.median;
    const ratios = { lenet: lenet.median, torch: speed(torch), ort: speed(ort) };
    const goal = goals[metric];
    const met = goal?.met(ratios);
    const goalText = goal
      ? `${goal.text}: ${met === undefined ? '?' : met ? 'met' : 'not met'}`
      : '–';
    lines.push(
      `| ${m.title} | ${fmt(lenet.median, m.unit)} | ${torch ? fmt(torch.median, m.unit) : '–'} | ${times(ratios.torch)} | ${ort ? fmt(ort.median, m.unit) : '–'} | ${times(ratios.ort)} | ${goalText} |`,
    );
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

/**
 * Issue 23's table: lenet-mnist's predictor (default threads, raw 28x28 digits, preprocessing
 * included) against onnxruntime-node at 1 and 2 threads (prepared floats, outside its timing),
 * on this Node and Node 22, with the goals (batch ≥ onnxruntime-node at 2 threads; one digit
 * ≤ 0.025 ms).
 */
function yardstickTable(rows) {
  const pick = (metric, contender) =>
    rows.find((r) => r.metric === metric && r.contender === contender && !r.note && !r.summary);
  const lines = [
    '| Node | Workload | lenet-mnist (default threads) | onnxruntime-node, 1 thread | onnxruntime-node, 2 threads | lenet-mnist vs 2 threads | Issue 23 goal |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const [node, lenetId, suffix] of [
    [`Node ${process.versions.node.split('.')[0]}`, 'lenet-infer', ''],
    ['Node 22', 'lenet-infer-node22', '-node22'],
  ]) {
    for (const metric of ['batch', 'single']) {
      // The Node 22 lenet-mnist row's label differs; pick the 28x28 row of that contender.
      const lenet = rows.find(
        (r) => r.metric === metric && r.contender === lenetId && !r.note && /28x28/.test(r.label),
      );
      const [o1, o2] = [pick(metric, `ort-node-t1${suffix}`), pick(metric, `ort-node-t2${suffix}`)];
      if (!lenet || !o2) continue;
      const unit = metric === 'batch' ? 'images/s' : 'ms';
      const vs = metric === 'batch' ? lenet.median / o2.median : o2.median / lenet.median;
      const met = metric === 'batch' ? vs >= 1 : lenet.median <= 0.025;
      lines.push(
        `| ${node} | ${metric === 'batch' ? '1,000 digits in one call, images/s' : 'one digit, ms'} | ${fmt(lenet.median, unit)} | ${o1 ? fmt(o1.median, unit) : '–'} | ${fmt(o2.median, unit)} | ${times(vs)} | ${metric === 'batch' ? '≥ onnxruntime-node at 2 threads' : '≤ 0.025 ms'}: ${met ? 'met' : 'not met'} |`,
      );
    }
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

/**
 * One line per model variant: the fused path against the tfjs path and PyTorch's better thread
 * count on the same model, with issue 14's goals (5x and 1.5x).
 */
function variantSummary(rows, table) {
  const lines = [
    '| Variant | lenet-mnist, samples/s (path) | tfjs path | PyTorch (best threads) | vs tfjs path (goal ≥ 5×) | vs PyTorch (goal ≥ 1.5×) |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const [metric, m] of Object.entries(table)) {
    if (!m.variant) continue;
    const pick = (f) => rows.find((r) => r.metric === metric && !r.note && f(r));
    const lenet = pick((r) => r.baseline);
    const tfjs = pick((r) => r.peer === 'tfjs');
    const torch = pick((r) => r.summary && r.peer === 'torch');
    const vs = (peer) => (lenet && peer ? lenet.median / peer.median : undefined);
    const path = lenet ? /→ (.*)$/.exec(lenet.label)?.[1] : undefined;
    lines.push(
      `| ${m.variant} | ${lenet ? `${fmt(lenet.median)} (${path})` : '–'} | ${tfjs ? fmt(tfjs.median) : '–'} | ${torch ? fmt(torch.median) : '–'} | ${times(vs(tfjs))} | ${times(vs(torch))} |`,
    );
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

async function throughput(peers, dist) {
  const table = metrics({ epochs, mainJob });
  const jobDir = ensureDir(join(WORK_DIR, 'job'));
  const list = contenders({ peers, size, epochs, mainJob, quick, only, variants, dist, jobDir });
  for (const c of list) Object.assign(table, c.tables);
  let setup = {};
  // The whole-process and variant contenders read MNIST themselves; the others share the
  // setup step's files.
  if (list.some((c) => c.needsSetup)) {
    log('Setup: preparing MNIST (lenet-mnist prepareImages) and the shared weights…');
    setup = await runWorker(...node('bench-lenet.mjs', 'setup', '--seeds=1', '--infer-weights'));
    if (setup.error) throw new Error(`setup failed: ${setup.error}`);
    if (peers.torch && list.some((c) => c.id === 'ort-infer')) {
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
  }
  if (list.some((c) => c.id.startsWith('ort-node'))) {
    // onnxruntime-node runs the model lenet-mnist's own exporter writes, from the same weights.
    const exported = spawnSync(
      process.execPath,
      [
        join(dist, 'cli.js'),
        'export',
        join(WORK_DIR, 'weights-infer.weights'),
        '--format',
        'onnx',
        '--out',
        join(WORK_DIR, 'lenet-mnist.onnx'),
      ],
      { encoding: 'utf8' },
    );
    if (exported.status !== 0) {
      log(
        `lenet-mnist export --format onnx failed, onnxruntime-node not measured: ${exported.stderr}`,
      );
      peers.ortNode = undefined;
    }
  }
  const runnable = list.filter(
    (c) => (peers.ort || c.id !== 'ort-infer') && (peers.ortNode || !c.id.startsWith('ort-node')),
  );
  const results = Object.fromEntries(runnable.map((c) => [c.id, []]));
  const loadPerRound = [];
  for (let round = 0; round < rounds; round++) {
    loadPerRound.push(os.loadavg()[0]);
    // Rotations spread over the list, so each round starts somewhere else even with many
    // contenders and few rounds.
    const k = Math.floor((round * runnable.length) / rounds) % runnable.length;
    const order = [...runnable.slice(k), ...runnable.slice(0, k)];
    for (const c of order) {
      const t = performance.now();
      const r = c.cmd
        ? await runWorker(...c.cmd, { parse: c.parse, timeoutMs: c.timeoutMs })
        : { missing: c.missing ?? 'no command' };
      results[c.id][round] = r;
      const took = ((performance.now() - t) / 1000).toFixed(1);
      const status = r.error
        ? `FAILED ${r.error}`
        : r.missing
          ? `not in this build (${r.missing})`
          : 'ok';
      log(`round ${round + 1}/${rounds}  ${c.id.padEnd(20)} ${status} (${took} s)`);
    }
  }
  const { rows, warnings } = aggregate(runnable, results, table);
  return {
    setup,
    list: runnable,
    results,
    rows,
    table,
    warnings,
    loadPerRound,
    checks: crossCheck(runnable, results),
  };
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
      const r = await runWorker(...job.cmd, { timeoutMs: 2 * 60 * 60_000 });
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
// ---------------------------------------------------------------------------------------------
// Profile mode: bench-fused.mjs per build of the kernels, each in a fresh process.

async function profile() {
  const runs = [];
  for (const flags of [[], [RELAXED_FLAG]]) {
    const cmd = [process.execPath, [...flags, worker('bench-fused.mjs'), '--json']];
    log(`profile: ${rel([cmd[0], ...cmd[1]].join(' '))}`);
    const r = await runWorker(...cmd);
    if (r.error) throw new Error(`bench-fused.mjs failed: ${r.error}`);
    runs.push({ command: rel(['node', ...cmd[1]].join(' ')), ...r });
  }
  return runs;
}

/** Per-stage milliseconds of each build side by side, and the whole step and forward pass. */
function profileMarkdown(runs) {
  const head = `| Stage | ${runs.map((r) => `${r.variant}: ms | share`).join(' | ')} |`;
  const sep = `|---|${runs.map(() => '---:|---:').join('|')}|`;
  const section = (title, key) => {
    const names = Object.keys(runs[0][key].stages);
    const lines = [`#### ${title}`, '', head, sep];
    for (const name of names) {
      const cells = runs.map((r) => {
        const t = r[key].stages[name];
        return `${t.toFixed(3)} | ${((100 * t) / r[key].total).toFixed(1)}%`;
      });
      lines.push(`| ${name} | ${cells.join(' | ')} |`);
    }
    lines.push(
      `| **sum of stages** | ${runs.map((r) => `${r[key].total.toFixed(3)} | 100%`).join(' | ')} |`,
    );
    lines.push('', runs[0][key].note, '');
    return lines;
  };
  return [
    ...section(`Training step, batch ${runs[0].training.batch} (ms per step)`, 'training'),
    ...section(`Forward pass, batch ${runs[0].forward.batch} (ms per call)`, 'forward'),
    '| Build | one training step, ms (10th percentile) | training samples/s (windows) | forward images/s, batch 1000 | one image, µs |',
    '|---|---:|---:|---:|---:|',
    ...runs.map(
      (r) =>
        `| ${r.variant} | ${r.stepMs.toFixed(3)} | ${Math.round(r.trainSamplesPerSecond).toLocaleString('en-US')} | ${Math.round(r.forwardImagesPerSecond).toLocaleString('en-US')} | ${r.singleMicroseconds.toFixed(1)} |`,
    ),
    '',
    `Commands: ${runs.map((r) => `\`${r.command}\``).join(', ')}.`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const mode = args.profile
    ? 'profile'
    : args['time-to-accuracy']
      ? 'time-to-accuracy'
      : mainJob
        ? 'main-job'
        : 'throughput';
  const name = {
    throughput: 'bench',
    'main-job': 'bench-main-job',
    profile: 'bench-profile',
    'time-to-accuracy': 'bench-tta',
  }[mode];
  const started = performance.now();
  let machine;
  let body;
  const report = { mode };
  if (mode === 'profile') {
    // The profile times the kernels built into src/engine/fused/ (npm run build:wasm), not dist/.
    machine = machineInfo({ build: 'src/engine/fused (npm run build:wasm)' });
    const runs = await profile();
    report.runs = runs;
    body = profileMarkdown(runs);
  } else {
    const distDir = resolve(ROOT, args.dist ?? 'dist');
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
    const ortNode = findOrtNode();
    const node22 = findNode22();
    const peers = { torch, ort, ortNode: ortNode?.dir, node22: node22?.bin };
    machine = machineInfo({
      pytorch: torch?.version ?? 'not found',
      onnxruntimeWeb: ort?.version ?? 'not found',
      onnxruntimeNode: ortNode?.version ?? 'not installed',
      node22: node22?.version ?? 'not installed',
      build: `${rel(distDir)} (fused kernels: ${fusedBuilt.join(', ') || 'missing'})`,
    });
    if (mode === 'time-to-accuracy') {
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
    } else {
      const t = await throughput(peers, snapshot);
      machine.tfjs = t.setup.tfjs;
      machine.lenetMnist = t.setup.lenetMnist;
      machine.loadAverage1MinPerRound = t.loadPerRound.map((v) => v.toFixed(2)).join(', ');
      const paths = t.list
        .flatMap((c) =>
          t.results[c.id].filter((r) => r && !r.error && (r.reason ?? r.engineReason)),
        )
        .map((r) => r.reason ?? r.engineReason);
      const commands = t.list.map((c) => ({
        id: c.id,
        command: c.cmd ? rel([c.cmd[0], ...c.cmd[1]].join(' ')) : `(not run: ${c.missing})`,
      }));
      Object.assign(report, {
        config: { rounds, quick, epochs, only: only && [...only], ...size },
        contenders: commands,
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
            note,
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
            note,
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
      const accuracy = t.list
        .filter((c) => c.metrics.includes('job'))
        .map((c) => {
          const accs = t.results[c.id].filter((r) => r.testAccuracy !== undefined);
          return accs.length
            ? `${c.id} ${accs.map((r) => `${(100 * r.testAccuracy).toFixed(2)}%`).join(', ')}`
            : undefined;
        })
        .filter(Boolean);
      const perVariant = variantSummary(t.rows, t.table);
      const summary = summaryTable(t.rows, t.table);
      const yardstick = yardstickTable(t.rows);
      body = [
        ...(summary ? [summary, ''] : []),
        ...(yardstick ? [yardstick, ''] : []),
        ...(perVariant ? [perVariant, ''] : []),
        markdownTables(t.rows, t.table, peers),
        `Medians over ${rounds} round${rounds > 1 ? 's' : ''} (each contender a fresh process per round, order rotated); "Speed vs lenet-mnist" divides medians against the **bold** lenet-mnist row of the same table (times inverted): above 1 is faster than lenet-mnist. In the first table, above 1 means lenet-mnist is faster.`,
        ...(paths.length ? [`lenet-mnist paths seen: ${[...new Set(paths)].join('; ')}.`] : []),
        ...(accuracy.length
          ? [`Test accuracy after the whole-process runs (per round): ${accuracy.join('; ')}.`]
          : []),
        ...t.warnings.map((w) => `**Warning:** ${w}`),
        '',
        ...(t.checks.length
          ? ['Same function, same inputs (first round):', checks]
          : ['(No inference peers to cross-check in this run.)']),
        '',
        'Commands (one fresh process each, per round):',
        ...commands.map((c) => `- ${c.id}: \`${c.command}\``),
      ].join('\n');
    }
  }
  report.machine = machine;
  machine.loadAverageAtEnd = loadAverage();
  machine.benchSeconds = Math.round((performance.now() - started) / 1000);
  const machineLines = [
    `- Command: \`${machine.command}\` on ${machine.date}; ${machine.lenetMnist ? `lenet-mnist ${machine.lenetMnist} ` : ''}at ${machine.commit}, build ${machine.build}`,
    `- CPU: ${machine.cpu} (${machine.cpuFlags}), ${machine.logicalCores} logical cores (availableParallelism ${machine.availableParallelism}), ${machine.memoryGiB} GiB; ${machine.os}`,
    `- Node ${machine.node} (V8 ${machine.v8})${machine.tfjs ? `, tfjs-core ${machine.tfjs}` : ''}${machine.pytorch ? `; PyTorch ${machine.pytorch}; onnxruntime-web ${machine.onnxruntimeWeb}` : ''}${machine.onnxruntimeNode ? `; onnxruntime-node ${machine.onnxruntimeNode}; Node 22 ${machine.node22}` : ''}`,
    `- Load average (1/5/15 min) at start ${machine.loadAverageAtStart}, at end ${machine.loadAverageAtEnd}${machine.loadAverage1MinPerRound ? `; 1-min load at the start of each round ${machine.loadAverage1MinPerRound}` : ''}; bench took ${machine.benchSeconds} s`,
  ].join('\n');
  const markdown = `${body}\n\nMachine:\n${machineLines}\n`;
  ensureDir(OUT_DIR);
  writeFileSync(join(OUT_DIR, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(OUT_DIR, `${name}.md`), markdown);
  console.log(`\n${markdown}`);
  log(`Written: ${rel(join(OUT_DIR, `${name}.json`))}, ${rel(join(OUT_DIR, `${name}.md`))}`);
}

main().catch((err) => {
  console.error(err.stack ?? err);
  process.exit(1);
});
