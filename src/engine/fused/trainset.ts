// The bound training set inside a fused module (asm/trainset.ts): written once per `train` call,
// then each step stages only its indices and the module gathers and normalises the batch. Shared
// by both kernel sets' wrappers (kernels.ts, net-kernels.ts) and so by the workers too.
import { FusedLeNetError } from '../errors.js';

/** The 8-bit images, labels and normalisation table a module keeps for indexed steps. */
export interface ModuleTrainingSet {
  /** At least `count` images of the module's input size, one byte per pixel. */
  readonly images: Uint8Array;
  /** At least `count` labels, 0..9. */
  readonly labels: Uint8Array;
  readonly count: number;
  /** 256 floats: pixel value -> normalised input (`normalizationTable(mean, std)`). */
  readonly table: Float32Array;
}

/** What the wrappers call in either module to bind a set and gather a step. */
export interface SetExports {
  readonly memory: WebAssembly.Memory;
  bindSet(count: number): number;
  unbindSet(): void;
  setLabelsPtr(): number;
  setPixelsPtr(): number;
  indicesPtr(): number;
  gatherBatch(n: number): number;
}

const CLASSES = 10;

/**
 * Checks `set` (sizes, labels 0..9, a 256-entry table) and writes it into the module: the batch
 * buffers move, so the caller lays them out again.
 *
 * @throws {@link FusedLeNetError} naming what is wrong, or when memory cannot grow.
 */
export function writeTrainingSet(k: SetExports, set: ModuleTrainingSet, imageBytes: number): void {
  const { images, labels, count, table } = set;
  if (!Number.isInteger(count) || count < 1) {
    throw new FusedLeNetError(`count must be an integer >= 1, got ${count}.`);
  }
  if (images.length < count * imageBytes) {
    throw new FusedLeNetError(
      `The set's images hold ${images.length} bytes, fewer than ${count} images of ${imageBytes}.`,
    );
  }
  if (labels.length < count) {
    throw new FusedLeNetError(`The set holds ${labels.length} labels, fewer than ${count}.`);
  }
  if (table.length !== 256) {
    throw new FusedLeNetError(`The normalisation table must hold 256 floats, got ${table.length}.`);
  }
  const setLabels = labels.subarray(0, count);
  const bad = setLabels.findIndex((l) => l >= CLASSES);
  if (bad >= 0) {
    throw new FusedLeNetError(`labels[${bad}] = ${setLabels[bad]} is not a class 0..9.`);
  }
  const base = k.bindSet(count) >>> 0;
  if (base === 0) {
    throw new FusedLeNetError(`Cannot grow WebAssembly memory for a training set of ${count}.`);
  }
  const buffer = k.memory.buffer;
  new Float32Array(buffer, base, 256).set(table);
  new Uint8Array(buffer, k.setLabelsPtr() >>> 0, count).set(setLabels);
  new Uint8Array(buffer, k.setPixelsPtr() >>> 0, count * imageBytes).set(
    images.subarray(0, count * imageBytes),
  );
}

/**
 * Stages a step's `indices` (the batch buffers hold room for them) and gathers the batch inside
 * the module.
 *
 * @throws {@link FusedLeNetError} when no set is bound or an index is past it.
 */
export function gatherIndices(k: SetExports, indices: Uint32Array, bound: number): void {
  const n = indices.length;
  new Uint32Array(k.memory.buffer, k.indicesPtr() >>> 0, n).set(indices);
  if (!k.gatherBatch(n)) {
    if (bound === 0) {
      throw new FusedLeNetError('trainStep needs a training set: call bindTrainingSet.');
    }
    const at = indices.findIndex((j) => j >= bound);
    throw new FusedLeNetError(`indices[${at}] is ${indices[at]}, past the set's ${bound} images.`);
  }
}
