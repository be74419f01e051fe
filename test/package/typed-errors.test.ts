import { describe, expect, it } from 'vitest';
import {
  batchCount,
  batches,
  DatasetError,
  decodeIdx,
  encodeIdx,
  IdxFormatError,
  isGzip,
  loadImageSet,
  loadMnist,
  MAX_BATCH_SIZE,
  mulberry32,
  normalizeInto,
  type PreparedSet,
  parseIdx,
  prepareImages,
  preprocessImage,
  resizeBilinearU8,
  shuffledIndices,
  splitValidation,
  toImageSet,
} from '../../src/data/index.js';
import { LenetMnistError, OptionError } from '../../src/errors.js';
import {
  decodeWeights,
  encodeWeights,
  WeightsFormatError,
  type WeightsHeader,
} from '../../src/model/weights.js';
import { frameLikeMnist, InputError, toGrayDigit, toGrayDigits } from '../../src/predict/input.js';

const set = (count: number): PreparedSet => ({
  images: new Uint8Array(Number.isInteger(count) && count > 0 ? count * 4 : 0),
  labels: new Uint8Array(Number.isInteger(count) && count > 0 ? count : 0),
  count,
  height: 2,
  width: 2,
  mean: 0.1,
  std: 0.3,
});

describe('OptionError', () => {
  it('is a RangeError and a LenetMnistError', () => {
    const err = new OptionError('batchSize', 'bad');
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toBeInstanceOf(LenetMnistError);
    expect(err).not.toBeInstanceOf(IdxFormatError);
    expect(err.name).toBe('OptionError');
    expect(err.option).toBe('batchSize');
    expect(new RangeError('x')).not.toBeInstanceOf(LenetMnistError);
    expect(new IdxFormatError('x')).toBeInstanceOf(LenetMnistError);
  });
});

describe('data layer: typed errors before any allocation', () => {
  it('batches and batchCount refuse a huge batchSize at the call', () => {
    const s = set(10);
    for (const batchSize of [1e9, MAX_BATCH_SIZE + 1, 0, 1.5, Number.NaN, '8']) {
      expect(() => batches(s, { batchSize: batchSize as number })).toThrow(OptionError);
      expect(() => batchCount(s, batchSize as number)).toThrow(OptionError);
    }
    expect(() => batches(s, { batchSize: 1e9, reuseBuffers: true })).toThrow(
      /batches: batchSize must be an integer from 1 to 16777216, got 1000000000/,
    );
    // A batch larger than the set is the whole set, and allocates no more than the set.
    const [only] = [...batches(s, { batchSize: MAX_BATCH_SIZE, reuseBuffers: true })];
    expect(only?.size).toBe(10);
    expect(only?.images.buffer.byteLength).toBe(10 * 4 * 4);
    expect(() => batches(s, { batchSize: 2, shuffle: 'yes' as unknown as boolean })).toThrow(
      OptionError,
    );
    expect(() => batches(s, { batchSize: 2, seed: Number.NaN })).toThrow(OptionError);
    expect(() => batches(s, null as unknown as { batchSize: number })).toThrow(OptionError);
    expect(() => batches({ ...s, std: 0 }, { batchSize: 2 })).toThrow(DatasetError);
  });

  it('prepareImages refuses counts of -5 and NaN and inconsistent sets', () => {
    for (const count of [-5, Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
      expect(() => prepareImages(set(count))).toThrow(DatasetError);
    }
    expect(() => prepareImages(set(-5))).toThrow(
      /prepareImages: the set is unusable: count must be a non-negative integer, got -5/,
    );
    expect(() => prepareImages({ ...set(3), images: new Uint8Array(11) })).toThrow(DatasetError);
    expect(() => prepareImages({ ...set(3), labels: [0, 1, 2] as unknown as Uint8Array })).toThrow(
      DatasetError,
    );
    expect(() => prepareImages(null as unknown as PreparedSet)).toThrow(DatasetError);
    expect(() => prepareImages(set(3), { size: 1e9 })).toThrow(OptionError);
    expect(() => prepareImages(set(3), { mean: Number.NaN })).toThrow(OptionError);
    expect(() => prepareImages(set(3), 'x' as never)).toThrow(OptionError);
    expect(prepareImages(set(0)).count).toBe(0);
  });

  it('other data functions check their arguments', () => {
    expect(() => shuffledIndices(-1, 1)).toThrow(OptionError);
    expect(() => shuffledIndices(2 ** 32, 1)).toThrow(OptionError);
    expect(() => shuffledIndices(3, Number.NaN)).toThrow(OptionError);
    expect(() => mulberry32('1' as unknown as number)).toThrow(OptionError);
    expect(() => splitValidation(set(10), { size: 3, shuffle: 1 as unknown as boolean })).toThrow(
      OptionError,
    );
    expect(() => splitValidation(set(-1), { size: 3 })).toThrow(DatasetError);
    expect(() => resizeBilinearU8([1, 2, 3, 4] as unknown as Uint8Array, 2, 2, 4, 4)).toThrow(
      OptionError,
    );
    expect(() => resizeBilinearU8(new Uint8Array(4), 2, 2, 1e6, 1e6)).toThrow(OptionError);
    expect(() => preprocessImage(new Float32Array(4) as unknown as Uint8Array, 2, 2)).toThrow(
      OptionError,
    );
    expect(() =>
      normalizeInto(new Uint8Array(2), [0, 0] as unknown as Float32Array, new Float32Array(256)),
    ).toThrow(OptionError);
    expect(() => parseIdx(5 as unknown as Uint8Array)).toThrow(OptionError);
    expect(() => parseIdx(new Uint8Array(4), { source: 7 as unknown as string })).toThrow(
      OptionError,
    );
    expect(() => isGzip(null as unknown as Uint8Array)).toThrow(OptionError);
    expect(() => encodeIdx(null as never)).toThrow(IdxFormatError);
    expect(() => toImageSet(null as never, null as never)).toThrow(DatasetError);
    expect(() =>
      toImageSet(
        parseIdx(encodeIdx({ dtype: 'uint8', shape: [1, 1, 1], data: new Uint8Array(1) })),
        parseIdx(encodeIdx({ dtype: 'uint8', shape: [1], data: new Uint8Array(1) })),
        { numClasses: 1.5 },
      ),
    ).toThrow(OptionError);
  });

  it('async loaders reject with OptionError before any work', async () => {
    await expect(decodeIdx('abc' as unknown as Uint8Array)).rejects.toThrow(OptionError);
    await expect(decodeIdx(new Uint8Array(4), { signal: {} as AbortSignal })).rejects.toThrow(
      OptionError,
    );
    await expect(
      loadImageSet(new Uint8Array(0), new Uint8Array(0), { numClasses: 0 }),
    ).rejects.toThrow(OptionError);
    const bad: Record<string, unknown>[] = [
      { dir: 5 },
      { download: 'yes' },
      { cache: 1 },
      { mirrors: 'http://x/' },
      { mirrors: [''] },
      { sha256: { trainImages: 'abc' } },
      { timeoutMs: -1 },
      { onProgress: 'log' },
      { signal: 'stop' },
      { numClasses: 257 },
      { files: 'x' },
      { files: { trainImages: 5 } },
    ];
    for (const options of bad) {
      const err = await loadMnist(options as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(options)).toBeInstanceOf(OptionError);
    }
  });
});

describe('weights: typed errors', () => {
  const header = (): WeightsHeader => ({
    spec: { kind: 'mlp', inputSize: 2, hidden: [], activation: 'relu' },
    preprocessing: { size: 2, resize: 'none', mean: 0, std: 1 },
    tensors: [
      { name: 'fc1.weight', shape: [4, 10], dtype: 'float32' },
      { name: 'fc1.bias', shape: [10], dtype: 'float32' },
    ],
  });
  const tensors = () => [new Float32Array(40).fill(0.5), new Float32Array(10)];
  const raw = (h: unknown) => {
    const bytes = encodeWeights(header(), tensors());
    // Replace the JSON header, keeping the file's layout.
    const json = new TextEncoder().encode(JSON.stringify(h));
    const out = new Uint8Array(12 + ((json.length + 3) & ~3) + 200);
    out.set(bytes.subarray(0, 8));
    new DataView(out.buffer).setUint32(8, json.length, true);
    out.set(json, 12);
    return out;
  };

  it('round-trips, and accepts an ArrayBuffer', () => {
    const bytes = encodeWeights(header(), tensors());
    const buffer = bytes.slice().buffer;
    const decoded = decodeWeights(buffer);
    expect(decoded.tensors[0]?.[0]).toBe(0.5);
    expect(decoded.header.tensors).toEqual(header().tensors);
  });

  it('null header fields and tensor entries give WeightsFormatError, not TypeError', () => {
    const cases: unknown[] = [
      null,
      'abc',
      [],
      { ...header(), spec: null },
      { ...header(), preprocessing: null },
      { ...header(), tensors: null },
      { ...header(), tensors: [null, null] },
      { ...header(), tensors: [{ ...header().tensors[0], shape: null }, header().tensors[1]] },
      {
        ...header(),
        tensors: [{ ...header().tensors[0], shape: ['4', '10'] }, header().tensors[1]],
      },
      { ...header(), metadata: 'abc' },
      { ...header(), metadata: null },
      { ...header(), metadata: [1] },
    ];
    for (const h of cases) {
      expect(() => decodeWeights(raw(h)), JSON.stringify(h)).toThrow(WeightsFormatError);
    }
    expect(() => decodeWeights(null as never)).toThrow(OptionError);
    expect(() => decodeWeights('LNMW' as never)).toThrow(OptionError);
  });

  it('encodeWeights refuses metadata that is not a plain object', () => {
    expect(() => encodeWeights({ ...header(), metadata: 'abc' as never }, tensors())).toThrow(
      /metadata must be a plain object, got the string "abc"/,
    );
    expect(() => encodeWeights(header(), [new Float32Array(40)])).toThrow(WeightsFormatError);
    expect(() => encodeWeights(header(), [[1], new Float32Array(10)] as never)).toThrow(
      WeightsFormatError,
    );
    expect(() =>
      encodeWeights({ ...header(), metadata: { n: 1n } as Record<string, unknown> }, tensors()),
    ).toThrow(/cannot be written as JSON/);
  });
});

describe('predictor input: InputError for anything unusable', () => {
  it('refuses invert: "yes", bad frame, holes, wrong types', () => {
    const digit = new Uint8Array(784);
    expect(() => toGrayDigit(digit, { invert: 'yes' as never })).toThrow(InputError);
    expect(() => toGrayDigit(digit, { invert: 'yes' as never })).toThrow(
      /invert must be true, false or 'auto', got "yes"/,
    );
    expect(() => toGrayDigit(digit, { frame: 1 as never })).toThrow(InputError);
    expect(() => toGrayDigit(digit, null as never)).toThrow(InputError);
    expect(toGrayDigit(digit, { invert: 'auto' }).side).toBe(28);
    for (const bad of [
      new Array(784).fill(0),
      new Array(784),
      null,
      undefined,
      7,
      'x',
      new Int8Array(784),
    ]) {
      expect(() => toGrayDigit(bad as never), String(bad)).toThrow(InputError);
    }
    expect(() => toGrayDigit({ data: new Uint8Array(4), width: 1.5, height: 1 })).toThrow(
      InputError,
    );
    expect(() => toGrayDigits(new Array(3))).toThrow(/images\[0\]: missing/);
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point of this check
    expect(() => toGrayDigits([digit, , digit] as never)).toThrow(/images\[1\]: missing/);
    expect(() => toGrayDigits('abc' as never)).toThrow(InputError);
    expect(toGrayDigits([digit, new Uint8Array(1024)]).map((d) => d.side)).toEqual([28, 32]);
    expect(() => frameLikeMnist(new Uint8Array(10), 4, 4)).toThrow(InputError);
    expect(() => frameLikeMnist([1, 2] as never, 2, 1)).toThrow(InputError);
    expect(() => frameLikeMnist(new Uint8Array(4), 2, Number.NaN)).toThrow(InputError);
    // Found by the fuzz campaign: a value whose string conversion throws (was a TypeError).
    const hostile = { toString: 0 } as unknown as number;
    expect(() => frameLikeMnist(new Uint8Array(0), 0, hostile)).toThrow(InputError);
    expect(() => toGrayDigit({ data: new Uint8Array(4), width: hostile, height: 1 })).toThrow(
      InputError,
    );
    expect(() =>
      encodeIdx({ dtype: hostile as never, shape: [1], data: new Uint8Array(1) }),
    ).toThrow(IdxFormatError);
  });
});
