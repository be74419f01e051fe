// A long check, not a test: fresh processes whose first call is a split `predictBatch`
// (threads 2, 1,000 MNIST test digits, then 4 more calls), each with a deadline; reports how
// many did not finish. Node 20 deadlocked in about 3% of such processes under CPU contention
// when the calling thread computed while the pool's worker started (nodejs/node#54918); the
// first large call now waits for the pool. Needs `npm run build`.
//
//   node scripts/first-split-check.mjs [--runs 150] [--busy 2] [--node PATH]
import { spawn } from 'node:child_process';
import { parseArgs } from './bench-lib.mjs';

const args = parseArgs(process.argv.slice(2));
const runs = Number(args.runs ?? 150);
const busy = Number(args.busy ?? 2);
const node = String(args.node ?? process.execPath);
const DEADLINE_MS = 20_000;

const CHILD = `
const { createPredictor, loadPretrained, loadMnist } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
const { test } = await loadMnist();
const digits = Array.from({ length: 1000 }, (_, k) => test.images.subarray(k * 784, (k + 1) * 784));
const predictor = await createPredictor(await loadPretrained(), { threads: 2 });
for (let call = 0; call < 5; call++) await predictor.predictBatch(digits);
console.log('done');
`;

// Busy loops beside the runs: the contention under which the deadlock showed.
const loops = Array.from({ length: busy }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
let hung = 0;
let failed = 0;
try {
  for (let i = 1; i <= runs; i++) {
    const child = spawn(node, ['--input-type=module', '-e', CHILD], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
    const code = await new Promise((resolve) =>
      child.on('close', (c, signal) => resolve(signal ?? c)),
    );
    clearTimeout(timer);
    if (code === 'SIGKILL') {
      hung++;
      console.log(`run ${i}: no answer in ${DEADLINE_MS / 1000} s`);
    } else if (code !== 0 || !out.includes('done')) {
      failed++;
      console.log(`run ${i}: exit ${code}: ${out.trim().split('\n').at(-1)}`);
    }
  }
} finally {
  for (const loop of loops) loop.kill('SIGKILL');
}
console.log(`${node} (${runs} runs, ${busy} busy loops): ${hung} hung, ${failed} failed`);
process.exitCode = hung + failed > 0 ? 1 : 0;
