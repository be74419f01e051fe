/**
 * setAssets: the run-time files given as content (compiled WebAssembly.Modules or bytes) instead
 * of locations, for runtimes without import.meta.url, a file system or run-time compilation
 * (test/workerd.test.ts runs the real one). Here: what it accepts, that provided files are used
 * while every location points nowhere, and, through the built package in a child process, that
 * tfjs' own binary is taken precompiled too.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import {
  createPredictor,
  initBackend,
  loadPretrained,
  OptionError,
  setAssetBase,
  setAssets,
} from '../../src/index.js';
import * as harness from '../consumers/harness.mjs';

const run = promisify(execFile);
const empty = mkdtempSync(join(tmpdir(), 'lenet-set-assets-'));
const file = (path: string) => readFileSync(fileURLToPath(new URL(path, import.meta.url)));

afterAll(() => {
  setAssets(undefined);
  setAssetBase(undefined);
  rmSync(empty, { recursive: true, force: true });
});

describe('setAssets', () => {
  test('rejects unknown names, non-module non-bytes values and a module for the weights', () => {
    expect(() => setAssets({ 'lenet.wasm': new Uint8Array(1) } as never)).toThrow(OptionError);
    expect(() => setAssets({ 'lenet.wasm': new Uint8Array(1) } as never)).toThrow(
      /setAssets: unknown file 'lenet\.wasm'; files that can be provided: tfjs-backend-wasm\.wasm, /,
    );
    expect(() =>
      setAssets({ 'tfjs-backend-wasm-threaded-simd.worker.js': new Uint8Array(1) } as never),
    ).toThrow(/unknown file 'tfjs-backend-wasm-threaded-simd\.worker\.js'/);
    expect(() => setAssets({ 'lenet-simd.wasm': 'lenet-simd.wasm' } as never)).toThrow(
      /'lenet-simd\.wasm' must be a WebAssembly\.Module or bytes \(ArrayBuffer or a typed array\), got string/,
    );
    const module = new WebAssembly.Module(file('../../src/engine/fused/lenet-simd.wasm'));
    expect(() => setAssets({ 'lenet-mnist.weights': module as never })).toThrow(
      /'lenet-mnist\.weights' must be bytes \(ArrayBuffer or a typed array\), got a WebAssembly\.Module/,
    );
    expect(() => setAssets([] as never)).toThrow(/assets must be an object of files by name/);
  });

  test('provided weights and a precompiled kernel module are used while every location points nowhere', async () => {
    await initBackend({ backend: 'wasm' }); // tfjs unbundled reads its binaries from files
    setAssetBase(empty);
    setAssets({
      'lenet-mnist.weights': file('../../src/engine/lenet-mnist.weights'),
      // Only plain SIMD is given: it is the one used, although this Node has relaxed SIMD.
      'lenet-simd.wasm': new WebAssembly.Module(file('../../src/engine/fused/lenet-simd.wasm')),
    });
    const model = await loadPretrained();
    const predictor = await createPredictor(model);
    expect(predictor.path).toBe('fused');
    expect(model.engine).toMatchObject({ kind: 'fused', variant: 'simd', kernels: 'lenet' });
    const digits = harness.testDigits(20) as { images: number[][]; labels: number[] };
    const labels = (await predictor.predictBatch(digits.images.map((d) => Uint8Array.from(d)))).map(
      (p) => p.label,
    );
    expect(labels.filter((l, i) => l === digits.labels[i]).length).toBeGreaterThanOrEqual(19);
    model.dispose();
    // Forgotten: the weights are looked for in the empty folder again.
    setAssets(undefined);
    await expect(loadPretrained()).rejects.toThrow(/lenet-mnist\.weights from .*lenet-set-assets-/);
    setAssetBase(undefined);
  });
});

describe('setAssets with the built package (Node, in a child process)', () => {
  const script = (given: string) => `
    import { readFileSync } from 'node:fs';
    import * as lib from './dist/index.js';
    const compiled = (name) => new WebAssembly.Module(readFileSync('dist/' + name));
    lib.setAssetBase(${JSON.stringify(empty)}); // nothing is there
    const all = {
      'tfjs-backend-wasm.wasm': compiled('tfjs-backend-wasm.wasm'),
      'tfjs-backend-wasm-simd.wasm': compiled('tfjs-backend-wasm-simd.wasm'),
      'lenet-simd.wasm': compiled('lenet-simd.wasm'),
      'lenet-mnist.weights': readFileSync('dist/lenet-mnist.weights'),
    };
    lib.setAssets(${given});
    try {
      const info = await lib.initBackend({ backend: 'wasm', threads: 1 });
      const model = await lib.loadPretrained();
      const predictor = await lib.createPredictor(model);
      const digit = new Uint8Array(784);
      const { probabilities } = await predictor.predict(digit);
      console.log(JSON.stringify({ backend: info.backend, path: predictor.path, sum: probabilities.reduce((a, b) => a + b, 0) }));
    } catch (err) {
      console.log(JSON.stringify({ error: err.name + ': ' + err.message }));
    }
  `;
  const runScript = async (given: string) => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script(given)], {
      timeout: 60_000,
    });
    return JSON.parse(stdout.trim().split('\n').at(-1) as string);
  };

  test("tfjs' binary, the kernels and the weights, all precompiled or bytes: no file is read", async () => {
    expect(existsSync('dist/index.js'), 'run `npm run build` first').toBe(true);
    const result = await runScript('all');
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ backend: 'wasm', path: 'fused' });
    expect(result.sum).toBeCloseTo(1, 5);
  });

  test('a tfjs binary this runtime needs but was not provided is a BackendError naming it', async () => {
    const result = await runScript("{ ...all, 'tfjs-backend-wasm-simd.wasm': undefined }");
    expect(result.error).toMatch(
      /^BackendError: .*this runtime needs tfjs-backend-wasm-simd\.wasm \(SIMD: true, threads: false\), but setAssets provided only tfjs-backend-wasm\.wasm/,
    );
  });
});
