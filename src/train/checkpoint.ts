import type { OptimizerState } from '../engine/types.js';
import { LenetMnistError } from '../errors.js';
import type { ModelSpec, Preprocessing } from '../model/types.js';
import { expectedTensors, validateSpec } from '../model/weights.js';
import { platform } from '../platform/index.js';
import type { EpochLogs } from './logs.js';

/**
 * Everything needed to continue an interrupted {@link train} run exactly: the weights, Adam's
 * state, where in the run it stopped, the run's shuffle seed and settings, and the history so
 * far. Take one from a training callback (`context.checkpoint()`), or from
 * `history.checkpoint` after an abort; pass it back as `resumeFrom`. Serialise it with
 * `encodeCheckpoint` or {@link saveCheckpointFile}.
 *
 * @example
 * ```ts
 * const history = await train(model, data, { epochs: 5, seed: 1, signal });
 * if (history.aborted && history.checkpoint) {
 *   await saveCheckpointFile('run.ckpt', history.checkpoint);
 * }
 * // Later, maybe in another process, with a model of the same architecture:
 * const resumed = await train(model, data, { epochs: 5, resumeFrom: await loadCheckpointFile('run.ckpt') });
 * ```
 */
export interface TrainCheckpoint {
  /** The architecture the weights belong to. */
  readonly spec: ModelSpec;
  /** The preprocessing the model was trained with. */
  readonly preprocessing: Preprocessing;
  /** The weights, in parameter order. */
  readonly weights: readonly Float32Array[];
  /** Adam's state (step count and moments), in parameter order. */
  readonly optimizer: OptimizerState;
  /** The next batch to run: its 1-based epoch and 0-based batch within that epoch. */
  readonly next: { readonly epoch: number; readonly batch: number };
  /** The run's settings that decide which batches come next and how they are trained. */
  readonly run: {
    /** Shuffle seed of the run (epoch `e` shuffles with `seed + e`). */
    readonly seed: number;
    readonly batchSize: number;
    readonly shuffle: boolean;
    /** Images in the training set; resuming on another set is refused. */
    readonly dataCount: number;
  };
  /** Sums over the batches of the interrupted epoch that ran, so its logs come out whole. */
  readonly partialEpoch: {
    readonly lossSum: number;
    readonly correct: number;
    readonly seen: number;
    readonly batches: number;
    readonly seconds: number;
  };
  /** The logs of the epochs that finished before the checkpoint. */
  readonly epochs: readonly EpochLogs[];
}

/**
 * A checkpoint's bytes or contents are invalid, or do not fit the model or data they are used
 * with; the message names the field.
 *
 * @example
 * ```ts
 * try {
 *   await train(model, data, { resumeFrom: decodeCheckpoint(bytes) });
 * } catch (err) {
 *   if (err instanceof CheckpointFormatError) console.error(`cannot resume: ${err.message}`);
 *   else throw err;
 * }
 * ```
 */
export class CheckpointFormatError extends LenetMnistError {}

/** First bytes of a checkpoint file. */
const MAGIC = 'LNMC';
/**
 * Checkpoint format version written by `encodeCheckpoint`; `decodeCheckpoint`
 * refuses others.
 *
 * @example
 * ```ts
 * const bytes = encodeCheckpoint(checkpoint);
 * console.log(new DataView(bytes.buffer).getUint32(4, true) === CHECKPOINT_FORMAT_VERSION); // true
 * ```
 */
export const CHECKPOINT_FORMAT_VERSION = 1;
/** Header sizes beyond this are refused before parsing (a real one is a few KB). */
const MAX_HEADER_BYTES = 1 << 20;

interface Header {
  spec: ModelSpec;
  preprocessing: Preprocessing;
  step: number;
  next: TrainCheckpoint['next'];
  run: TrainCheckpoint['run'];
  partialEpoch: TrainCheckpoint['partialEpoch'];
  epochs: TrainCheckpoint['epochs'];
}

/**
 * Serialises a checkpoint: magic `LNMC`, a little-endian u32 version and u32 header length, a
 * JSON header, zero padding to a multiple of 4, then the weights, Adam's first and second
 * moments as little-endian float32, each in parameter order.
 *
 * @example
 * ```ts
 * const bytes = encodeCheckpoint(history.checkpoint);
 * localStorage.setItem('lenet-run', btoa(String.fromCharCode(...bytes)));
 * ```
 * @throws {@link CheckpointFormatError} for a checkpoint whose arrays do not fit its architecture.
 */
export function encodeCheckpoint(checkpoint: TrainCheckpoint): Uint8Array {
  const sizes = checkSizes(checkpoint.spec, checkpoint);
  const header: Header = {
    spec: checkpoint.spec,
    preprocessing: checkpoint.preprocessing,
    step: checkpoint.optimizer.step,
    next: checkpoint.next,
    run: checkpoint.run,
    partialEpoch: checkpoint.partialEpoch,
    epochs: checkpoint.epochs,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align4(12 + json.length);
  const floats = sizes.reduce((a, b) => a + b, 0) * 3;
  const out = new Uint8Array(dataStart + floats * 4);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, CHECKPOINT_FORMAT_VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  let offset = dataStart;
  for (const group of [
    checkpoint.weights,
    checkpoint.optimizer.firstMoment,
    checkpoint.optimizer.secondMoment,
  ]) {
    for (const arr of group) {
      for (let i = 0; i < arr.length; i++) view.setFloat32(offset + i * 4, arr[i] as number, true);
      offset += arr.length * 4;
    }
  }
  return out;
}

/**
 * Reads the bytes of `encodeCheckpoint`, validating everything before allocating the
 * arrays: magic, version, header fields and ranges, array sizes against the architecture,
 * finite values.
 *
 * @example
 * ```ts
 * const checkpoint = decodeCheckpoint(await readFile('run.ckpt'), 'run.ckpt');
 * console.log(`resumes at epoch ${checkpoint.next.epoch}, batch ${checkpoint.next.batch}`);
 * ```
 * @param bytes - The checkpoint's bytes.
 * @param source - A name for the bytes in error messages. Default `'checkpoint'`.
 * @throws {@link CheckpointFormatError} naming the first problem found.
 */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): TrainCheckpoint {
  const fail = (msg: string): never => {
    throw new CheckpointFormatError(`${source}: ${msg}`);
  };
  const { view, headerBytes, raw } = readFixedHeader(bytes, fail);
  const checked = checkHeader(raw, fail);
  const sizes = expectedTensors(checked.spec).map((t) => t.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const dataStart = align4(12 + headerBytes);
  const expectedBytes = dataStart + total * 3 * 4;
  if (bytes.length !== expectedBytes) {
    fail(`${bytes.length} bytes, the header's architecture needs ${expectedBytes}`);
  }
  let offset = dataStart;
  const readGroup = (what: string): Float32Array[] =>
    sizes.map((n, p) => {
      const arr = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getFloat32(offset + i * 4, true);
        if (!Number.isFinite(v)) fail(`${what}[${p}][${i}] is ${v}; values must be finite`);
        arr[i] = v;
      }
      offset += n * 4;
      return arr;
    });
  const weights = readGroup('weights');
  const firstMoment = readGroup('firstMoment');
  const secondMoment = readGroup('secondMoment');
  return {
    spec: checked.spec,
    preprocessing: checked.preprocessing,
    weights,
    optimizer: { step: checked.step, firstMoment, secondMoment },
    next: checked.next,
    run: checked.run,
    partialEpoch: checked.partialEpoch,
    epochs: checked.epochs,
  };
}

/** Magic, version and the JSON header's bytes, each checked. */
function readFixedHeader(bytes: Uint8Array, fail: (msg: string) => never) {
  if (!(bytes instanceof Uint8Array)) fail('expected a Uint8Array');
  if (bytes.length < 12) fail(`truncated: ${bytes.length} bytes, the fixed header needs 12`);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== MAGIC)
    fail(`not a checkpoint: magic ${JSON.stringify(magic)}, expected "${MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    fail(`format version ${version}, this library reads ${CHECKPOINT_FORMAT_VERSION}`);
  }
  const headerBytes = view.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES) fail(`header of ${headerBytes} bytes is implausibly large`);
  if (12 + headerBytes > bytes.length) fail(`truncated header: ${headerBytes} bytes announced`);
  let raw: unknown;
  try {
    raw = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + headerBytes)),
    );
  } catch (err) {
    fail(`header is not JSON: ${(err as Error).message}`);
  }
  return { view, headerBytes, raw };
}

/** The JSON header, every field checked. */
function checkHeader(raw: unknown, fail: (msg: string) => never): Header {
  const h = raw as Partial<Header> | null;
  if (h === null || typeof h !== 'object' || Array.isArray(h)) fail('header is not an object');
  const header = h as Partial<Header>;
  const spec = validateSpec(header.spec, (msg) => fail(msg));
  const preprocessing = checkPreprocessing(header.preprocessing, spec, fail);
  const step = checkInt(header.step, 'step', 0, fail);
  const next = checkObject(header.next, 'next', fail);
  const run = checkObject(header.run, 'run', fail);
  const partial = checkObject(header.partialEpoch, 'partialEpoch', fail);
  return {
    spec,
    preprocessing,
    step,
    next: {
      epoch: checkInt(next.epoch, 'next.epoch', 1, fail),
      batch: checkInt(next.batch, 'next.batch', 0, fail),
    },
    run: {
      seed: checkNumber(run.seed, 'run.seed', fail),
      batchSize: checkInt(run.batchSize, 'run.batchSize', 1, fail),
      shuffle:
        typeof run.shuffle === 'boolean' ? run.shuffle : fail('run.shuffle must be a boolean'),
      dataCount: checkInt(run.dataCount, 'run.dataCount', 1, fail),
    },
    partialEpoch: {
      lossSum: checkNumber(partial.lossSum, 'partialEpoch.lossSum', fail),
      correct: checkInt(partial.correct, 'partialEpoch.correct', 0, fail),
      seen: checkInt(partial.seen, 'partialEpoch.seen', 0, fail),
      batches: checkInt(partial.batches, 'partialEpoch.batches', 0, fail),
      seconds: checkNumber(partial.seconds, 'partialEpoch.seconds', fail),
    },
    epochs: checkEpochs(header.epochs, fail),
  };
}

/**
 * Writes a checkpoint to a file atomically (Node, Deno, Bun): the old file is replaced only once
 * the new one is complete.
 *
 * @example
 * ```ts
 * await train(model, data, {
 *   onEpochEnd: async (epoch, logs, context) => saveCheckpointFile('run.ckpt', await context.checkpoint()),
 * });
 * ```
 * @throws {@link CheckpointFormatError} for an inconsistent checkpoint; the host's error if the
 *   file cannot be written.
 */
export async function saveCheckpointFile(path: string, checkpoint: TrainCheckpoint): Promise<void> {
  await platform.writeFile(path, encodeCheckpoint(checkpoint));
}

/**
 * Reads a checkpoint written by {@link saveCheckpointFile} (a path in Node, a URL anywhere).
 *
 * @example
 * ```ts
 * const history = await train(model, data, { resumeFrom: await loadCheckpointFile('run.ckpt') });
 * ```
 * @throws {@link CheckpointFormatError} for invalid bytes; the host's error if it cannot be read.
 */
export async function loadCheckpointFile(path: string | URL): Promise<TrainCheckpoint> {
  return decodeCheckpoint(await platform.readFile(path), String(path));
}

function checkSizes(spec: ModelSpec, checkpoint: TrainCheckpoint): number[] {
  const expected = expectedTensors(spec);
  const sizes = expected.map((t) => t.shape.reduce((a, b) => a * b, 1));
  const groups: [string, readonly Float32Array[]][] = [
    ['weights', checkpoint.weights],
    ['optimizer.firstMoment', checkpoint.optimizer.firstMoment],
    ['optimizer.secondMoment', checkpoint.optimizer.secondMoment],
  ];
  for (const [what, arrays] of groups) {
    if (arrays.length !== sizes.length) {
      throw new CheckpointFormatError(
        `${what}: ${arrays.length} arrays, the architecture has ${sizes.length} parameters`,
      );
    }
    arrays.forEach((a, i) => {
      if (a.length !== sizes[i]) {
        throw new CheckpointFormatError(
          `${what}[${i}] (${expected[i]?.name}): ${a.length} values, expected ${sizes[i]}`,
        );
      }
    });
  }
  return sizes;
}

function checkPreprocessing(
  raw: unknown,
  spec: ModelSpec,
  fail: (msg: string) => never,
): Preprocessing {
  const p = checkObject(raw, 'preprocessing', fail);
  if (p.size !== spec.inputSize)
    fail(`preprocessing.size ${String(p.size)} does not match spec.inputSize ${spec.inputSize}`);
  if (p.resize !== 'bilinear' && p.resize !== 'pad' && p.resize !== 'none') {
    fail(`preprocessing.resize ${JSON.stringify(p.resize)}: expected "bilinear", "pad" or "none"`);
  }
  const mean = checkNumber(p.mean, 'preprocessing.mean', fail);
  const std = checkNumber(p.std, 'preprocessing.std', fail);
  if (!(std > 0)) fail(`preprocessing.std ${std} must be above 0`);
  return { size: spec.inputSize, resize: p.resize as Preprocessing['resize'], mean, std };
}

function checkEpochs(raw: unknown, fail: (msg: string) => never): EpochLogs[] {
  if (!Array.isArray(raw)) return fail('epochs must be an array');
  return raw.map((e, i) => {
    const logs = checkObject(e, `epochs[${i}]`, fail);
    // JSON has no NaN: an epoch whose sums were lost (a lost GPU device) is stored as null.
    const figure = (k: string) =>
      logs[k] === null ? Number.NaN : checkNumber(logs[k], `epochs[${i}].${k}`, fail);
    const out: EpochLogs = {
      epoch: checkInt(logs.epoch, `epochs[${i}].epoch`, 1, fail),
      loss: figure('loss'),
      accuracy: figure('accuracy'),
      seconds: checkNumber(logs.seconds, `epochs[${i}].seconds`, fail),
      samplesPerSecond: figure('samplesPerSecond'),
      batches: checkInt(logs.batches, `epochs[${i}].batches`, 0, fail),
    };
    if (logs.augmentSeconds !== undefined) out.augmentSeconds = figure('augmentSeconds');
    if (logs.learningRate !== undefined) out.learningRate = figure('learningRate');
    if (logs.valLoss !== undefined) out.valLoss = figure('valLoss');
    if (logs.valAccuracy !== undefined) out.valAccuracy = figure('valAccuracy');
    return out;
  });
}

function checkObject(
  raw: unknown,
  what: string,
  fail: (msg: string) => never,
): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    fail(`${what} must be an object`);
  return raw as Record<string, unknown>;
}

function checkNumber(raw: unknown, what: string, fail: (msg: string) => never): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw))
    fail(`${what} must be a finite number, got ${JSON.stringify(raw)}`);
  return raw as number;
}

function checkInt(raw: unknown, what: string, min: number, fail: (msg: string) => never): number {
  if (!Number.isSafeInteger(raw) || (raw as number) < min)
    fail(`${what} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return raw as number;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
