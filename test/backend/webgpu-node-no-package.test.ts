/**
 * Node without the optional peer dependency `webgpu`: there is then no navigator.gpu at all.
 * The package is installed here (it is a devDependency), so its absence is simulated by making
 * its import fail the way Node fails for a missing package.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test, vi } from 'vitest';
import { BackendError, initBackend } from '../../src/backend/select.js';
import { platform } from '../../src/platform/index.js';

vi.mock('webgpu', () => {
  const err = new Error(
    "Cannot find package 'webgpu' imported from /app/node_modules/lenet-mnist/dist/node/index.js",
  );
  (err as NodeJS.ErrnoException).code = 'ERR_MODULE_NOT_FOUND';
  throw err;
});

describe('WebGPU in Node without the webgpu package', () => {
  test('there is no navigator.gpu, and the platform says how to get one', async () => {
    const result = await platform.provideNavigatorGpu();
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(
      /^no navigator\.gpu: the optional package 'webgpu' \(Dawn for Node\) is not installed or did not load \(.*Cannot find package 'webgpu'.*\); `npm install webgpu` to enable WebGPU$/,
    );
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
  });

  test('auto falls back to WASM and reports the missing package', async () => {
    const info = await initBackend();
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toMatch(
      /^auto: WebGPU not used: no navigator\.gpu: the optional package 'webgpu'/,
    );
    expect(info.reason).toMatch(/`npm install webgpu` to enable WebGPU$/);
  });

  test('explicit webgpu throws a BackendError', async () => {
    await expect(initBackend({ backend: 'webgpu' })).rejects.toThrow(BackendError);
    await expect(initBackend({ backend: 'webgpu' })).rejects.toThrow(
      /WebGPU was requested but cannot be used: no navigator\.gpu: the optional package 'webgpu'/,
    );
  });
});
