// A/B: two lenet-mnist Node builds, interleaved in one run, through the public API
// (scripts/bench-lenet.mjs: `train` for fused training samples/s, `infer` for predictBatch of
// 1,000 real test digits and single-digit latency). Each measurement is a fresh process; the
// order of A and B alternates every round so drifts of the machine's load hit both alike.
//
//   node scripts/bench-ab.mjs --a DIR --b DIR [--rounds 5]
//   (DIR: a build's Node entry folder (dist/ now, dist/node before issue 9), e.g. of an older commit in a git worktree)
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, median, OUT_DIR, parseArgs, RESULT_PREFIX, ROOT } from './bench-lib.mjs';

const args = parseArgs(process.argv.slice(2));
if (!args.a || !args.b) {
  console.error('usage: node scripts/bench-ab.mjs --a DIST_DIR --b DIST_DIR [--rounds 5]');
  process.exit(2);
}
const rounds = Number(args.rounds ?? 5);
// Snapshots of both builds: a rebuild during the run cannot change the code under test.
const builds = { A: join(OUT_DIR, 'ab', 'a'), B: join(OUT_DIR, 'ab', 'b') };
ensureDir(join(OUT_DIR, 'ab'));
cpSync(args.a, builds.A, { recursive: true });
cpSync(args.b, builds.B, { recursive: true });

function measure(build, task, extra) {
  const out = spawnSync(process.execPath, [join(ROOT, 'scripts/bench-lenet.mjs'), task, ...extra], {
    env: { ...process.env, LENET_MNIST_DIST: builds[build] },
    encoding: 'utf8',
  });
  const line = out.stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (!line) throw new Error(`${build} ${task} failed:\n${out.stderr}`);
  return JSON.parse(line.slice(RESULT_PREFIX.length));
}

const results = { A: [], B: [] };
for (let r = 0; r < rounds; r++) {
  for (const build of r % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
    const t = measure(build, 'train', ['--batches', '150', '--windows', '3']);
    const i = measure(build, 'infer', ['--reps', '10', '--single', '2000']);
    const row = {
      train: t.samplesPerSecond,
      path: t.path,
      batch: i.input28.batchImagesPerSecond,
      single: i.input28.singleMs,
    };
    results[build].push(row);
    console.log(`round ${r + 1} ${build}: ${JSON.stringify(row)}`);
  }
}
const summary = (build) => ({
  train: median(results[build].map((x) => x.train)),
  batch: median(results[build].map((x) => x.batch)),
  single: median(results[build].map((x) => x.single)),
});
const a = summary('A');
const b = summary('B');
console.log(
  `\nmedians over ${rounds} rounds (B/A: above 1 means B is faster; latency: B/A below 1)`,
);
console.log(
  `training samples/s   A ${a.train.toFixed(0)}  B ${b.train.toFixed(0)}  B/A ${(b.train / a.train).toFixed(3)}`,
);
console.log(
  `predictBatch img/s   A ${a.batch.toFixed(0)}  B ${b.batch.toFixed(0)}  B/A ${(b.batch / a.batch).toFixed(3)}`,
);
console.log(
  `predict one, ms      A ${a.single.toFixed(4)}  B ${b.single.toFixed(4)}  B/A ${(b.single / a.single).toFixed(3)}`,
);
