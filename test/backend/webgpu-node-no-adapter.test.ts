/**
 * Real Dawn that finds no adapter: the Vulkan loader is pointed at a driver manifest that does not
 * exist, as on a machine without a GPU or Vulkan driver. `requestAdapter()` really returns null.
 */
import { SKIP_WEBGPU } from '../helpers/webgpu-env.js';

// Before Dawn loads: the Vulkan loader reads VK_ICD_FILENAMES once per process.
process.env.VK_ICD_FILENAMES = '/nonexistent/lenet-mnist-no-such-driver.json';

import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { BackendError, formatBackendInfo, initBackend } from '../../src/backend/select.js';

describe.skipIf(SKIP_WEBGPU)('WebGPU in Node with no adapter (real Dawn, no Vulkan driver)', () => {
  test('auto falls back to WASM and says requestAdapter() returned null', async () => {
    const info = await initBackend();
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.adapter).toBeUndefined();
    expect(info.reason).toBe(
      'auto: WebGPU not used: navigator.gpu.requestAdapter() returned null: no usable GPU adapter (no GPU or driver, a blocklisted driver, or WebGPU disabled)',
    );
    expect(formatBackendInfo(info)).toBe(`WASM SIMD, 1 thread - ${info.reason}`);
  });

  test('explicit webgpu throws a BackendError naming the step, and WASM stays active', async () => {
    const attempt = initBackend({ backend: 'webgpu' });
    await expect(attempt).rejects.toThrow(BackendError);
    await expect(attempt).rejects.toThrow(
      'WebGPU was requested but cannot be used: navigator.gpu.requestAdapter() returned null',
    );
    expect(tf.getBackend()).toBe('wasm');
    // The failed request does not stick: the next call works.
    expect((await initBackend({ backend: 'wasm' })).reason).toBe('WASM requested');
  });
});
