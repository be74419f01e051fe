/**
 * Seeded shuffling, train/validation splits and normalised mini-batches.
 *
 * @module
 */
import { OptionError } from '../errors.js';
import {
  checkBoolean,
  checkFinite,
  checkImageSet,
  checkInt,
  checkOptions,
  describeValue,
} from './check.js';
import { normalizationTable, type PreparedSet } from './preprocess.js';

/**
 * The largest `batchSize` `batches` and `batchCount` accept: 2^24 (16,777,216).
 * Larger values are refused with an {@link OptionError} before anything is allocated.
 *
 * @example
 * ```ts
 * batches(train, { batchSize: Math.min(requested, MAX_BATCH_SIZE) });
 * ```
 */
export const MAX_BATCH_SIZE = 2 ** 24;

/**
 * mulberry32, a tiny 32-bit PRNG (Tommy Ettinger): fast, passes gjrand/PractRand to a few GB,
 * plenty for shuffling. Not for cryptography.
 *
 * @param seed - Any finite number; it is truncated to 32 bits (`seed >>> 0`).
 * @returns A function returning uniform floats in [0, 1) with 32 random bits each.
 * @throws {@link OptionError} if `seed` is not a finite number.
 *
 * @example
 * ```ts
 * const random = mulberry32(42);
 * random(); // always the same first value for seed 42
 * ```
 */
export function mulberry32(seed: number): () => number {
  checkFinite('mulberry32', 'seed', seed);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random permutation of `0 ... count - 1`: Fisher–Yates driven by `mulberry32`, so the
 * same `count` and `seed` give the same order on every platform.
 *
 * @param count - How many indices (up to 2^32 - 1).
 * @param seed - Seed, a finite number; different seeds give (almost always) different orders.
 * @throws {@link OptionError} (a `RangeError`) if `count` is not an integer from 0 to 2^32 - 1
 *   or `seed` is not a finite number.
 *
 * @example
 * ```ts
 * const order = shuffledIndices(60000, 1); // Uint32Array, each index exactly once
 * ```
 */
export function shuffledIndices(count: number, seed: number): Uint32Array {
  checkInt('shuffledIndices', 'count', count, 0, 2 ** 32 - 1);
  checkFinite('shuffledIndices', 'seed', seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = i;
  const random = mulberry32(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

/** Copies the listed samples of `set` into a new set (same size and normalisation). */
function subset(set: PreparedSet, indices: Uint32Array): PreparedSet {
  const pixels = set.height * set.width;
  const images = new Uint8Array(indices.length * pixels);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i] as number;
    images.set(set.images.subarray(j * pixels, (j + 1) * pixels), i * pixels);
    labels[i] = set.labels[j] as number;
  }
  return { ...set, images, labels, count: indices.length };
}

/**
 * Options of {@link splitValidation}.
 *
 * @example
 * ```ts
 * const options: SplitOptions = { size: 10000, seed: 42 };
 * ```
 */
export interface SplitOptions {
  /** Number of samples held out for validation, 1 to `count - 1` (the reference: 10,000). */
  size: number;
  /**
   * Pick the validation samples at random (seeded). Default: `true`. `false` takes the last
   * `size` samples, as Keras' `validation_split`.
   */
  shuffle?: boolean;
  /** Seed of the random pick. Default: 0. */
  seed?: number;
}

/**
 * Splits a set into training and validation sets (the reference: 60,000 → 50,000 + 10,000),
 * copying into new arrays. Deterministic for a given seed; each subset keeps the original order
 * of its samples (shuffle per epoch with `batches`).
 *
 * @param set - The set to split.
 * @param options - `size` (required), `shuffle` (true), `seed` (0).
 * @returns Two disjoint sets that together hold every sample once.
 * @throws {@link OptionError} (a `RangeError`) if `size` is not an integer from 1 to
 *   `count - 1`, `shuffle` is not a boolean or `seed` not a finite number;
 *   {@link DatasetError} if `set` is not a consistent {@link PreparedSet}.
 *
 * @example
 * ```ts
 * const { train, validation } = splitValidation(prepareImages(mnist.train), { size: 10000, seed: 1 });
 * console.log(train.count, validation.count); // 50000 10000
 * ```
 */
export function splitValidation(
  set: PreparedSet,
  options: SplitOptions,
): { train: PreparedSet; validation: PreparedSet } {
  checkImageSet('splitValidation', set, true);
  checkOptions('splitValidation', options);
  const { size, shuffle = true, seed = 0 } = options;
  if (!Number.isInteger(size) || size < 1 || size >= set.count) {
    throw new OptionError(
      'size',
      `splitValidation: validation size must be an integer from 1 to ${set.count - 1} (count - 1), got ${describeValue(size)}`,
    );
  }
  checkBoolean('splitValidation', 'shuffle', shuffle);
  checkFinite('splitValidation', 'seed', seed);
  const order = shuffle ? shuffledIndices(set.count, seed) : null;
  const trainCount = set.count - size;
  // Sorted indices keep each subset in the original order and make the copies sequential.
  const validationIdx = order
    ? order.slice(0, size).sort()
    : Uint32Array.from({ length: size }, (_, i) => trainCount + i);
  const trainIdx = order
    ? order.slice(size).sort()
    : Uint32Array.from({ length: trainCount }, (_, i) => i);
  return { train: subset(set, trainIdx), validation: subset(set, validationIdx) };
}

/**
 * One mini-batch: `size` images normalised to float32, NHWC with one channel
 * (`[size, height, width, 1]` flattened), and their labels.
 *
 * @example
 * ```ts
 * for (const { images, labels, size } of batches(train, { batchSize: 64 })) {
 *   const x = tf.tensor4d(images, [size, 32, 32, 1]);
 *   const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
 * }
 * ```
 */
export interface Batch {
  /** `size * height * width` normalised pixels. */
  images: Float32Array;
  /** `size` labels. */
  labels: Uint8Array;
  /** Number of samples: `batchSize`, or fewer for the last batch. */
  size: number;
  /** Position of this batch in the epoch, from 0. */
  index: number;
}

/**
 * Options of `batches`.
 *
 * @example
 * ```ts
 * const options: BatchOptions = { batchSize: 64, shuffle: true, seed: 1000 + epoch };
 * ```
 */
export interface BatchOptions {
  /**
   * Samples per batch, an integer from 1 to `MAX_BATCH_SIZE`; a batch larger than the set
   * holds the whole set.
   */
  batchSize: number;
  /** Visit the samples in a random order. Default: `false`. */
  shuffle?: boolean;
  /**
   * Seed of the order when shuffling. Default: a random seed per call. Pass e.g.
   * `baseSeed + epoch` for reproducible epochs that still differ from each other.
   */
  seed?: number;
  /** Skip the last batch when it would be smaller than `batchSize`. Default: `false`. */
  dropRemainder?: boolean;
  /**
   * Recycle two buffers instead of allocating each batch. Default: `false`: every batch has
   * its own arrays and may be kept. With `true`, a batch's arrays are overwritten two batches
   * later — enough to prepare the next batch while the current one is in use, less garbage
   * for the collector.
   */
  reuseBuffers?: boolean;
  /**
   * Start at this batch (0-based) of the epoch, skipping the earlier ones without building
   * them: the order is the same as from the start, so a resumed epoch sees the same batches.
   * Default: 0.
   */
  startBatch?: number;
}

function checkBatchSize(fn: string, batchSize: unknown): void {
  checkInt(fn, 'batchSize', batchSize, 1, MAX_BATCH_SIZE);
}

/**
 * Number of batches `batches` yields for a set.
 *
 * @throws {@link OptionError} (a `RangeError`) if `batchSize` is not an integer from 1 to
 *   `MAX_BATCH_SIZE`, `set.count` is not a non-negative integer, or `dropRemainder` is not
 *   a boolean.
 *
 * @example
 * ```ts
 * batchCount({ count: 50000 }, 64); // 782 (the last one holds 16 samples)
 * batchCount({ count: 50000 }, 64, true); // 781
 * ```
 */
export function batchCount(
  set: { readonly count: number },
  batchSize: number,
  dropRemainder = false,
): number {
  checkBatchSize('batchCount', batchSize);
  checkInt(
    'batchCount',
    'set.count',
    (set as { count?: unknown } | null)?.count,
    0,
    Number.MAX_SAFE_INTEGER,
  );
  checkBoolean('batchCount', 'dropRemainder', dropRemainder);
  return dropRemainder ? Math.floor(set.count / batchSize) : Math.ceil(set.count / batchSize);
}

/**
 * Iterates over a set in mini-batches, normalising pixels with the set's mean and std through
 * `normalizationTable` (the exact float32 values of the reference pipeline). Each sample
 * appears exactly once per call (epoch); the last batch may be smaller unless `dropRemainder`.
 *
 * @param set - From {@link prepareImages} or {@link splitValidation}.
 * @param options - `batchSize` (required), `shuffle` (false), `seed` (random), `dropRemainder`
 *   (false), `reuseBuffers` (false).
 * @throws At the call, not at the first `next()`, and before allocating anything:
 *   {@link OptionError} (a `RangeError`) if `batchSize` is not an integer from 1 to
 *   `MAX_BATCH_SIZE`, `shuffle`/`dropRemainder`/`reuseBuffers` is not a boolean or `seed`
 *   not a finite number; {@link DatasetError} if `set` is not a consistent {@link PreparedSet}
 *   (count, sizes, array lengths, mean and std).
 *
 * @example
 * ```ts
 * for (let epoch = 0; epoch < 5; epoch++) {
 *   for (const batch of batches(train, { batchSize: 64, shuffle: true, seed: 1000 + epoch })) {
 *     await step(batch.images, batch.labels, batch.size);
 *   }
 * }
 * ```
 */
export function batches(
  set: PreparedSet,
  options: BatchOptions,
): Generator<Batch, void, undefined> {
  // Validate and shuffle now, so mistakes surface at the call rather than at the first next().
  checkImageSet('batches', set, true);
  checkOptions('batches', options);
  const { batchSize, shuffle = false, dropRemainder = false } = options;
  checkBatchSize('batches', batchSize);
  checkBoolean('batches', 'shuffle', shuffle);
  checkBoolean('batches', 'dropRemainder', dropRemainder);
  checkBoolean('batches', 'reuseBuffers', options.reuseBuffers);
  checkFinite('batches', 'seed', options.seed, true);
  const n = batchCount(set, batchSize, dropRemainder);
  const table = normalizationTable(set.mean, set.std);
  const seed = options.seed ?? Math.floor(Math.random() * 4294967296);
  const order = shuffle ? shuffledIndices(set.count, seed) : null;
  const startBatch = options.startBatch ?? 0;
  if (!Number.isInteger(startBatch) || startBatch < 0) {
    throw new RangeError(`startBatch must be an integer >= 0, got ${startBatch}`);
  }
  return generate(set, batchSize, n, table, order, options.reuseBuffers ?? false, startBatch);
}

function* generate(
  set: PreparedSet,
  batchSize: number,
  n: number,
  table: Float32Array,
  order: Uint32Array | null,
  reuseBuffers: boolean,
  startBatch: number,
): Generator<Batch, void, undefined> {
  const { count, labels } = set;
  const pixels = set.height * set.width;
  const src = set.images;
  // No batch is larger than the set: a huge batchSize allocates no more than the set needs.
  const largest = Math.min(batchSize, count);
  const pool = reuseBuffers
    ? [0, 1].map(() => ({
        images: new Float32Array(largest * pixels),
        labels: new Uint8Array(largest),
      }))
    : [];

  for (let b = startBatch; b < n; b++) {
    const start = b * batchSize;
    const size = Math.min(batchSize, count - start);
    const buffers = pool[b & 1];
    const images = buffers
      ? buffers.images.subarray(0, size * pixels)
      : new Float32Array(size * pixels);
    const batchLabels = buffers ? buffers.labels.subarray(0, size) : new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      const j = order ? (order[start + i] as number) : start + i;
      batchLabels[i] = labels[j] as number;
      // Inline lookup: this is the hot loop of every epoch.
      let s = j * pixels;
      const end = s + pixels;
      let d = i * pixels;
      while (s < end) images[d++] = table[src[s++] as number] as number;
    }
    yield { images, labels: batchLabels, size, index: b };
  }
}
