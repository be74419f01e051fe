import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

const run = promisify(execFile);
const script = 'examples/runtime-smoke.mjs';

// The Node build must work unchanged in Node, Deno and Bun (package.json maps all three to it),
// its subpath entries (`lenet-mnist/data`, `lenet-mnist/interop`) too.
const runtimes: [string, string, string[]][] = [
  ['node', process.execPath, [script]],
  ['deno', 'node_modules/.bin/deno', ['run', '-A', script]],
  ['bun', 'node_modules/.bin/bun', [script]],
];

describe('the Node build in every server runtime', () => {
  test.each(runtimes)('%s', async (name, command, args) => {
    expect(existsSync('dist/index.js'), 'run `npm run build` first').toBe(true);
    const { stdout } = await run(command, args, { timeout: 120_000, maxBuffer: 1 << 24 });
    const line = stdout.trim().split('\n').at(-1) as string;
    const result = JSON.parse(line);
    expect(result.runtime).toBe(name);
    expect(result.backend).toBe('wasm');
    expect(result.simd).toBe(true);
    expect(result.pretrainedCorrect).toBeGreaterThanOrEqual(195);
    expect(Number.isFinite(result.trainLoss)).toBe(true);
    expect(result.reloadedParams).toBe(61706);
    // The subpath entries load and work there too.
    expect(result.idxShape).toEqual([3, 28, 28]);
    expect(result.safetensorsTensors).toBe(10);
    // The built package must carry its fused kernels: a missing .wasm silently means 10x slower.
    expect(result.trainPath).toBe('fused');
  });
});
