// The bound training set inside a fused module (asm/trainset.ts): written once per `train` call,
// then each step stages only its indices (and, when training with augmentation, each image's
// drawn distortion: AUGMENT_PARAMS numbers) and the module gathers, normalises and distorts the
// batch. Shared by both kernel sets' wrappers (kernels.ts, net-kernels.ts) and so by the workers
// too.
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
  /**
   * Whether steps are distorted inside the module, and the elastic field's settings (`elastic`
   * pixels, 0 for none, on a `grid`² grid); the rest of each image's distortion comes with its
   * step (engine.ts, `augmentParams`). Absent: steps are gathered as is.
   */
  readonly augment?: { readonly elastic: number; readonly grid: number };
}

/** Numbers staged per image of a distorted step (asm/trainset.ts, AUGMENT_PARAMS). */
export const AUGMENT_PARAMS = 8;

/** What the wrappers call in either module to bind a set and gather a step. */
export interface SetExports {
  readonly memory: WebAssembly.Memory;
  bindSet(count: number): number;
  unbindSet(): void;
  setLabelsPtr(): number;
  setPixelsPtr(): number;
  indicesPtr(): number;
  gatherBatch(n: number): number;
  augmentParamsPtr(): number;
  distortBatch(n: number, elastic: number, grid: number): number;
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
  if (set.augment !== undefined) {
    const { elastic, grid } = set.augment;
    if (
      !(elastic >= 0 && Number.isFinite(elastic)) ||
      !Number.isInteger(grid) ||
      grid < 2 ||
      grid > 64
    ) {
      throw new FusedLeNetError(`Bad elastic settings: elastic ${elastic}, grid ${grid}.`);
    }
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

/**
 * Checks a step's `distortions` against the bound set's `augment` settings: a set bound with
 * augmentation needs AUGMENT_PARAMS numbers per image (keep (1 or 0), a, b, d, e, tx, ty and
 * mulberry32's state, as `augmentTransform` draws them), one bound without takes none.
 *
 * @throws {@link FusedLeNetError} when they are missing, too few, or not wanted.
 */
export function checkDistortions(
  n: number,
  augment: ModuleTrainingSet['augment'],
  distortions: Float64Array | undefined,
): void {
  if (augment === undefined) {
    if (distortions !== undefined) {
      throw new FusedLeNetError('Distortions were given for a set bound without augmentation.');
    }
    return;
  }
  if (distortions === undefined) {
    throw new FusedLeNetError(
      'The set was bound with augmentation: each step needs its distortions.',
    );
  }
  if (distortions.length < n * AUGMENT_PARAMS) {
    throw new FusedLeNetError(
      `${distortions.length} distortion values are too few for ${n} images (${AUGMENT_PARAMS} each).`,
    );
  }
}

/**
 * Distorts the `n` images just gathered (see {@link gatherIndices}) in place inside the module,
 * as `augmentBatch` does: `distortions` checked by {@link checkDistortions}, the elastic field
 * of `augment`.
 */
export function distortGathered(
  k: SetExports,
  n: number,
  augment: NonNullable<ModuleTrainingSet['augment']>,
  distortions: Float64Array,
): void {
  new Float64Array(k.memory.buffer, k.augmentParamsPtr() >>> 0, n * AUGMENT_PARAMS).set(
    distortions.subarray(0, n * AUGMENT_PARAMS),
  );
  if (!k.distortBatch(n, augment.elastic, augment.grid)) {
    throw new FusedLeNetError('The kernels cannot distort images of this size.');
  }
}
