/**
 * The IDX file format (the container of the MNIST files): a 4-byte magic number, one
 * big-endian uint32 per dimension, then the values in row-major order, big-endian.
 *
 * Magic number: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
 * 0x0D float32, 0x0E float64) and the number of dimensions (1 to 255).
 *
 * @module
 */
import { platform } from '../platform/index.js';
import { IdxFormatError } from './errors.js';

/**
 * The element types an IDX file can hold.
 *
 * @example
 * ```ts
 * const dtype: IdxDtype = parseIdx(bytes).dtype; // 'uint8' for MNIST
 * ```
 */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/**
 * The typed array that holds each {@link IdxDtype}.
 *
 * @example
 * ```ts
 * const data: IdxDataTypes['float32'] = new Float32Array(4);
 * ```
 */
export interface IdxDataTypes {
  /** Type code 0x08: unsigned bytes (MNIST's images and labels). */
  uint8: Uint8Array;
  /** Type code 0x09: signed bytes. */
  int8: Int8Array;
  /** Type code 0x0b: 16-bit signed integers. */
  int16: Int16Array;
  /** Type code 0x0c: 32-bit signed integers. */
  int32: Int32Array;
  /** Type code 0x0d: 32-bit floats. */
  float32: Float32Array;
  /** Type code 0x0e: 64-bit floats. */
  float64: Float64Array;
}

/**
 * A decoded IDX file: element type, shape (outermost dimension first) and the values in
 * row-major order. A union over the dtypes, so checking `dtype` narrows `data`.
 *
 * @example
 * ```ts
 * const arr: IdxArray = parseIdx(bytes);
 * if (arr.dtype === 'float32') arr.data; // Float32Array
 * ```
 */
export type IdxArray = {
  [D in IdxDtype]: { dtype: D; shape: number[]; data: IdxDataTypes[D] };
}[IdxDtype];

/**
 * Options of {@link parseIdx} and {@link decodeIdx}.
 *
 * @example
 * ```ts
 * parseIdx(bytes, { source: 'train-images-idx3-ubyte' }); // errors name the file
 * ```
 */
export interface ParseIdxOptions {
  /** A file name or URL, quoted in error messages. Default: none. */
  source?: string;
}

interface DtypeInfo {
  readonly dtype: IdxDtype;
  readonly code: number;
  readonly size: number;
}

const DTYPES: readonly DtypeInfo[] = [
  { dtype: 'uint8', code: 0x08, size: 1 },
  { dtype: 'int8', code: 0x09, size: 1 },
  { dtype: 'int16', code: 0x0b, size: 2 },
  { dtype: 'int32', code: 0x0c, size: 4 },
  { dtype: 'float32', code: 0x0d, size: 4 },
  { dtype: 'float64', code: 0x0e, size: 8 },
];

const BY_CODE = new Map(DTYPES.map((d) => [d.code, d]));
const BY_NAME = new Map(DTYPES.map((d) => [d.dtype, d]));

/**
 * The IDX type code (byte 2 of the magic number) of each dtype.
 *
 * @example
 * ```ts
 * IDX_TYPE_CODES.uint8; // 0x08
 * ```
 */
export const IDX_TYPE_CODES: Readonly<Record<IdxDtype, number>> = Object.freeze({
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
});

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

function where(source: string | undefined): string {
  return source === undefined ? 'IDX data' : `IDX file '${source}'`;
}

/**
 * True when `bytes` start with the gzip magic bytes 1f 8b.
 *
 * @example
 * ```ts
 * const arr = isGzip(bytes) ? await decodeIdx(bytes) : parseIdx(bytes);
 * ```
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reverses the byte order of each `size`-byte element of `bytes`, in place. */
function swapBytes(bytes: Uint8Array, size: number): void {
  const n = bytes.length;
  if (size === 2) {
    for (let i = 0; i < n; i += 2) {
      const a = bytes[i] as number;
      bytes[i] = bytes[i + 1] as number;
      bytes[i + 1] = a;
    }
  } else if (size === 4) {
    for (let i = 0; i < n; i += 4) {
      const a = bytes[i] as number;
      const b = bytes[i + 1] as number;
      bytes[i] = bytes[i + 3] as number;
      bytes[i + 1] = bytes[i + 2] as number;
      bytes[i + 2] = b;
      bytes[i + 3] = a;
    }
  } else if (size === 8) {
    for (let i = 0; i < n; i += 8) {
      for (let j = 0; j < 4; j++) {
        const a = bytes[i + j] as number;
        bytes[i + j] = bytes[i + 7 - j] as number;
        bytes[i + 7 - j] = a;
      }
    }
  }
}

/**
 * Parses a raw (not gzip-compressed) IDX file.
 *
 * - uint8 and int8 data are zero-copy views of `bytes`: changing one changes the other.
 *   Multi-byte types are copied and converted from big-endian to the host's byte order.
 * - Any number of dimensions (1 to 255) is accepted. A dimension of size 0 is allowed and gives
 *   an empty array (the payload must then be empty).
 * - The declared shape is checked against the payload size with exact integer arithmetic
 *   before anything is allocated, so a tiny file that claims 2^32 elements fails at once.
 *
 * @param bytes - The whole file.
 * @param options - `source`: a file name for error messages.
 * @returns The element type, shape and values.
 * @throws {@link IdxFormatError} if the first two bytes are not zero (with a hint when the data
 *   is gzip-compressed: use {@link decodeIdx}), the type code is unknown, there are zero
 *   dimensions, the header is truncated, or the payload is shorter or longer than the shape says.
 *
 * @example
 * ```ts
 * const labels = parseIdx(await readFile('train-labels-idx1-ubyte'), { source: 'train-labels' });
 * if (labels.dtype === 'uint8') console.log(labels.shape, labels.data[0]); // [60000] 5
 * ```
 */
export function parseIdx(bytes: Uint8Array | ArrayBuffer, options: ParseIdxOptions = {}): IdxArray {
  const { source } = options;
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const fail = (offset: number, expected: string, found: string, what: string): never => {
    throw new IdxFormatError(
      `${where(source)}: ${what} at byte ${offset}: expected ${expected}, found ${found}`,
      { source, offset, expected, found },
    );
  };

  if (u8.length < 4) {
    fail(0, 'a 4-byte magic number', `${u8.length} byte(s)`, 'truncated header');
  }
  if (u8[0] !== 0 || u8[1] !== 0) {
    const found = `${hex(u8[0] as number)} ${hex(u8[1] as number)}`;
    const hint = isGzip(u8) ? ' (the data is gzip-compressed: use decodeIdx)' : '';
    fail(0, '0x00 0x00', found + hint, 'bad magic number');
  }
  const code = u8[2] as number;
  const info = BY_CODE.get(code);
  if (info === undefined) {
    fail(2, 'a type code 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e', hex(code), 'unknown type code');
  }
  const { dtype, size } = info as DtypeInfo;
  const ndims = u8[3] as number;
  if (ndims === 0) fail(3, 'at least 1 dimension', '0', 'no dimensions');
  const headerSize = 4 + 4 * ndims;
  if (u8.length < headerSize) {
    fail(
      u8.length,
      `a ${headerSize}-byte header (4 + 4 x ${ndims} dimensions)`,
      `${u8.length} byte(s)`,
      'truncated header',
    );
  }

  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const shape: number[] = new Array(ndims);
  // BigInt keeps the product exact for any header (255 dimensions of up to 2^32 - 1 each).
  let elements = 1n;
  for (let i = 0; i < ndims; i++) {
    const dim = view.getUint32(4 + 4 * i, false);
    shape[i] = dim;
    elements *= BigInt(dim);
  }
  const payload = u8.length - headerSize;
  const expectedBytes = elements * BigInt(size);
  if (expectedBytes !== BigInt(payload)) {
    const what = expectedBytes > BigInt(payload) ? 'truncated payload' : 'trailing data';
    fail(
      headerSize,
      `${expectedBytes} payload bytes (shape [${shape.join(', ')}] of ${dtype}, ${elements} elements)`,
      `${payload} byte(s)`,
      what,
    );
  }
  // From here on the element count equals a real buffer's length, so it is a safe integer.
  const n = Number(elements);
  const start = u8.byteOffset + headerSize;

  switch (dtype) {
    case 'uint8':
      return { dtype, shape, data: new Uint8Array(u8.buffer, start, n) };
    case 'int8':
      return { dtype, shape, data: new Int8Array(u8.buffer, start, n) };
    default: {
      // Copy into a fresh (aligned) buffer, then fix the byte order in place.
      const copy = u8.slice(headerSize);
      if (LITTLE_ENDIAN_HOST) swapBytes(copy, size);
      const buf = copy.buffer;
      if (dtype === 'int16') return { dtype, shape, data: new Int16Array(buf, 0, n) };
      if (dtype === 'int32') return { dtype, shape, data: new Int32Array(buf, 0, n) };
      if (dtype === 'float32') return { dtype, shape, data: new Float32Array(buf, 0, n) };
      return { dtype, shape, data: new Float64Array(buf, 0, n) };
    }
  }
}

/**
 * Decodes an IDX file that may be gzip-compressed (`.gz`, detected by its magic bytes 1f 8b):
 * decompresses it with the platform's gunzip (zlib in Node, `DecompressionStream` in
 * browsers), then {@link parseIdx}es it.
 *
 * @param bytes - The whole file, raw or gzip-compressed.
 * @param options - `source`: a file name for error messages.
 * @returns The element type, shape and values.
 * @throws {@link IdxFormatError} for corrupt gzip data or any {@link parseIdx} error.
 *
 * @example
 * ```ts
 * const images = await decodeIdx(await (await fetch('/data/t10k-images-idx3-ubyte.gz')).arrayBuffer());
 * console.log(images.shape); // [10000, 28, 28]
 * ```
 */
export async function decodeIdx(
  bytes: Uint8Array | ArrayBuffer,
  options: ParseIdxOptions = {},
): Promise<IdxArray> {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (!isGzip(u8)) return parseIdx(u8, options);
  let raw: Uint8Array;
  try {
    raw = await platform.gunzip(u8);
  } catch (err) {
    const { source } = options;
    const reason = err instanceof Error ? err.message : String(err);
    throw new IdxFormatError(
      `${where(source)}: corrupt gzip data: ${reason}`,
      { source, offset: 0, expected: 'a valid gzip stream', found: reason },
      { cause: err },
    );
  }
  return parseIdx(raw, options);
}

const CONSTRUCTORS: Record<IdxDtype, { new (n: number): IdxDataTypes[IdxDtype] }> = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
};

/**
 * Encodes an array as a raw (uncompressed) IDX file, big-endian: the inverse of
 * {@link parseIdx}.
 *
 * @param array - `dtype`, `shape` (1 to 255 dimensions, each an integer 0 to 2^32 - 1) and
 *   `data`: the typed array of that dtype (a `Uint8ClampedArray` is accepted for uint8) with
 *   exactly product(shape) elements.
 * @returns The file's bytes.
 * @throws {@link IdxFormatError} if the dtype is unknown, the shape is invalid, `data` has the
 *   wrong type, or its length does not match the shape.
 *
 * @example
 * ```ts
 * const bytes = encodeIdx({ dtype: 'uint8', shape: [2], data: new Uint8Array([7, 3]) });
 * parseIdx(bytes).data; // Uint8Array [7, 3]
 * ```
 */
export function encodeIdx(array: {
  readonly dtype: IdxDtype;
  readonly shape: readonly number[];
  readonly data: IdxDataTypes[IdxDtype] | Uint8ClampedArray;
}): Uint8Array {
  const { dtype, shape, data } = array;
  const info = BY_NAME.get(dtype);
  const bad = (expected: string, found: string): never => {
    throw new IdxFormatError(`encodeIdx: expected ${expected}, found ${found}`, {
      expected,
      found,
    });
  };
  if (info === undefined) {
    return bad(`a dtype of ${DTYPES.map((d) => d.dtype).join(', ')}`, `'${String(dtype)}'`);
  }
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 255) {
    bad('a shape of 1 to 255 dimensions', JSON.stringify(shape));
  }
  let elements = 1;
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0 || dim > 0xffffffff) {
      bad('dimensions that are integers from 0 to 2^32 - 1', `shape [${shape.join(', ')}]`);
    }
    elements *= dim;
  }
  const ctor = CONSTRUCTORS[dtype];
  const ok = data instanceof ctor || (dtype === 'uint8' && data instanceof Uint8ClampedArray);
  if (!ok) bad(`a ${ctor.name} for dtype ${dtype}`, data?.constructor?.name ?? String(data));
  if (data.length !== elements) {
    bad(`${elements} elements for shape [${shape.join(', ')}]`, `${data.length}`);
  }

  const headerSize = 4 + 4 * shape.length;
  const out = new Uint8Array(headerSize + elements * info.size);
  out[2] = info.code;
  out[3] = shape.length;
  const view = new DataView(out.buffer);
  shape.forEach((dim, i) => {
    view.setUint32(4 + 4 * i, dim, false);
  });
  const payload = out.subarray(headerSize);
  payload.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (LITTLE_ENDIAN_HOST) swapBytes(payload, info.size);
  return out;
}
