import { LenetMnistError, OptionError } from '../errors.js';
import { buildLayers, layerParameterShapes } from './layers.js';
import type { ModelSpec, Preprocessing } from './types.js';

/**
 * The weights file (format version 1), all little-endian:
 *
 * | offset | size | content                                              |
 * |--------|------|------------------------------------------------------|
 * | 0      | 4    | magic `LNMW`                                         |
 * | 4      | 4    | uint32 format version (1)                            |
 * | 8      | 4    | uint32 header length H                               |
 * | 12     | H    | UTF-8 JSON `WeightsHeader`                     |
 * | ...    | 0-3  | zero padding to a multiple of 4                      |
 * | ...    |      | float32 tensors, in header order, back to back       |
 */
export const WEIGHTS_MAGIC = 'LNMW';
/**
 * The weights format version this library writes, and the only one it reads: stored as a
 * uint32 at byte 4 of every weights file.
 *
 * @example
 * ```ts
 * const bytes = await model.save();
 * new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true) === WEIGHTS_FORMAT_VERSION; // true
 * ```
 */
export const WEIGHTS_FORMAT_VERSION = 1;
const PREAMBLE_BYTES = 12;
const MAX_HEADER_BYTES = 1 << 20;

/**
 * The JSON header of a weights file.
 *
 * @example
 * ```ts
 * const { header } = decodeWeights(bytes);
 * console.log(header.spec.kind, header.tensors.map((t) => `${t.name} [${t.shape}]`));
 * ```
 */
export interface WeightsHeader {
  /** The architecture the weights belong to. */
  spec: ModelSpec;
  /** How input images were prepared in training, so predictors do the same. */
  preprocessing: Preprocessing;
  /**
   * Name, shape and element type of every tensor, in the order of the payload and of
   * {@link Model.parameters} (e.g. `conv1.weight` with shape `[5, 5, 1, 6]`).
   */
  tensors: { name: string; shape: number[]; dtype: 'float32' }[];
  /** Free-form facts about the weights (training recipe, accuracy, date). */
  metadata?: Record<string, unknown>;
}

/**
 * What `decodeWeights` returns.
 *
 * @example
 * ```ts
 * const { header, tensors }: DecodedWeights = decodeWeights(bytes);
 * ```
 */
export interface DecodedWeights {
  /** The validated header, with a normalised copy of `spec`. */
  header: WeightsHeader;
  /** One array per tensor, in header order. */
  tensors: Float32Array[];
}

/**
 * A weights file or a set of weights is invalid: the message says where and what was expected.
 * Thrown by `decodeWeights`, {@link loadModel}, {@link loadModelFile},
 * {@link loadPretrained} and {@link Model.setWeights}, and by {@link createLeNet} and
 * {@link createMlp} for options that describe no valid architecture.
 *
 * @example
 * ```ts
 * try {
 *   model = await loadModel(await file.arrayBuffer(), file.name);
 * } catch (err) {
 *   if (err instanceof WeightsFormatError) alert(`Not a usable weights file: ${err.message}`);
 *   else throw err;
 * }
 * ```
 */
export class WeightsFormatError extends LenetMnistError {}

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A plain object: `{}` or `JSON.parse` output, not an array, string, class instance or null. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v)}`;
  if (typeof v === 'object') {
    const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
    return `an object (${typeof name === 'string' ? name : 'no class'})`;
  }
  return `${typeof v} ${String(v)}`;
}

/**
 * Checks metadata to be stored with weights: `undefined`, or a plain object (`{ ... }`) whose
 * values JSON can represent. A string, array, class instance or null is refused (spreading
 * `"abc"` would store `{0: 'a', 1: 'b', 2: 'c'}`).
 *
 * @param fn - The public function, for the message.
 * @throws {@link OptionError} naming what was found.
 *
 * @example
 * ```ts
 * checkMetadata('saveModelFile', { epochs: 5 }); // fine
 * checkMetadata('saveModelFile', 'abc'); // throws OptionError
 * ```
 */
export function checkMetadata(fn: string, metadata: unknown): void {
  if (metadata === undefined) return;
  if (!isPlainObject(metadata)) {
    throw new OptionError(
      'metadata',
      `${fn}: metadata must be a plain object such as { epochs: 5 }, got ${kindOf(metadata)}`,
    );
  }
  try {
    JSON.stringify(metadata);
  } catch (err) {
    throw new OptionError(
      'metadata',
      `${fn}: metadata must be JSON-serialisable (${(err as Error).message})`,
      { cause: err },
    );
  }
}

/**
 * Serialises weights into the format `decodeWeights` reads (and `model.save()` writes):
 * magic `LNMW`, version, the JSON header, then the float32 tensors little-endian. The layout
 * is checked here (one `Float32Array` per listed tensor; metadata a plain object; a header that
 * JSON can represent); `decodeWeights` checks the architecture, shapes, sizes and values
 * when the file is read (so a deliberately mismatched file can still be written, for tests).
 *
 * @param header - Architecture, preprocessing, tensor list and metadata.
 * @param tensors - One array per entry of `header.tensors`, in that order and of that size.
 * @returns The file's bytes.
 * @throws {@link WeightsFormatError} if `header` is not an object, `header.tensors` is not a
 *   list as long as `tensors`, a tensor is not a `Float32Array`, `metadata` is not a plain
 *   object, or the header cannot be written as JSON (or is over 1 MiB).
 *
 * @example
 * ```ts
 * // Halve every weight of a saved model and write it back.
 * const { header, tensors } = decodeWeights(await model.save());
 * const bytes = encodeWeights(header, tensors.map((t) => t.map((v) => v / 2)));
 * const halved = await loadModel(bytes);
 * ```
 */
export function encodeWeights(header: WeightsHeader, tensors: readonly Float32Array[]): Uint8Array {
  const fail = (msg: string): never => {
    throw new WeightsFormatError(`encodeWeights: ${msg}`);
  };
  if (!isPlainObject(header)) fail(`header must be an object, got ${kindOf(header)}`);
  if (!Array.isArray(header.tensors)) fail('header.tensors must be a list of tensors');
  if (!Array.isArray(tensors))
    fail(`tensors must be an array of Float32Array, got ${kindOf(tensors)}`);
  if (header.tensors.length !== tensors.length) {
    fail(`header lists ${header.tensors.length} tensors, ${tensors.length} were given`);
  }
  tensors.forEach((data, i) => {
    if (!(data instanceof Float32Array))
      fail(`tensor ${i} is ${kindOf(data)}, expected a Float32Array`);
  });
  if (header.metadata !== undefined && !isPlainObject(header.metadata)) {
    fail(`metadata must be a plain object, got ${kindOf(header.metadata)}`);
  }
  let text: string;
  try {
    text = JSON.stringify(header);
  } catch (err) {
    return fail(`the header cannot be written as JSON (${(err as Error).message})`);
  }
  const json = new TextEncoder().encode(text);
  if (json.length > MAX_HEADER_BYTES)
    fail(`the header is ${json.length} bytes, at most ${MAX_HEADER_BYTES} are allowed`);
  const dataStart = align4(PREAMBLE_BYTES + json.length);
  const total = tensors.reduce((sum, t) => sum + t.length * 4, dataStart);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(WEIGHTS_MAGIC), 0);
  view.setUint32(4, WEIGHTS_FORMAT_VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, PREAMBLE_BYTES);
  let offset = dataStart;
  for (const t of tensors) {
    if (littleEndianHost) out.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), offset);
    else for (let i = 0; i < t.length; i++) view.setFloat32(offset + i * 4, t[i] as number, true);
    offset += t.byteLength;
  }
  return out;
}

/**
 * Parses and validates a weights file: magic, version, header, architecture, every tensor's
 * name and shape, payload size and that every value is finite. Allocates nothing on a tfjs
 * backend ({@link loadModel} builds a model from the result).
 *
 * @param bytes - The whole file, as written by `model.save()` or `encodeWeights`: a
 *   `Uint8Array` or an `ArrayBuffer` (e.g. from `fetch(...).arrayBuffer()`).
 * @param source - A name for the file in error messages. Default: `'weights'`.
 * @returns The header and one `Float32Array` per tensor, in header order.
 * @throws {@link WeightsFormatError} naming the first problem found (every malformed file,
 *   whatever its bytes, gives this error); {@link OptionError} if `bytes` is neither a
 *   `Uint8Array` nor an `ArrayBuffer`, or `source` is not a string.
 *
 * @example
 * ```ts
 * const { header, tensors } = decodeWeights(await readFile('./lenet.weights'), 'lenet.weights');
 * console.log(header.spec.kind, tensors.length, header.metadata); // 'lenet' 10 { ... }
 * ```
 */
export function decodeWeights(bytes: Uint8Array | ArrayBuffer, source = 'weights'): DecodedWeights {
  if (typeof source !== 'string') {
    throw new OptionError(
      'source',
      `decodeWeights: source must be a string, got ${kindOf(source)}`,
    );
  }
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  else if (!(bytes instanceof Uint8Array)) {
    throw new OptionError(
      'bytes',
      `decodeWeights: expected the file as a Uint8Array or ArrayBuffer, got ${kindOf(bytes)}`,
    );
  }
  const fail: (msg: string) => never = (msg) => {
    throw new WeightsFormatError(`${source}: ${msg}`);
  };
  if (bytes.length < PREAMBLE_BYTES)
    fail(`truncated: ${bytes.length} bytes, the preamble alone needs ${PREAMBLE_BYTES}`);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== WEIGHTS_MAGIC) {
    fail(
      `not a lenet-mnist weights file: magic ${JSON.stringify(magic)} at offset 0, expected "${WEIGHTS_MAGIC}"`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== WEIGHTS_FORMAT_VERSION) {
    fail(
      `unsupported format version ${version} at offset 4, this library reads version ${WEIGHTS_FORMAT_VERSION}`,
    );
  }
  const headerLength = view.getUint32(8, true);
  if (headerLength > MAX_HEADER_BYTES || PREAMBLE_BYTES + headerLength > bytes.length) {
    fail(
      `header length ${headerLength} at offset 8 exceeds the ${bytes.length - PREAMBLE_BYTES} bytes that follow`,
    );
  }
  let header: WeightsHeader | null;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(
        bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength),
      ),
    );
  } catch (err) {
    return fail(
      `header at offset ${PREAMBLE_BYTES} is not valid UTF-8 JSON (${(err as Error).message})`,
    );
  }
  if (!isPlainObject(header)) {
    return fail(`header at offset ${PREAMBLE_BYTES} is ${kindOf(header)}, expected a JSON object`);
  }
  const spec = validateSpec(header.spec, fail);
  validatePreprocessing(header.preprocessing, spec, fail);
  if (header.metadata !== undefined && !isPlainObject(header.metadata)) {
    fail(`metadata is ${kindOf(header.metadata)}, expected a JSON object`);
  }
  const expected = expectedTensors(spec);
  const listed = Array.isArray(header.tensors)
    ? header.tensors
    : fail('header has no "tensors" list');
  if (listed.length !== expected.length) {
    fail(`${listed.length} tensors listed, a ${describe(spec)} has ${expected.length}`);
  }
  expected.forEach((want, i) => {
    const entry: unknown = listed[i];
    if (!isPlainObject(entry))
      fail(`tensor ${i} is ${kindOf(entry)}, expected { name, shape, dtype }`);
    const got = entry as WeightsHeader['tensors'][number];
    if (got.name !== want.name)
      fail(`tensor ${i} is ${JSON.stringify(got.name)}, expected "${want.name}"`);
    if (got.dtype !== 'float32')
      fail(`${want.name}: dtype ${JSON.stringify(got.dtype)}, expected "float32"`);
    if (
      !Array.isArray(got.shape) ||
      got.shape.length !== want.shape.length ||
      !got.shape.every((d, j) => d === want.shape[j])
    ) {
      fail(`${want.name}: shape ${JSON.stringify(got.shape)} found, [${want.shape}] expected`);
    }
  });
  const dataStart = align4(PREAMBLE_BYTES + headerLength);
  const dataBytes = expected.reduce((sum, t) => sum + size(t.shape) * 4, 0);
  if (bytes.length - dataStart !== dataBytes) {
    fail(
      `payload is ${bytes.length - dataStart} bytes from offset ${dataStart}, the tensors need ${dataBytes}`,
    );
  }
  let offset = dataStart;
  const tensors = expected.map((t) => {
    const n = size(t.shape);
    const arr = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = view.getFloat32(offset + i * 4, true);
      if (!Number.isFinite(v))
        fail(`${t.name}[${i}] is ${v} (offset ${offset + i * 4}); weights must be finite`);
      arr[i] = v;
    }
    offset += n * 4;
    return arr;
  });
  return { header: { ...header, spec }, tensors };
}

/** Names and shapes of a model's parameters, in file order. */
export function expectedTensors(spec: ModelSpec): { name: string; shape: number[] }[] {
  return buildLayers(spec).flatMap((layer) =>
    layerParameterShapes(layer).map(({ name, shape }) => ({ name, shape })),
  );
}

function describe(spec: ModelSpec): string {
  return spec.kind === 'lenet' ? 'LeNet' : `MLP [${spec.hidden}]`;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

const isPositiveInt = (v: unknown, max: number): v is number =>
  Number.isInteger(v) && (v as number) > 0 && (v as number) <= max;

/** Checks an architecture description; returns a normalised copy. */
export function validateSpec(raw: unknown, fail: (msg: string) => never): ModelSpec {
  const s = raw as Record<string, unknown> | undefined;
  if (s?.kind === 'lenet') {
    const { inputSize, pooling, activation, conv2Activation } = s;
    if (
      !isPositiveInt(inputSize, 4096) ||
      ((inputSize as number) - 4) % 4 !== 0 ||
      (inputSize as number) < 16
    ) {
      fail(
        `spec.inputSize ${JSON.stringify(inputSize)}: LeNet needs an integer >= 16 with (size - 4) divisible by 4 (e.g. 28, 32)`,
      );
    }
    if (pooling !== 'max' && pooling !== 'avg')
      fail(`spec.pooling ${JSON.stringify(pooling)}: expected "max" or "avg"`);
    if (activation !== 'relu' && activation !== 'tanh')
      fail(`spec.activation ${JSON.stringify(activation)}: expected "relu" or "tanh"`);
    if (typeof conv2Activation !== 'boolean')
      fail(`spec.conv2Activation ${JSON.stringify(conv2Activation)}: expected a boolean`);
    return {
      kind: 'lenet',
      inputSize: inputSize as number,
      pooling,
      activation,
      conv2Activation: conv2Activation as boolean,
    };
  }
  if (s?.kind === 'mlp') {
    const { inputSize, hidden, activation } = s;
    if (!isPositiveInt(inputSize, 4096))
      fail(`spec.inputSize ${JSON.stringify(inputSize)}: expected a positive integer`);
    if (
      !Array.isArray(hidden) ||
      hidden.length > 16 ||
      !hidden.every((h) => isPositiveInt(h, 1 << 16))
    ) {
      fail(
        `spec.hidden ${JSON.stringify(hidden)}: expected up to 16 positive integer layer widths`,
      );
    }
    if (activation !== 'relu' && activation !== 'tanh')
      fail(`spec.activation ${JSON.stringify(activation)}: expected "relu" or "tanh"`);
    return {
      kind: 'mlp',
      inputSize: inputSize as number,
      hidden: [...(hidden as number[])],
      activation,
    };
  }
  return fail(`spec.kind ${JSON.stringify(s?.kind)}: expected "lenet" or "mlp"`);
}

function validatePreprocessing(
  p: Preprocessing | undefined,
  spec: ModelSpec,
  fail: (msg: string) => never,
): void {
  if (!isPlainObject(p)) fail('header has no "preprocessing" object');
  const pre = p as Preprocessing;
  if (pre.size !== spec.inputSize)
    fail(`preprocessing.size ${pre.size} does not match spec.inputSize ${spec.inputSize}`);
  if (!['bilinear', 'pad', 'none'].includes(pre.resize))
    fail(
      `preprocessing.resize ${JSON.stringify(pre.resize)}: expected "bilinear", "pad" or "none"`,
    );
  if (!Number.isFinite(pre.mean)) fail(`preprocessing.mean ${pre.mean} is not a finite number`);
  if (!Number.isFinite(pre.std) || pre.std <= 0)
    fail(`preprocessing.std ${pre.std} must be a positive number`);
}
