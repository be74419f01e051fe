/**
 * The IDX file format (the container of the MNIST files): a 4-byte magic number, one
 * big-endian uint32 per dimension, then the values in row-major order, big-endian.
 *
 * Magic number: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
 * 0x0D float32, 0x0E float64) and the number of dimensions (1 to 255).
 *
 * @module
 */
import { OptionError } from '../errors.js';
import { concatBytes } from '../platform/bytes.js';
import { platform } from '../platform/index.js';
import { checkOptions, describeValue } from './check.js';
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
 * The typed array that holds each `IdxDtype`.
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
 * Options of {@link parseIdx} and `decodeIdx`.
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

/**
 * Default for `maxBytes` (256 MiB): the largest file `decodeIdx` inflates and
 * {@link loadMnist} reads or downloads, per file. It covers MNIST (47 MB), Fashion-MNIST,
 * KMNIST and the EMNIST splits up to Digits (188 MB); raise it for EMNIST ByClass and ByMerge
 * (638 MB), lower it for untrusted input. With four files loading at once, an endless download
 * costs at most four times this before it is refused (and `deadlineMs` stops it sooner).
 *
 * @example
 * ```ts
 * await loadMnist({ dir: './emnist-byclass', numClasses: 62, maxBytes: 2 ** 30 });
 * ```
 */
export const DEFAULT_MAX_IDX_BYTES = 2 ** 28;

/**
 * Options of `decodeIdx`.
 *
 * @example
 * ```ts
 * await decodeIdx(bytes, { source: 'upload.gz', maxBytes: 100 * 2 ** 20, signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface DecodeIdxOptions extends ParseIdxOptions {
  /**
   * The largest decompressed file accepted, in bytes (header included): a positive integer, or
   * `Infinity` for no limit. Default: `DEFAULT_MAX_IDX_BYTES` (256 MiB). Gzip data is
   * inflated as a stream and checked against the size its header declares, so a gzip bomb is
   * refused after inflating at most that size plus one chunk, whatever this limit; `maxBytes`
   * caps what a header may declare. Raw (uncompressed) input is already in memory and is not
   * limited.
   */
  maxBytes?: number;
  /** Cancels decompression; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Checks a `maxBytes` option: a positive integer or `Infinity`; `undefined` gives the default.
 *
 * @internal
 */
export function checkMaxBytes(fn: string, maxBytes: unknown, fallback: number): number {
  if (maxBytes === undefined) return fallback;
  if (
    typeof maxBytes !== 'number' ||
    !(maxBytes === Number.POSITIVE_INFINITY || (Number.isSafeInteger(maxBytes) && maxBytes > 0))
  ) {
    throw new OptionError(
      'maxBytes',
      `${fn}: maxBytes must be a positive integer or Infinity, got ${describeValue(maxBytes)}`,
    );
  }
  return maxBytes;
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
 * @throws {@link OptionError} if `bytes` is neither a `Uint8Array` nor an `ArrayBuffer`.
 *
 * @example
 * ```ts
 * const arr = isGzip(bytes) ? await decodeIdx(bytes) : parseIdx(bytes);
 * ```
 */
export function isGzip(bytes: Uint8Array | ArrayBuffer): boolean {
  const u8 = toBytes('isGzip', bytes);
  return u8.length >= 2 && u8[0] === 0x1f && u8[1] === 0x8b;
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
 *   is gzip-compressed: use `decodeIdx`), the type code is unknown, there are zero
 *   dimensions, the header is truncated, or the payload is shorter or longer than the shape says
 *   (whatever the bytes, a malformed file gives this error and nothing else);
 *   {@link OptionError} if `bytes` is neither a `Uint8Array` nor an `ArrayBuffer`, or
 *   `options.source` is not a string.
 *
 * @example
 * ```ts
 * const labels = parseIdx(await readFile('train-labels-idx1-ubyte'), { source: 'train-labels' });
 * if (labels.dtype === 'uint8') console.log(labels.shape, labels.data[0]); // [60000] 5
 * ```
 */
export function parseIdx(bytes: Uint8Array | ArrayBuffer, options: ParseIdxOptions = {}): IdxArray {
  const u8 = toBytes('parseIdx', bytes);
  checkOptionsObject('parseIdx', options);
  const { source } = options;
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
 * Decompression is streamed and bounded: once the IDX header has been inflated, the output
 * buffer is allocated at exactly the size the header declares (refused if above `maxBytes`, or
 * above the 1032:1 that deflate can expand the given bytes to), and inflating more than that
 * stops at once with an {@link IdxFormatError}. A 2 MB gzip bomb
 * that inflates to 2 GiB behind a header claiming 10 images is refused after inflating a few
 * kilobytes.
 *
 * @param bytes - The whole file, raw or gzip-compressed.
 * @param options - `source`: a file name for error messages; `maxBytes`: the largest
 *   decompressed size accepted (default `DEFAULT_MAX_IDX_BYTES`, 256 MiB); `signal`.
 * @returns The element type, shape and values.
 * @throws {@link IdxFormatError} for corrupt gzip data, a header that declares more than
 *   `maxBytes`, data that inflates to more (or less) than its header declares, or any
 *   {@link parseIdx} error; {@link OptionError} for an invalid `maxBytes`; the signal's reason
 *   when aborted.
 *
 * @example
 * ```ts
 * const images = await decodeIdx(await (await fetch('/data/t10k-images-idx3-ubyte.gz')).arrayBuffer());
 * console.log(images.shape); // [10000, 28, 28]
 * ```
 */
export async function decodeIdx(
  bytes: Uint8Array | ArrayBuffer,
  options: DecodeIdxOptions = {},
): Promise<IdxArray> {
  const u8 = toBytes('decodeIdx', bytes);
  checkOptionsObject('decodeIdx', options);
  if (!isGzip(u8)) return parseIdx(u8, options);
  return parseIdx(await gunzipIdx(u8, options), options);
}

function toBytes(fn: string, bytes: unknown): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new OptionError(
    'bytes',
    `${fn}: expected the file as a Uint8Array or ArrayBuffer, got ${describeValue(bytes)}`,
  );
}

function checkOptionsObject(fn: string, options: unknown): void {
  checkOptions(fn, options);
  const { source, signal } = options as DecodeIdxOptions;
  if (source !== undefined && typeof source !== 'string') {
    throw new OptionError('source', `${fn}: source must be a string, got ${describeValue(source)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new OptionError(
      'signal',
      `${fn}: signal must be an AbortSignal, got ${describeValue(signal)}`,
    );
  }
}

/** Deflate's largest expansion: a 258-byte match coded in 2 bits. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Inflates gzip-compressed IDX data with a bound derived from its header: the output is
 * allocated once at the declared size and inflation stops as soon as the data runs past it.
 * Header problems surface as {@link parseIdx}'s errors; the returned bytes may still be short
 * (for {@link parseIdx} to report as a truncated payload).
 *
 * @throws {@link IdxFormatError}; {@link OptionError} for an invalid `maxBytes`; the signal's
 *   reason when aborted.
 * @internal
 */
export async function gunzipIdx(
  bytes: Uint8Array,
  options: DecodeIdxOptions = {},
): Promise<Uint8Array> {
  const { source, signal } = options;
  const maxBytes = checkMaxBytes('decodeIdx', options.maxBytes, DEFAULT_MAX_IDX_BYTES);
  let pending: Uint8Array[] = [];
  let pendingLength = 0;
  let out: Uint8Array | undefined;
  let written = 0;
  let declared = 0;
  let headerSize = 0;
  const tooMuch = (atLeast: number): never => {
    throw new IdxFormatError(
      `${where(source)}: trailing data at byte ${headerSize}: the header declares ${declared - headerSize} payload bytes, the gzip data inflates to at least ${atLeast - headerSize} (decompression stopped)`,
      {
        source,
        offset: headerSize,
        expected: `${declared - headerSize} payload bytes`,
        found: `at least ${atLeast - headerSize} byte(s)`,
      },
    );
  };
  try {
    for await (const chunk of platform.gunzipChunks(bytes, signal)) {
      if (out !== undefined) {
        if (written + chunk.length > declared) tooMuch(written + chunk.length);
        out.set(chunk, written);
        written += chunk.length;
        continue;
      }
      pending.push(chunk);
      pendingLength += chunk.length;
      const size = declaredSize(pending, pendingLength, source);
      if (size === undefined) continue;
      ({ headerSize, total: declared } = size);
      if (declared > maxBytes) {
        throw new IdxFormatError(
          `${where(source)}: the header declares ${declared} bytes (shape [${size.shape.join(', ')}]), more than the ${maxBytes}-byte limit (maxBytes)`,
          {
            source,
            offset: 4,
            expected: `at most ${maxBytes} bytes (maxBytes)`,
            found: `${declared} bytes`,
          },
        );
      }
      if (declared > MAX_DEFLATE_RATIO * bytes.length) {
        // No deflate stream expands more than 1032:1, so the data cannot hold what the header
        // declares: refuse before allocating it.
        throw new IdxFormatError(
          `${where(source)}: truncated payload: the header declares ${declared} bytes (shape [${size.shape.join(', ')}]), but ${bytes.length} bytes of gzip data inflate to at most ${MAX_DEFLATE_RATIO * bytes.length}`,
          {
            source,
            offset: headerSize,
            expected: `${declared - headerSize} payload bytes`,
            found: `at most ${MAX_DEFLATE_RATIO * bytes.length - headerSize} byte(s)`,
          },
        );
      }
      if (pendingLength > declared) tooMuch(pendingLength);
      out = new Uint8Array(declared);
      for (const c of pending) {
        out.set(c, written);
        written += c.length;
      }
      pending = [];
    }
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof IdxFormatError || err instanceof OptionError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new IdxFormatError(
      `${where(source)}: corrupt gzip data: ${reason}`,
      { source, offset: 0, expected: 'a valid gzip stream', found: reason },
      { cause: err },
    );
  }
  if (out !== undefined) return written === declared ? out : out.subarray(0, written);
  return concatBytes(pending, pendingLength);
}

/**
 * The header size and the total file size an IDX header declares, once enough of it has been
 * inflated (`undefined` until then). An invalid header throws {@link parseIdx}'s error.
 */
function declaredSize(
  chunks: readonly Uint8Array[],
  length: number,
  source: string | undefined,
): { headerSize: number; total: number; shape: number[] } | undefined {
  if (length < 4) return undefined;
  const head = concatBytes(chunks, length);
  const ndims = head[3] as number;
  const headerSize = 4 + 4 * ndims;
  if (head[0] !== 0 || head[1] !== 0 || !BY_CODE.has(head[2] as number) || ndims === 0) {
    parseIdx(head.subarray(0, 4), { source }); // throws the header's error
  }
  if (length < headerSize) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, headerSize);
  const shape: number[] = [];
  let elements = 1n;
  for (let i = 0; i < ndims; i++) {
    const dim = view.getUint32(4 + 4 * i, false);
    shape.push(dim);
    elements *= BigInt(dim);
  }
  const total =
    BigInt(headerSize) + elements * BigInt((BY_CODE.get(head[2] as number) as DtypeInfo).size);
  // Above 2^53 the comparison with maxBytes still refuses it (Infinity aside: then no buffer
  // could hold it anyway).
  return {
    headerSize,
    total: total > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER + 1 : Number(total),
    shape,
  };
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
  if (typeof array !== 'object' || array === null) {
    throw new IdxFormatError(
      `encodeIdx: expected { dtype, shape, data }, found ${describeValue(array)}`,
      { expected: '{ dtype, shape, data }', found: describeValue(array) },
    );
  }
  const { dtype, shape, data } = array;
  const info = BY_NAME.get(dtype);
  const bad = (expected: string, found: string): never => {
    throw new IdxFormatError(`encodeIdx: expected ${expected}, found ${found}`, {
      expected,
      found,
    });
  };
  if (info === undefined) {
    return bad(`a dtype of ${DTYPES.map((d) => d.dtype).join(', ')}`, describeValue(dtype));
  }
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 255) {
    bad('a shape of 1 to 255 dimensions', describeValue(shape));
  }
  let elements = 1;
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0 || dim > 0xffffffff) {
      bad(
        'dimensions that are integers from 0 to 2^32 - 1',
        `shape [${shape.map(describeValue).join(', ')}]`,
      );
    }
    elements *= dim;
  }
  const ctor = CONSTRUCTORS[dtype];
  const ok = data instanceof ctor || (dtype === 'uint8' && data instanceof Uint8ClampedArray);
  if (!ok) bad(`a ${ctor.name} for dtype ${dtype}`, describeValue(data));
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
