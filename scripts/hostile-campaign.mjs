#!/usr/bin/env node
// The long hostile campaign of issue 24 (not in the default test run). Three parts:
//   1. every case of scripts/hostile-run.mjs (hostile images, PyTorch files, safetensors,
//      weights and checkpoint files, IDX), each in a fresh process, `--repeat` times: each must
//      end in a typed LenetMnistError in under 2 s and under 150 MB over the process baseline;
//   2. dispose() during training at random moments (20-220 ms in), on fused 1 and 2 threads and
//      tfjs: train() must reject with ModelDisposedError (or resolve, when the run ended first),
//      never hang, and leave no worker;
//   3. the property files (decoders' limits, ownership, and the existing decoder properties)
//      with `--runs` cases per property (scripts/fuzz.mjs).
// Needs `npm run build`. Usage:
//   node scripts/hostile-campaign.mjs [--repeat 3] [--trials 40] [--runs 2000] [--skip-fuzz]
// Prints the case counts per part and in all; exits non-zero on any failure.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args[i + 1]);
};
const repeat = option('--repeat', 3);
const trials = option('--trials', 40);
const runs = option('--runs', 2000);
const skipFuzz = args.includes('--skip-fuzz');
const LIMIT_MS = 2000;
const LIMIT_MB = 150;
const failures = [];
const counts = {};
const t0 = performance.now();

// Part 1: hostile files.
const { CASE_NAMES } = await import('./hostile-run.mjs');
const tmp = await mkdtemp(join(tmpdir(), 'lenet-campaign-'));
let hostileCases = 0;
const worst = new Map();
for (const name of CASE_NAMES) {
  for (let r = 0; r < repeat; r++) {
    const { stdout } = await run(
      process.execPath,
      ['--expose-gc', join(root, 'scripts/hostile-run.mjs'), name, tmp],
      { timeout: 120_000, maxBuffer: 1 << 22 },
    ).catch((err) => ({
      stdout: JSON.stringify({ case: name, outcome: 'crash', message: String(err) }),
    }));
    const result = JSON.parse(stdout.trim().split('\n').at(-1));
    hostileCases++;
    const benign = name.startsWith('baseline');
    const ok =
      (benign ? result.outcome === 'ok' : result.outcome === 'error' && result.typed) &&
      result.ms < LIMIT_MS &&
      result.growthMB < LIMIT_MB;
    if (!ok) failures.push(`${name}: ${JSON.stringify(result)}`);
    const w = worst.get(name) ?? { ms: 0, mb: 0, error: result.name };
    worst.set(name, {
      ms: Math.max(w.ms, result.ms),
      mb: Math.max(w.mb, result.growthMB),
      error: result.name,
    });
  }
}
await rm(tmp, { recursive: true, force: true });
counts['hostile files'] = hostileCases;
console.log(`hostile files: ${hostileCases} cases (${CASE_NAMES.length} kinds x ${repeat})`);
for (const [name, w] of worst)
  console.log(
    `  ${name.padEnd(30)} ${String(w.error ?? 'ok').padEnd(22)} worst ${w.ms.toFixed(0).padStart(5)} ms  +${w.mb.toFixed(1)} MB`,
  );

// Part 2: dispose during training, in one child process on the built library.
const disposeScript = `
import * as lib from ${JSON.stringify(join(root, 'dist/index.js'))};
await lib.initBackend({ backend: 'wasm' });
const mnist = await lib.loadMnist();
const count = 64 * 40;
const data = lib.prepareImages({ ...mnist.train, count,
  images: mnist.train.images.subarray(0, count * 784), labels: mnist.train.labels.subarray(0, count) });
const paths = { 'fused-1': { threads: 1 }, 'fused-2': { threads: 2 }, tfjs: { fastPath: 'off' } };
const out = {};
for (const [path, opts] of Object.entries(paths)) {
  const tally = { disposed: 0, finished: 0, wrong: [] };
  for (let t = 0; t < ${trials}; t++) {
    const model = await lib.createLeNet({ seed: t });
    const delay = 20 + Math.random() * 200;
    setTimeout(() => model.dispose(), delay);
    let timer;
    const outcome = await Promise.race([
      lib.train(model, data, { ...opts, epochs: 2, seed: t }).then(() => 'finished', (e) => e),
      new Promise((r) => { timer = setTimeout(() => r('hang'), 60000); }),
    ]);
    clearTimeout(timer);
    if (outcome === 'finished') tally.finished++;
    else if (outcome instanceof lib.ModelDisposedError) tally.disposed++;
    else tally.wrong.push(String(outcome?.stack ?? outcome));
  }
  out[path] = tally;
}
console.log(JSON.stringify(out));
`;
// A file, not \`node --input-type=module -e\`: workers inherit that flag, and the fused engine's
// worker source is not an ES module.
const disposeFile = join(root, 'node_modules/.cache/lenet-hostile', `dispose-${process.pid}.mjs`);
await mkdir(dirname(disposeFile), { recursive: true });
await writeFile(disposeFile, disposeScript);
const dispose = await new Promise((resolve) => {
  const child = spawn(process.execPath, [disposeFile], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let text = '';
  child.stdout.on('data', (c) => {
    text += c;
  });
  child.on('close', (code) => resolve({ code, text }));
});
await rm(disposeFile, { force: true });
let disposeCases = 0;
try {
  const tallies = JSON.parse(dispose.text.trim().split('\n').at(-1));
  for (const [path, t] of Object.entries(tallies)) {
    disposeCases += t.disposed + t.finished + t.wrong.length;
    console.log(
      `dispose during training (${path}): ${t.disposed} ModelDisposedError, ${t.finished} finished first, ${t.wrong.length} wrong`,
    );
    for (const w of t.wrong) failures.push(`dispose ${path}: ${w}`);
  }
} catch {
  failures.push(
    `dispose trials: the child exited ${dispose.code} without a report (a hang or a crash)`,
  );
}
counts['dispose during training'] = disposeCases;

// Part 3: properties.
if (!skipFuzz) {
  const fuzz = await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(root, 'scripts/fuzz.mjs'),
        '--runs',
        String(runs),
        'test/properties/decoders-limits.property.test.ts',
        'test/properties/ownership.property.test.ts',
        'test/properties/checkpoint.property.test.ts',
        'test/properties/weights.property.test.ts',
        'test/properties/idx.property.test.ts',
        'test/interop-properties.test.ts',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let text = '';
    child.stdout.on('data', (c) => {
      text += c;
    });
    child.on('close', (code) => resolve({ code, text }));
  });
  const total = Number(/total (\d+) cases/.exec(fuzz.text)?.[1] ?? 0);
  counts.properties = total;
  console.log(fuzz.text.slice(fuzz.text.indexOf('fuzz campaign:')));
  if (fuzz.code !== 0) failures.push(`property campaign exited ${fuzz.code}`);
}

const all = Object.values(counts).reduce((a, b) => a + b, 0);
console.log(
  `\nhostile campaign: ${all} cases (${Object.entries(counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(
      ', ',
    )}) in ${((performance.now() - t0) / 1000).toFixed(0)} s; ${failures.length} failure(s)`,
);
for (const f of failures) console.log(`  FAIL ${f}`);
process.exit(failures.length === 0 ? 0 : 1);
