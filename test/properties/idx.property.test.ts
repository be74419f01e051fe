import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeIdx,
  encodeIdx,
  type IdxDtype,
  IdxFormatError,
  parseIdx,
} from '../../src/data/index.js';
import { applyEdits, editArb, params, report } from '../helpers/fuzz.js';

const DTYPES: IdxDtype[] = ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'];
const CTORS = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

/** An IDX array: any dtype, 1 to 4 dimensions of 0 to 12, random bytes as values. */
const idxArray = fc
  .record({
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 4 }),
    seed: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  })
  .map(({ dtype, shape, seed }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new CTORS[dtype](n);
    const bytes = new Uint8Array(data.buffer);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (seed[i % seed.length] as number) ^ (i * 31);
    return { dtype, shape, data } as Parameters<typeof encodeIdx>[0];
  });

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;

/** Whatever parseIdx returns must describe its own data consistently and fit in the input. */
function checkResult(result: ReturnType<typeof parseIdx>, input: Uint8Array): void {
  const n = result.shape.reduce((a, b) => a * b, 1);
  expect(result.data.length).toBe(n);
  expect(result.data.byteLength).toBeLessThanOrEqual(input.length);
}

function onlyIdxErrors(err: unknown): void {
  if (!(err instanceof IdxFormatError)) throw err;
}

afterAll(() => report('idx'));

describe('IDX parser properties', () => {
  it('encodeIdx -> parseIdx round-trips every dtype and shape, bit for bit', () => {
    fc.assert(
      fc.property(idxArray, (array) => {
        const back = parseIdx(encodeIdx(array));
        expect(back.dtype).toBe(array.dtype);
        expect(back.shape).toEqual(array.shape);
        expect(sameBytes(back.data, array.data)).toBe(true);
      }),
      params('round trip'),
    );
  });

  it('gzip -> decodeIdx round-trips (whole and split into members)', async () => {
    await fc.assert(
      fc.asyncProperty(idxArray, fc.nat(), async (array, cut) => {
        const file = encodeIdx(array);
        const at = cut % (file.length + 1);
        const gz = new Uint8Array(
          Buffer.concat([gzipSync(file.subarray(0, at)), gzipSync(file.subarray(at))]),
        );
        const back = await decodeIdx(gz);
        expect(back.shape).toEqual(array.shape);
        expect(sameBytes(back.data, array.data)).toBe(true);
      }),
      params('gzip round trip'),
    );
  });

  it('arbitrary bytes and mutations of valid files: a consistent result or IdxFormatError', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .tuple(idxArray, fc.array(editArb, { minLength: 1, maxLength: 6 }))
        .map(([array, edits]) => applyEdits(encodeIdx(array), edits)),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        try {
          checkResult(parseIdx(bytes, { source: 'fuzz' }), bytes);
        } catch (err) {
          onlyIdxErrors(err);
        }
      }),
      params('raw mutations'),
    );
  });

  it('mutated gzip data (compressed or before compression): bounded result or IdxFormatError', async () => {
    const input = fc.oneof(
      // Mutations of the compressed stream (damaged gzip).
      fc
        .tuple(idxArray, fc.array(editArb, { minLength: 1, maxLength: 4 }))
        .map(([array, edits]) => applyEdits(gzipSync(encodeIdx(array)), edits)),
      // Valid gzip of a mutated file (lying headers, bombs in miniature).
      fc
        .tuple(idxArray, fc.array(editArb, { minLength: 1, maxLength: 4 }))
        .map(([array, edits]) => new Uint8Array(gzipSync(applyEdits(encodeIdx(array), edits)))),
    );
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        try {
          const result = await decodeIdx(bytes, { source: 'fuzz' });
          const n = result.shape.reduce((a, b) => a * b, 1);
          expect(result.data.length).toBe(n);
          // Never more than deflate's 1032:1 expansion of the input.
          expect(result.data.byteLength).toBeLessThanOrEqual(1032 * bytes.length);
        } catch (err) {
          onlyIdxErrors(err);
        }
      }),
      params('gzip mutations'),
    );
  });

  it('encodeIdx: arbitrary arguments give a parseable file or IdxFormatError', () => {
    const arg = fc.oneof(
      idxArray,
      fc.record(
        {
          dtype: fc.oneof(fc.constantFrom(...DTYPES), fc.anything()),
          shape: fc.oneof(
            fc.array(fc.oneof(fc.nat(20), fc.anything()), { maxLength: 4 }),
            fc.anything(),
          ),
          data: fc.oneof(
            fc.constantFrom(...DTYPES).map((d) => new CTORS[d](8)),
            fc.uint8Array({ maxLength: 20 }),
            fc.anything(),
          ),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    fc.assert(
      fc.property(arg, (array) => {
        try {
          const bytes = encodeIdx(array as Parameters<typeof encodeIdx>[0]);
          checkResult(parseIdx(bytes), bytes);
        } catch (err) {
          onlyIdxErrors(err);
        }
      }),
      params('encodeIdx arguments'),
    );
  });

  it('headers that declare huge sizes are refused without allocating them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom(0x08, 0x0b, 0x0e),
        async (dims, code) => {
          const header = new Uint8Array(4 + 4 * dims.length + 8);
          header.set([0, 0, code, dims.length]);
          const view = new DataView(header.buffer);
          dims.forEach((d, i) => {
            view.setUint32(4 + 4 * i, d);
          });
          const before = process.memoryUsage().arrayBuffers;
          try {
            await decodeIdx(gzipSync(header));
          } catch (err) {
            onlyIdxErrors(err);
          }
          // A 40-byte gzip file may cost at most its 1032:1 bound, whatever it declares.
          expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
        },
      ),
      params('huge headers'),
    );
  });
});
