// The predictor's batch paths: raw digits prepared inside the fused kernels' module (exactly the
// JavaScript/Pillow preprocessing), and classifyInto, the zero-allocation batch API.
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadMnist, type Mnist } from '../../src/data/mnist.js';
import {
  MNIST_MEAN,
  MNIST_STD,
  normalizationTable,
  normalizeInto,
  precomputeCoefficients,
  prepareImages,
} from '../../src/data/preprocess.js';
import { compileFusedModule } from '../../src/engine/fused/load.js';
import { engineModel } from '../../src/engine/model.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { markBlank, newScores, scoreLogits } from '../../src/engine/scores.js';
import type { Model } from '../../src/engine/types.js';
import { OptionError } from '../../src/errors.js';
import { InputError } from '../../src/predict/input.js';
import { createPredictor, type Predictor } from '../../src/predict/predictor.js';
import { tf } from '../../src/tfjs.js';

let mnist: Mnist;
let model: Model;
const N = 300;

/** A seeded generator of bytes (xorshift), for noise images that exercise every pixel value. */
function noise(count: number, seed = 7): Uint8Array {
  const out = new Uint8Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 255;
  }
  return out;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  mnist = await loadMnist();
  model = await loadPretrained();
});

describe('preprocessing inside the fused module', () => {
  /** Runs the module's preparePixels on raw digits and returns the floats it leaves as input. */
  async function prepareInModule(pixels: Uint8Array, side: number, n: number) {
    const { module } = await compileFusedModule();
    const k = new WebAssembly.Instance(module, {}).exports as unknown as {
      memory: WebAssembly.Memory;
      reserve(n: number): number;
      pixelsPtr(): number;
      inputPtr(): number;
      preprocessTablesPtr(): number;
      preparePixels(n: number, side: number): number;
    };
    expect(k.reserve(n)).toBeTruthy();
    const tables = k.preprocessTablesPtr();
    new Float32Array(k.memory.buffer, tables, 256).set(normalizationTable(MNIST_MEAN, MNIST_STD));
    if (side !== 32) {
      // The layout of asm/preprocess.ts: starts and 4-tap weights per direction, then taps.
      const { start, weights, taps } = precomputeCoefficients(side, 32);
      const ints = new Int32Array(k.memory.buffer, tables + 1024, 322);
      for (const base of [0, 160]) {
        ints.set(start, base);
        for (let o = 0; o < 32; o++) {
          for (let t = 0; t < taps; t++) ints[base + 32 + o * 4 + t] = weights[o * taps + t] ?? 0;
        }
      }
      ints[320] = taps;
      ints[321] = taps;
    }
    new Uint8Array(k.memory.buffer, k.pixelsPtr(), n * side * side).set(pixels);
    expect(k.preparePixels(n, side)).toBeTruthy();
    return new Float32Array(k.memory.buffer, k.inputPtr(), n * 1024).slice();
  }

  /** The JavaScript pipeline: Pillow-exact resize (prepareImages), then the table. */
  function prepareInJs(pixels: Uint8Array, side: number, n: number) {
    const set = { images: pixels, labels: new Uint8Array(n), count: n, height: side, width: side };
    const out = new Float32Array(n * 1024);
    normalizeInto(prepareImages(set).images, out, normalizationTable(MNIST_MEAN, MNIST_STD));
    return out;
  }

  test('28x28 digits, noise and flat images give bit for bit the floats of the JS pipeline', async () => {
    const n = 1000;
    const digits = mnist.train.images.subarray(0, n * 784);
    const wasm = await prepareInModule(digits, 28, n);
    expect(Buffer.from(wasm.buffer).equals(Buffer.from(prepareInJs(digits, 28, n).buffer))).toBe(
      true,
    );
    // Back to bytes through the (strictly increasing) table: the SHA-256 of Pillow 9.4's resize
    // of these digits (test/data/preprocess.test.ts).
    const table = normalizationTable(MNIST_MEAN, MNIST_STD);
    const bytes = Uint8Array.from(wasm, (v) => table.indexOf(v));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      'f8111f717e185145abad44990ee68db211f791bb3106945f11326197f0ba9046',
    );
    const flat = new Uint8Array(3 * 784);
    flat.fill(255, 784, 1568);
    flat.fill(128, 1568);
    for (const [pixels, count] of [
      [noise(200 * 784), 200],
      [flat, 3],
    ] as const) {
      const a = await prepareInModule(pixels, 28, count);
      expect(Buffer.from(a.buffer).equals(Buffer.from(prepareInJs(pixels, 28, count).buffer))).toBe(
        true,
      );
    }
  });

  test('32x32 digits are normalised as they are', async () => {
    const pixels = noise(50 * 1024, 3);
    const wasm = await prepareInModule(pixels, 32, 50);
    const js = new Float32Array(50 * 1024);
    normalizeInto(pixels, js, normalizationTable(MNIST_MEAN, MNIST_STD));
    expect(Buffer.from(wasm.buffer).equals(Buffer.from(js.buffer))).toBe(true);
  });

  test("the fused engine's classifyPixels scores forward's logits of JS-prepared input", async () => {
    const predictor = await createPredictor(model);
    expect(predictor.path).toBe('fused');
    const engine = await engineModel(model).engineFor();
    // MNIST digits, 20 blank ones (faint noise below half intensity) and noise.
    const digits = new Uint8Array(N * 784);
    digits.set(mnist.test.images.subarray(0, (N - 40) * 784));
    digits.set(
      noise(20 * 784).map((v) => v >> 1),
      (N - 40) * 784,
    );
    digits.set(noise(20 * 784, 5), (N - 20) * 784);
    const expectScores = async (pre: typeof model.preprocessing, floats: Float32Array) => {
      const out = newScores(N);
      await engine.classifyPixels(digits, 28, N, pre, out);
      const reference = newScores(N);
      markBlank(digits, 28, N, reference.blank);
      scoreLogits(await engine.forward(floats, N), N, reference);
      expect(out.labels).toEqual(reference.labels);
      expect(out.blank).toEqual(reference.blank);
      expect(Array.from(out.blank.subarray(N - 40, N - 20))).toEqual(new Array(20).fill(1));
      // The module's exp (AssemblyScript's) and V8's may differ in a double's last bit, which
      // rounding to f32 almost always hides: at most one f32 step apart.
      for (let i = 0; i < N * 10; i++) {
        const want = reference.probabilities[i] as number;
        expect(Math.abs((out.probabilities[i] as number) - want)).toBeLessThanOrEqual(
          want * 2 ** -23,
        );
      }
    };
    await expectScores(model.preprocessing, prepareInJs(digits, 28, N));
    // A resize the module does not do (zero padding) is done on the CPU, inside the engine too.
    const padded = { ...model.preprocessing, resize: 'pad' as const };
    const set = { images: digits, labels: new Uint8Array(N), count: N, height: 28, width: 28 };
    const floats = new Float32Array(N * 1024);
    const table = normalizationTable(MNIST_MEAN, MNIST_STD);
    normalizeInto(prepareImages(set, { resize: 'pad' }).images, floats, table);
    await expectScores(padded, floats);
    predictor.dispose();
  });
});

describe.each(['auto', 'off'] as const)('classifyInto (fastPath %s)', (fastPath) => {
  let predictor: Predictor;
  let digits: Uint8Array[];
  let raw: Uint8Array;

  beforeAll(async () => {
    predictor = await createPredictor(model, { fastPath, batchSize: 128 });
    raw = mnist.test.images.subarray(0, N * 784);
    digits = Array.from({ length: N }, (_, i) => raw.subarray(i * 784, (i + 1) * 784));
  });

  test('same labels as predict, same probabilities as predictBatch, for every input form', async () => {
    expect(predictor.path).toBe(fastPath === 'auto' ? 'fused' : 'tfjs');
    const batch = await predictor.predictBatch(digits);
    const single = await Promise.all(digits.slice(0, 40).map((d) => predictor.predict(d)));
    const clamped = await predictor.predict(new Uint8ClampedArray(digits[0] as Uint8Array));
    expect(Array.from(clamped.probabilities)).toEqual(Array.from(single[0]?.probabilities ?? []));
    const expected = Float32Array.from(batch.flatMap((p) => Array.from(p.probabilities)));
    const prepared = prepareImages({ ...mnist.test, count: N });
    for (const images of [
      raw,
      { ...mnist.test, count: N },
      prepared,
      digits,
      digits.map((d) => new Uint8ClampedArray(d)),
    ]) {
      const labels = new Int32Array(N);
      const probabilities = new Float32Array(N * 10);
      expect(await predictor.classifyInto(images, { labels, probabilities })).toBe(N);
      expect(Array.from(labels)).toEqual(batch.map((p) => p.label));
      expect(Array.from(labels.subarray(0, 40))).toEqual(single.map((p) => p.label));
      expect(Array.from(probabilities)).toEqual(Array.from(expected));
    }
    // The model is good: the labels are MNIST's for nearly all of them.
    const labels = new Uint8Array(N);
    await predictor.classifyInto(raw, { labels });
    const correct = labels.filter((l, i) => l === mnist.test.labels[i]).length;
    expect(correct / N).toBeGreaterThan(0.97);
  });

  test('with inversion on, a contiguous batch is converted per image like predictBatch', async () => {
    const inverting = await createPredictor(model, { fastPath, invert: true, batchSize: 64 });
    const inkOnPaper = raw.subarray(0, 100 * 784).map((v) => 255 - v);
    const expected = await inverting.predictBatch(
      Array.from({ length: 100 }, (_, i) => inkOnPaper.subarray(i * 784, (i + 1) * 784)),
    );
    const labels = new Uint8Array(100);
    const probabilities = new Float32Array(1000);
    expect(await inverting.classifyInto(inkOnPaper, { labels, probabilities })).toBe(100);
    expect(Array.from(labels)).toEqual(expected.map((p) => p.label));
    expect(Array.from(probabilities)).toEqual(expected.flatMap((p) => Array.from(p.probabilities)));
    // Inverted back, they are the plain predictor's labels of the original digits.
    const plain = new Uint8Array(100);
    await predictor.classifyInto(raw.subarray(0, 100 * 784), { labels: plain });
    expect(Array.from(labels)).toEqual(Array.from(plain));
    inverting.dispose();
  });

  test('writes in place, from index 0, and nothing past n', async () => {
    const labels = new Uint8Array(N + 5).fill(77);
    const probabilities = new Float32Array((N + 5) * 10).fill(-1);
    const out = { labels, probabilities };
    expect(await predictor.classifyInto(raw.subarray(0, 10 * 784), out)).toBe(10);
    expect(out.labels).toBe(labels);
    expect(labels.subarray(0, 10).every((l) => l < 10)).toBe(true);
    expect(labels.subarray(10).every((l) => l === 77)).toBe(true);
    expect(probabilities.subarray(0, 100).every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(probabilities.subarray(100).every((p) => p === -1)).toBe(true);
    expect(await predictor.classifyInto(new Uint8Array(0), out)).toBe(0);
  });

  test('bad arguments are refused before anything is written', async () => {
    const labels = new Uint8Array(N).fill(77);
    const probabilities = new Float32Array(N * 10).fill(-1);
    const untouched = () => {
      expect(labels.every((l) => l === 77)).toBe(true);
      expect(probabilities.every((p) => p === -1)).toBe(true);
    };
    const cases: [unknown, unknown, typeof InputError | typeof OptionError, RegExp][] = [
      [new Uint8Array(785), { labels }, InputError, /multiple of 784, found 785/],
      ['digits', { labels }, InputError, /must be a Uint8Array of 28x28 digits/],
      [{ images: raw, count: 2, height: 28, width: 32 }, { labels }, InputError, /28x32/],
      [{ images: raw, count: 1.5, height: 28, width: 28 }, { labels }, InputError, /count/],
      [{ images: raw, count: N + 1, height: 28, width: 28 }, { labels }, InputError, /pixels/],
      [[digits[0], new Uint8Array(3)], { labels }, InputError, /image 1/],
      [raw, null, OptionError, /out must be an object/],
      [raw, { labels: [0, 1] }, OptionError, /Uint8Array or Int32Array/],
      [raw, { labels: new Uint8Array(N - 1) }, OptionError, /299 labels, fewer than the 300/],
      [raw, { labels, probabilities: new Float64Array(N * 10) }, OptionError, /Float32Array/],
      [raw, { labels, probabilities: new Float32Array(N * 10 - 1) }, OptionError, /\(3000\)/],
    ];
    // After every check passes, a bad array image still fails before the first batch runs.
    cases.push([
      [...digits, new Float32Array(784).fill(2)],
      { labels: new Uint8Array(N + 1) },
      InputError,
      /image 300/,
    ]);
    for (const [images, out, type, message] of cases) {
      const call = predictor.classifyInto(images as Uint8Array, out as { labels: Uint8Array });
      await expect(call).rejects.toBeInstanceOf(type);
      await expect(predictor.classifyInto(images as never, out as never)).rejects.toThrow(message);
      untouched();
    }
    const err = await predictor
      .classifyInto(raw, { labels: new Uint8Array(1) })
      .catch((e: OptionError) => e);
    expect((err as OptionError).option).toBe('out.labels');
  });

  test('no tensors or memory kept across many calls', async () => {
    const labels = new Uint8Array(N);
    const probabilities = new Float32Array(N * 10);
    // Garbage is not a leak: collect it before each reading.
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    // ArrayBuffer backing stores are freed after the collection, on a later turn of the event
    // loop: collect and yield a few times before reading, or freed memory reads as kept.
    const gc = async () => {
      for (let i = 0; i < 3; i++) {
        collect();
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    };
    // Warm up first: tfjs-backend-wasm grows its heap to a high-water mark over the first calls.
    for (let i = 0; i < 10; i++) await predictor.classifyInto(raw, { labels, probabilities });
    const tensors = tf.memory().numTensors;
    await gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 30; i++) await predictor.classifyInto(raw, { labels, probabilities });
    expect(tf.memory().numTensors).toBe(tensors);
    await gc();
    // Flat from there: 30 calls of 300 images would hold megabytes if anything per call were kept.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });
});
