/**
 * Run-time files: one override covers all of them, a missing one is an error naming the file and
 * where it was looked for (never a silent slow path), and the download cache follows XDG.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import {
  AssetError,
  createMlp,
  createPredictor,
  getBackendInfo,
  initBackend,
  LenetMnistError,
  loadPretrained,
  setAssetBase,
} from '../../src/index.js';
import { ASSET_NAMES } from '../../src/interop/index.js';
import { platform } from '../../src/platform/index.js';

const empty = mkdtempSync(join(tmpdir(), 'lenet-assets-'));
const weights = fileURLToPath(new URL('../../src/engine/lenet-mnist.weights', import.meta.url));

afterAll(() => {
  setAssetBase(undefined);
  rmSync(empty, { recursive: true, force: true });
});

describe('assets', () => {
  test('every asset the package ships is named once', () => {
    expect(new Set(ASSET_NAMES).size).toBe(9);
    expect(ASSET_NAMES).toContain('tfjs-backend-wasm-threaded-simd.worker.js');
  });

  test('a missing pretrained weights file is an AssetError naming the path tried', async () => {
    setAssetBase(empty);
    const err = await loadPretrained().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetError);
    expect(err).toBeInstanceOf(LenetMnistError);
    const e = err as AssetError;
    expect(e.name).toBe('AssetError');
    expect(e.asset).toBe('lenet-mnist.weights');
    expect(e.location).toBe(join(empty, 'lenet-mnist.weights'));
    expect(e.message).toContain(`lenet-mnist.weights from ${join(empty, 'lenet-mnist.weights')}`);
    expect(e.message).toMatch(/ENOENT/);
    expect(e.message).toMatch(/setAssetBase/);
  });

  test('a per-file location wins; other files keep their default place', async () => {
    setAssetBase({ 'lenet-mnist.weights': weights });
    const model = await loadPretrained();
    expect(model.parameterCount).toBe(61706);
    model.dispose();
  });

  test('a missing fused kernel is an error, not a silent fall back to the tfjs path', async () => {
    setAssetBase({ 'lenet-mnist.weights': weights });
    const model = await loadPretrained();
    // The backend starts from its files; then the fused kernels' files go missing. (Making a
    // model starts no backend: the predictor would otherwise fail at tfjs' own files first.)
    await initBackend({ backend: 'wasm' });
    setAssetBase(empty);
    const err = await createPredictor(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetError);
    expect((err as AssetError).asset).toMatch(/^lenet-(relaxed-)?simd\.wasm$/);
    expect((err as AssetError).location).toMatch(new RegExp(`^${empty}/lenet-`));
    // With the file where the override points, the fused path runs.
    for (const file of ['lenet-simd.wasm', 'lenet-relaxed-simd.wasm']) {
      copyFileSync(join('src/engine/fused', file), join(empty, file));
    }
    const predictor = await createPredictor(model);
    expect(predictor.path).toBe('fused');
    model.dispose();
  });

  test('so is a missing generic fused kernel (every model but the default LeNet)', async () => {
    await initBackend({ backend: 'wasm' });
    const model = await createMlp({ seed: 1 });
    setAssetBase(empty);
    const err = await createPredictor(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetError);
    expect((err as AssetError).asset).toMatch(/^net-(relaxed-)?simd\.wasm$/);
    expect((err as AssetError).location).toMatch(new RegExp(`^${empty}/net-`));
    for (const file of ['net-simd.wasm', 'net-relaxed-simd.wasm']) {
      copyFileSync(join('src/engine/fused', file), join(empty, file));
    }
    const predictor = await createPredictor(model);
    expect(predictor.path).toBe('fused');
    expect(model.engine?.kernels).toBe('generic');
    model.dispose();
  });

  test('setAssetBase rejects what is not a location', () => {
    expect(() => setAssetBase(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('backend info', () => {
  test('getBackendInfo says so when tfjs was switched behind initBackend', async () => {
    setAssetBase(undefined);
    const info = await initBackend({ backend: 'wasm', threads: 1 });
    expect(getBackendInfo()).toBe(info);
    await tf.setBackend('cpu');
    expect(getBackendInfo()).toMatchObject({
      backend: 'wasm',
      current: false,
      reason: expect.stringMatching(
        /^tfjs was switched to 'cpu' outside initBackend; last chosen: /,
      ),
    });
    await initBackend({ backend: 'wasm' });
    expect(getBackendInfo()?.current).toBeUndefined();
  });

  test('threads: options are validated up front, and Node runs one thread', async () => {
    await expect(initBackend({ threads: 0 })).rejects.toThrow(RangeError);
    await expect(initBackend({ threads: 'many' as unknown as number })).rejects.toThrow(RangeError);
    await expect(initBackend({ initTimeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(initBackend({ backend: 'wasm', threads: 2 })).rejects.toThrow(
      'WASM backend failed to start: 2 threads were asked for, but tfjs-backend-wasm runs single-threaded in node',
    );
    expect((await initBackend({ backend: 'wasm', threads: 1 })).threads).toBe(1);
  });
});

describe('download cache', () => {
  test('follows XDG_CACHE_HOME', async () => {
    const saved = process.env.XDG_CACHE_HOME;
    try {
      process.env.XDG_CACHE_HOME = empty;
      expect((await platform.openCache()).location).toBe(join(empty, 'lenet-mnist'));
      process.env.XDG_CACHE_HOME = 'relative/ignored';
      expect((await platform.openCache()).location).not.toContain('relative/ignored');
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });
});
