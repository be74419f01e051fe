#!/usr/bin/env node
// A longer property-based (fast-check) campaign over the IDX parser, the weights decoder and
// predictor input: the same properties as test/properties/*.property.test.ts, with many more
// cases. Usage: node scripts/fuzz.mjs [--runs 10000] [--seed 42] [files...]
// Prints the cases run per property, the total and the wall time; exits non-zero on a failure
// (fast-check prints the counterexample and the seed to replay it with --seed).
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return value;
};
const runs = Number(option('--runs', '10000'));
const seed = option('--seed', undefined);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('--runs must be a positive integer');
  process.exit(2);
}
const files = args.length > 0 ? args : ['test/properties/'];

const env = { ...process.env, FUZZ_RUNS: String(runs), ...(seed ? { FUZZ_SEED: seed } : {}) };
const t0 = performance.now();
const child = spawn(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', ...files, '--testTimeout=3600000'],
  { env, stdio: ['ignore', 'pipe', 'inherit'] },
);
let out = '';
child.stdout.on('data', (chunk) => {
  out += chunk;
  process.stdout.write(chunk);
});
child.on('close', (code) => {
  const seconds = (performance.now() - t0) / 1000;
  const lines = out
    .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '')
    .split('\n')
    .filter((l) => l.startsWith('FUZZ '));
  const total = lines.reduce((sum, l) => sum + Number(/: (\d+) cases/.exec(l)?.[1] ?? 0), 0);
  console.log(`\nfuzz campaign: ${runs} runs per property${seed ? `, seed ${seed}` : ''}`);
  for (const l of lines) console.log(`  ${l.slice(5)}`);
  console.log(`  total ${total} cases in ${seconds.toFixed(1)} s wall (exit ${code})`);
  process.exit(code ?? 1);
});
