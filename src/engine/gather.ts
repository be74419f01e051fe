import { augmentBatch } from '../data/augment.js';
import { normalizationTable } from '../data/preprocess.js';
import { FusedLeNetError } from './errors.js';
import type { AdamSettings, StepBatch, StepStats, TrainBatch, TrainingSet } from './types.js';

/** One of the two batch buffers: normalised floats, distorted copies, labels. */
interface Slot {
  images: Float32Array;
  augmented: Float32Array | undefined;
  labels: Uint8Array;
  /** The step whose batch the slot holds (`epoch:batch`), or '' when none. */
  key: string;
}

/**
 * The one CPU gatherer: builds a bound training set's batches as floats for the engines that
 * compute on floats (the fused WASM and tfjs engines; the WebGPU engine when its set does not stay
 * on the GPU). A batch is its images `indices[0..n)` of the set through the 256-entry
 * normalisation table (the same floats `batches` gives), then, when the set is bound with
 * augmentation, distorted as `augmentBatch` does with the key (seed, epoch, batch). Two buffers
 * alternate by batch parity, so the next batch can be built (`prepare`) while the current one is
 * still in use.
 */
export class BatchGatherer {
  readonly #set: TrainingSet;
  readonly #table: Float32Array;
  readonly #pixels: number;
  readonly #slots: Slot[] = [];
  /** Milliseconds spent distorting since the last {@link BatchGatherer.takeAugmentSeconds}. */
  #augmentMs = 0;

  constructor(set: TrainingSet) {
    const { data } = set;
    if (!Number.isInteger(data.count) || data.count < 1) {
      throw new FusedLeNetError(`count must be an integer >= 1, got ${data.count}.`);
    }
    this.#set = set;
    this.#table = normalizationTable(data.mean, data.std);
    this.#pixels = data.width * data.height;
  }

  /** The set this gatherer reads. */
  get set(): TrainingSet {
    return this.#set;
  }

  /** Builds `step`'s batch now, into the buffer of its parity, unless it is there already. */
  prepare(step: StepBatch): void {
    this.batch(step);
  }

  /**
   * `step`'s batch as floats and labels (in a buffer that batch `step.batch + 2` reuses).
   *
   * @throws {@link FusedLeNetError} when an index is past the set.
   */
  batch(step: StepBatch): TrainBatch {
    const n = step.indices.length;
    const slot = this.#slot(step.batch & 1, n);
    const key = `${step.epoch}:${step.batch}:${n}`;
    const images = slot.images.subarray(0, n * this.#pixels);
    const labels = slot.labels.subarray(0, n);
    if (slot.key === key) return { images: this.#distorted(slot, n) ?? images, labels, n };
    slot.key = '';
    this.#gather(step.indices, images, labels);
    const augment = this.#set.augment;
    let out = images;
    if (augment !== undefined) {
      const t0 = now();
      out = (slot.augmented as Float32Array).subarray(0, n * this.#pixels);
      const background = this.#table[0] as number;
      augmentBatch(images, out, n, this.#set.data.width, background, augment.options, {
        seed: augment.seed,
        epoch: step.epoch,
        batch: step.batch,
      });
      this.#augmentMs += now() - t0;
    }
    slot.key = key;
    return { images: out, labels, n };
  }

  /** Seconds spent distorting images since the last call. */
  takeAugmentSeconds(): number {
    const seconds = this.#augmentMs / 1000;
    this.#augmentMs = 0;
    return seconds;
  }

  #distorted(slot: Slot, n: number): Float32Array | undefined {
    return slot.augmented?.subarray(0, n * this.#pixels);
  }

  #slot(parity: number, n: number): Slot {
    let slot = this.#slots[parity];
    if (slot === undefined || slot.labels.length < n) {
      const floats = n * this.#pixels;
      slot = {
        images: new Float32Array(floats),
        augmented: this.#set.augment ? new Float32Array(floats) : undefined,
        labels: new Uint8Array(n),
        key: '',
      };
      this.#slots[parity] = slot;
    }
    return slot;
  }

  /** Images `indices` of the set through the normalisation table: the hot loop of every epoch. */
  #gather(indices: Uint32Array, images: Float32Array, labels: Uint8Array): void {
    const { images: src, labels: setLabels, count } = this.#set.data;
    const pixels = this.#pixels;
    const table = this.#table;
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i] as number;
      if (j >= count) {
        throw new FusedLeNetError(`indices[${i}] is ${j}, past the set's ${count} images.`);
      }
      labels[i] = setLabels[j] as number;
      let s = j * pixels;
      const end = s + pixels;
      let d = i * pixels;
      while (s < end) images[d++] = table[src[s++] as number] as number;
    }
  }
}

/**
 * The CPU side of an engine that trains on floats: the bound set's gatherer, if any. Engines hold
 * one and delegate `bindTrainingSet`, `prepareStep` and the gathering half of `trainStep`.
 */
export class CpuTrainingFeed {
  #gatherer: BatchGatherer | undefined;

  bind(set: TrainingSet): void {
    this.#gatherer = new BatchGatherer(set);
  }

  unbind(): void {
    this.#gatherer = undefined;
  }

  prepare(step: StepBatch): void {
    this.#gatherer?.prepare(step);
  }

  /**
   * `step`'s batch from the bound set.
   *
   * @throws {@link FusedLeNetError} when no set is bound or an index is past it.
   */
  batch(step: StepBatch): TrainBatch {
    if (this.#gatherer === undefined) {
      throw new FusedLeNetError('trainStep needs a training set: call bindTrainingSet.');
    }
    return this.#gatherer.batch(step);
  }

  takeAugmentSeconds(): number {
    return this.#gatherer?.takeAugmentSeconds() ?? 0;
  }
}

/**
 * The training half of the `Engine` contract for the engines that compute on floats (fused WASM,
 * tfjs): the bound set's batches come from the shared gatherer, and each step is the engine's
 * {@link CpuFedEngine.trainBatch} on its batch.
 */
export abstract class CpuFedEngine {
  /** The bound training set's batches, built on the CPU. */
  protected readonly feed = new CpuTrainingFeed();

  bindTrainingSet(set: TrainingSet): void {
    this.feed.bind(set);
  }

  prepareStep(step: StepBatch): void {
    this.feed.prepare(step);
  }

  unbindTrainingSet(): void {
    this.feed.unbind();
  }

  /** {@link CpuFedEngine.trainBatch} on the bound set's batch, built by the CPU gatherer. */
  trainStep(step: StepBatch, adam: AdamSettings, read: boolean): Promise<StepStats | undefined> {
    return this.trainBatch(this.feed.batch(step), adam, read);
  }

  /** One Adam step on a batch of floats (the gatherer's, or a test's). */
  abstract trainBatch(
    batch: TrainBatch,
    adam: AdamSettings,
    read: boolean,
  ): Promise<StepStats | undefined>;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
