// The edge example, as `npm run workerd -- PORT` serves it: examples/workerd/ bundled with esbuild
// (the package's browser build) and run by the real workerd binary (npm `workerd`), which gives
// modules no import.meta.url or file system and forbids compiling WebAssembly at run time. The
// package's .wasm files arrive as precompiled wasm modules and the weights as a data module,
// through setAssets. Real MNIST test digits are posted to POST /predict.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { buildWorker, startWorkerd } from '../../examples/workerd/serve.mjs';
import * as harness from '../consumers/harness.mjs';

/** A port nobody listens on now (other servers on this machine pick theirs the same way). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

let child: ChildProcess | undefined;
let origin = '';
let log = '';

beforeAll(async () => {
  expect(existsSync('dist/browser.js'), 'run `npm run build` first').toBe(true);
  await buildWorker();
  const port = await freePort();
  child = (await startWorkerd(port, 'pipe')) as ChildProcess;
  child.stdout?.on('data', (d) => {
    log += d;
  });
  child.stderr?.on('data', (d) => {
    log += d;
  });
  origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}): ${log}`);
    try {
      await fetch(`${origin}/`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`workerd did not listen in 30 s: ${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}, 60_000);

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

describe('the workerd example (Cloudflare Workers runtime)', () => {
  test('POST /predict classifies real MNIST test digits on the fused WASM kernels', async () => {
    const digits = harness.testDigits(20, 100) as { images: number[][]; labels: number[] };
    const answers: {
      label: number;
      probabilities: number[];
      path: string;
      kernels: string;
      backend: string;
    }[] = [];
    for (const image of digits.images) {
      const response = await fetch(`${origin}/predict`, {
        method: 'POST',
        body: Uint8Array.from(image),
      });
      const body = await response.json();
      expect(response.status, `${JSON.stringify(body)} ${log}`).toBe(200);
      answers.push(body);
    }
    const right = answers.filter((a, i) => a.label === digits.labels[i]).length;
    console.log(
      `workerd: ${right}/20 test digits right (${answers[0]?.path}, ${answers[0]?.kernels})`,
    );
    expect(right).toBeGreaterThanOrEqual(19);
    for (const a of answers) {
      expect(a.path).toBe('fused');
      expect(a.kernels).toBe('lenet');
      expect(a.backend).toBe('wasm');
      expect(a.probabilities).toHaveLength(10);
      expect(a.probabilities.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 4);
      expect(a.label).toBe(a.probabilities.indexOf(Math.max(...a.probabilities)));
    }
    // workerd really forbids what the package no longer needs there.
    expect(log).not.toMatch(/Wasm code generation disallowed|import\.meta/);
  });

  test('a body that is not one 28x28 digit is a 400 naming the size', async () => {
    const response = await fetch(`${origin}/predict`, { method: 'POST', body: new Uint8Array(10) });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'expected 784 bytes (28x28), got 10' });
  });
});
