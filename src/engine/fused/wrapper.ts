// The base of both kernel wrappers (kernels.ts: the default LeNet's hand-tuned kernels;
// net-kernels.ts: the generic layer-table kernels): what they share over their modules' common
// ABI (staging a batch, a training step, forward passes in chunks, the data-parallel pieces:
// parameter and gradient bytes, gradient mixing, a guarded Adam update; Adam's step count;
// dispose). Each subclass says how parameters are laid out in its module (the blocks).
// It imports nothing host-specific, so the worker bundle stays small.
import { FusedLeNetError } from '../errors.js';
import {
  checkDistortions,
  distortGathered,
  gatherIndices,
  type ModuleTrainingSet,
  type SetExports,
  writeTrainingSet,
} from './trainset.js';

/** Which binary is running: relaxed SIMD uses fused multiply-add (`f32x4.relaxed_madd`). */
export type FusedVariant = 'relaxed-simd' | 'simd';

/**
 * Adam hyperparameters; defaults are PyTorch's and tfjs' (1e-3, 0.9, 0.999, 1e-8, no weight
 * decay). `weightDecay` above 0 makes it AdamW (decoupled, as PyTorch's `AdamW`).
 */
export interface AdamHyperparameters {
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
}

/** Result of one training step, computed before the parameter update. */
export interface FusedStepResult {
  /** Mean softmax cross-entropy over the batch. */
  loss: number;
  /** Samples whose first maximal logit is the label. */
  correct: number;
}

/** The four parameter-shaped blocks of a module: parameters, gradients, Adam's moments. */
export type BlockName = 'params' | 'grads' | 'firstMoment' | 'secondMoment';

/** The kernels' Adam arguments of one step, in their order (see {@link adamStepArguments}). */
export type AdamStepArgs = [
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  bc1: number,
  bc2: number,
  updateBound: number,
  decay: number,
];

/** Adam's state as the wrappers read and write it, laid out like the parameters. */
export interface KernelAdamState {
  step: number;
  firstMoment: readonly Float32Array[];
  secondMoment: readonly Float32Array[];
}

const CLASSES = 10;
/** Largest forward batch per call: bounds the module's memory for big inference requests. */
export const FORWARD_CHUNK = 256;

/** The exports both kernel modules have (see the ABI comments of asm/lenet.ts and asm/net.ts). */
export interface CommonExports extends SetExports {
  readonly memory: WebAssembly.Memory;
  reserve(capacity: number): number;
  inputPtr(): number;
  labelsPtr(): number;
  logitsPtr(): number;
  correctCount(): number;
  gradientsAddress(): number;
  parameterBytes(): number;
  trainStep(n: number, ...adam: AdamStepArgs): number;
  forward(n: number): void;
  gradientStep(n: number): number;
  peerGradientsAddress(): number;
  mixGradients(selfWeight: number, peerWeight: number): void;
}

export function checkCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new FusedLeNetError(`${what} must be a positive integer, got ${n}.`);
  }
}

/**
 * One instance of a fused module, with its own parameters, Adam state and WebAssembly memory. A
 * whole training step or forward pass is one call; the pieces of a step that the data-parallel
 * workers combine (forward and backward on a share, mixing a peer's gradients, Adam) are
 * separate calls.
 */
export abstract class KernelWrapper<K extends CommonExports> {
  readonly variant: FusedVariant;
  /** Floats per image (`inputSize`²): the size of one image in `images` arguments. */
  readonly imageFloats: number;
  #kernels: K | undefined;
  readonly #disposedMessage: string;
  #capacity = 0;
  #step = 0;
  /** Images in the bound training set (0: none). */
  #setCount = 0;
  /** The bound set's augmentation settings (undefined: its steps are not distorted). */
  #setAugment: ModuleTrainingSet['augment'];
  /** Milliseconds spent distorting steps inside the module since the last takeDistortMs. */
  #distortMs = 0;

  protected constructor(
    variant: FusedVariant,
    kernels: K,
    imageFloats: number,
    disposedMessage: string,
  ) {
    this.variant = variant;
    this.#kernels = kernels;
    this.imageFloats = imageFloats;
    this.#disposedMessage = disposedMessage;
  }

  /** Sets the parameters in tfjs order and layouts (weights-file order). Adam's state is kept. */
  setParams(params: readonly Float32Array[]): void {
    this.loadBlock('params', params);
  }

  /** Copies of the parameters, in the order and layouts of `setParams`. */
  getParams(): Float32Array[] {
    return this.unloadBlock('params');
  }

  /** The gradients of the mean loss from the last training step, laid out like `getParams()`. */
  getGradients(): Float32Array[] {
    return this.unloadBlock('grads');
  }

  /** Adam steps applied since the optimizer state was last set. */
  get adamStep(): number {
    return this.#step;
  }

  /** Adam's step count and moments, laid out like `getParams()`. */
  getOptimizerState(): { step: number; firstMoment: Float32Array[]; secondMoment: Float32Array[] } {
    return {
      step: this.#step,
      firstMoment: this.unloadBlock('firstMoment'),
      secondMoment: this.unloadBlock('secondMoment'),
    };
  }

  /** Replaces Adam's state (see `getOptimizerState`); `undefined` zeroes it. */
  setOptimizerState(state: KernelAdamState | undefined): void {
    if (state === undefined) {
      this.resetMoments();
      this.#step = 0;
      return;
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new FusedLeNetError(`Adam's step must be an integer >= 0, got ${state.step}.`);
    }
    this.loadBlock('firstMoment', state.firstMoment);
    this.loadBlock('secondMoment', state.secondMoment);
    this.#step = state.step;
  }

  /**
   * One Adam step on a batch of `n` normalised NHWC images and their labels (0..9). The result
   * is computed before the update. When the loss or a gradient is not finite, nothing is updated
   * and the loss is NaN.
   */
  trainStep(
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    hp: AdamHyperparameters = {},
  ): FusedStepResult {
    const step = this.#step + 1;
    const adam = adamStepArguments(hp, step);
    const k = this.stage(images, this.checkBatch(images, labels, n), n);
    const loss = k.trainStep(n, ...adam);
    // NaN: the loss or a gradient was not finite and the module applied nothing.
    if (!Number.isNaN(loss)) this.#step = step;
    return { loss, correct: k.correctCount() };
  }

  /** Logits [n,10] of `n` images, into `out` when given (length at least n*10). */
  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array {
    const k = this.ready();
    checkCount(n, 'n');
    const size = this.imageFloats;
    if (images.length < n * size) {
      throw new FusedLeNetError(
        `images holds ${Math.floor(images.length / size)} images, fewer than n = ${n}.`,
      );
    }
    const logits = out ?? new Float32Array(n * CLASSES);
    if (logits.length < n * CLASSES) {
      throw new FusedLeNetError(
        `out must hold n * 10 = ${n * CLASSES} floats, got ${logits.length}.`,
      );
    }
    this.reserve(Math.min(n, FORWARD_CHUNK));
    for (let s = 0; s < n; s += FORWARD_CHUNK) {
      const m = Math.min(FORWARD_CHUNK, n - s);
      this.floats(k.inputPtr(), m * size).set(images.subarray(s * size, (s + m) * size));
      k.forward(m);
      logits.set(this.floats(k.logitsPtr(), m * CLASSES), s * CLASSES);
    }
    return logits;
  }

  /** Validates a training batch of `n` (sizes, labels 0..9) and returns its labels. */
  checkBatch(images: Float32Array, labels: Uint8Array, n: number): Uint8Array {
    this.ready();
    checkCount(n, 'n');
    const size = this.imageFloats;
    if (images.length < n * size) {
      throw new FusedLeNetError(
        `images holds ${Math.floor(images.length / size)} images, fewer than n = ${n}.`,
      );
    }
    if (labels.length < n) {
      throw new FusedLeNetError(`labels holds ${labels.length} labels, fewer than n = ${n}.`);
    }
    const batchLabels = labels.subarray(0, n);
    const bad = batchLabels.findIndex((l) => l >= CLASSES);
    if (bad >= 0) {
      throw new FusedLeNetError(`labels[${bad}] = ${batchLabels[bad]} is not a class 0..9.`);
    }
    return batchLabels;
  }

  /** The parameters in the module's internal layout, as bytes (a view: copy it before growing). */
  parameterBytes(): Uint8Array {
    const k = this.live();
    return new Uint8Array(k.memory.buffer, this.paramsAddress(k), k.parameterBytes());
  }

  /** Sets the parameters from bytes in the internal layout (another instance's `parameterBytes`). */
  setParameterBytes(bytes: Uint8Array): void {
    this.parameterBytes().set(bytes);
  }

  /** The last step's gradients in the internal layout, as bytes (a view, like `parameterBytes`). */
  gradientBytes(): Uint8Array {
    const k = this.live();
    return new Uint8Array(k.memory.buffer, k.gradientsAddress(), k.parameterBytes());
  }

  /**
   * Forward and backward on the first `n` images of a checked batch, without Adam: leaves the
   * share's mean-loss gradients in the module and returns the share's summed loss and hits
   * (`n` = 0 just zeroes the gradients).
   */
  gradientStep(images: Float32Array, labels: Uint8Array, n: number): FusedStepResult {
    const k = this.live();
    if (n === 0) {
      this.floats(k.gradientsAddress(), k.parameterBytes() / 4).fill(0);
      return { loss: 0, correct: 0 };
    }
    this.stage(images, labels, n);
    return { loss: k.gradientStep(n) * n, correct: k.correctCount() };
  }

  /** gradients = selfWeight * gradients + peerWeight * peer (bytes in the internal layout). */
  mixGradients(peer: ArrayBuffer, selfWeight: number, peerWeight: number): void {
    const k = this.live();
    new Uint8Array(k.memory.buffer, k.peerGradientsAddress(), k.parameterBytes()).set(
      new Uint8Array(peer, 0, k.parameterBytes()),
    );
    k.mixGradients(selfWeight, peerWeight);
  }

  /**
   * One Adam update with the gradients in the module (validated settings), unless a gradient is
   * not finite or the update would make a parameter or moment non-finite: then nothing changes
   * and it returns false.
   */
  applyAdam(hp: AdamHyperparameters = {}): boolean {
    const step = this.#step + 1;
    if (!this.adamGuarded(this.live(), adamStepArguments(hp, step))) return false;
    this.#step = step;
    return true;
  }

  /**
   * Keeps a training set (8-bit images of the input size, labels, normalisation table) in the
   * module for {@link KernelWrapper.trainStepIndexed} and
   * {@link KernelWrapper.gradientStepIndexed}, replacing any before. The module's memory grows
   * by a byte per input pixel per image (61 MB for MNIST's 60,000 32x32 images) and never
   * shrinks.
   *
   * @throws {@link FusedLeNetError} for a malformed set or when memory cannot grow.
   */
  bindSet(set: ModuleTrainingSet): void {
    const k = this.live();
    this.#setCount = 0;
    this.#setAugment = undefined;
    // The batch buffers move past the set: lay them out again.
    this.#capacity = 0;
    writeTrainingSet(k, set, this.imageFloats);
    this.#setCount = set.count;
    this.#setAugment = set.augment && { elastic: set.augment.elastic, grid: set.augment.grid };
    this.reserve(1);
  }

  /** Forgets the bound set (its memory is reused for batches). */
  unbindSet(): void {
    this.live().unbindSet();
    this.#setCount = 0;
    this.#setAugment = undefined;
    this.#capacity = 0;
    this.reserve(1);
  }

  /**
   * {@link KernelWrapper.trainStep} on the bound set's images `indices`, gathered and normalised
   * inside the module: the same floats as the CPU gatherer's, so the same step bit for bit. A set
   * bound with augmentation needs each image's `distortions` (AUGMENT_PARAMS each, trainset.ts):
   * the module distorts the batch as `augmentBatch` does, bit for bit.
   */
  trainStepIndexed(
    indices: Uint32Array,
    hp: AdamHyperparameters = {},
    distortions?: Float64Array,
  ): FusedStepResult {
    const step = this.#step + 1;
    const adam = adamStepArguments(hp, step);
    const k = this.#gather(indices, distortions);
    const loss = k.trainStep(indices.length, ...adam);
    if (!Number.isNaN(loss)) this.#step = step;
    return { loss, correct: k.correctCount() };
  }

  /**
   * {@link KernelWrapper.gradientStep} on the bound set's images `indices` (none: zero
   * gradients), distorted by `distortions` as in {@link KernelWrapper.trainStepIndexed}.
   */
  gradientStepIndexed(indices: Uint32Array, distortions?: Float64Array): FusedStepResult {
    const k = this.live();
    const n = indices.length;
    if (n === 0) {
      this.floats(k.gradientsAddress(), k.parameterBytes() / 4).fill(0);
      return { loss: 0, correct: 0 };
    }
    this.#gather(indices, distortions);
    return { loss: k.gradientStep(n) * n, correct: k.correctCount() };
  }

  /**
   * Copies of the batch a step on `indices` (and `distortions`) trains on, as the module gathers
   * it: for tests and diagnostics, which compare it with the CPU gatherer's.
   */
  gatheredBatch(
    indices: Uint32Array,
    distortions?: Float64Array,
  ): { images: Float32Array; labels: Uint8Array } {
    const k = this.#gather(indices, distortions);
    const n = indices.length;
    return {
      images: this.floats(k.inputPtr(), n * this.imageFloats).slice(),
      labels: new Uint8Array(k.memory.buffer, k.labelsPtr() >>> 0, n).slice(),
    };
  }

  /** Milliseconds this instance spent distorting steps' batches since the last call. */
  takeDistortMs(): number {
    const ms = this.#distortMs;
    this.#distortMs = 0;
    return ms;
  }

  /** Stages `indices` and gathers (and distorts) their images and labels into the batch buffers. */
  #gather(indices: Uint32Array, distortions: Float64Array | undefined): K {
    const k = this.ready();
    const n = indices.length;
    checkCount(n, 'the number of indices');
    const augment = this.#setAugment;
    // Without a set, gatherIndices says so.
    if (this.#setCount > 0) checkDistortions(n, augment, distortions);
    this.reserve(n);
    gatherIndices(k, indices, this.#setCount);
    if (augment === undefined || distortions === undefined) return k;
    const t0 = now();
    distortGathered(k, n, augment, distortions);
    this.#distortMs += now() - t0;
    return k;
  }

  /** Makes room for batches of `n`; growing memory detaches views made before. */
  reserve(n: number): void {
    if (n <= this.#capacity) return;
    if (!this.live().reserve(n)) {
      throw new FusedLeNetError(`Cannot grow WebAssembly memory for a batch of ${n}.`);
    }
    this.#capacity = n;
  }

  /** Releases the WebAssembly instance; the object is unusable afterwards. */
  dispose(): void {
    this.#kernels = undefined;
  }

  /** The module's exports, unless disposed. */
  protected live(): K {
    if (!this.#kernels) throw new FusedLeNetError(this.#disposedMessage);
    return this.#kernels;
  }

  /** The module's exports, when it can compute (the hand-tuned kernels also need parameters). */
  protected ready(): K {
    return this.live();
  }

  /** Adds `steps` Adam steps to the count (a profile's updates). */
  protected countAdamSteps(steps: number): number {
    this.#step += steps;
    return this.#step;
  }

  /** Copies a checked batch's first `n` images and labels into the module. */
  protected stage(images: Float32Array, labels: Uint8Array, n: number): K {
    const k = this.live();
    this.reserve(n);
    const size = this.imageFloats;
    this.floats(k.inputPtr(), n * size).set(images.subarray(0, n * size));
    new Uint8Array(k.memory.buffer, k.labelsPtr() >>> 0, n).set(labels.subarray(0, n));
    return k;
  }

  /** A view of module memory; made per use because growing memory detaches older views. */
  protected floats(ptr: number, length: number): Float32Array {
    return new Float32Array(this.live().memory.buffer, ptr >>> 0, length);
  }

  /** Where the parameters start in the module's memory. */
  protected abstract paramsAddress(k: K): number;
  /** The module's guarded Adam update (false: nothing applied). */
  protected abstract adamGuarded(k: K, adam: AdamStepArgs): number | boolean;
  /** Zeroes Adam's moments. */
  protected abstract resetMoments(): void;
  /** Copies arrays in tfjs layouts into block `which`. */
  protected abstract loadBlock(which: BlockName, arrays: readonly Float32Array[]): void;
  /** Copies of block `which` in tfjs layouts. */
  protected abstract unloadBlock(which: BlockName): Float32Array[];
}

/**
 * A bound on any parameter's Adam step, so the kernels can skip proving an update finite when it
 * plainly is: |step| = lr/bc1 · |m| / (sqrt(v/bc2) + eps) <= lr·sqrt(bc2)/bc1 · |m|/sqrt(v), and
 * with beta1² < beta2, Cauchy-Schwarz over the moving averages gives
 * |m|/sqrt(v) <= (1 - beta1) / sqrt((1 - beta2)(1 - beta1²/beta2)). +Infinity when no bound holds.
 */
function adamUpdateBound(
  lr: number,
  beta1: number,
  beta2: number,
  bc1: number,
  bc2: number,
): number {
  if (!(beta1 * beta1 < beta2) || !(beta2 < 1)) return Number.POSITIVE_INFINITY;
  const ratio = (1 - beta1) / Math.sqrt((1 - beta2) * (1 - (beta1 * beta1) / beta2));
  const bound = ((lr * Math.sqrt(bc2)) / bc1) * ratio;
  return Number.isFinite(bound) ? bound : Number.POSITIVE_INFINITY;
}

/**
 * Adam settings with their defaults, validated. `decay` is AdamW's factor 1 - lr * weightDecay
 * (exactly 1 without weight decay, which the kernels run as plain Adam).
 */
export function adamSettings(hp: AdamHyperparameters): {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  decay: number;
} {
  const {
    learningRate: lr = 1e-3,
    beta1 = 0.9,
    beta2 = 0.999,
    epsilon: eps = 1e-8,
    weightDecay: wd = 0,
  } = hp;
  if (
    !(lr > 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0) ||
    !(wd >= 0 && lr * wd < 1)
  ) {
    throw new FusedLeNetError(
      `Invalid Adam settings: learningRate ${lr}, beta1 ${beta1}, beta2 ${beta2}, epsilon ${eps}, weightDecay ${wd}.`,
    );
  }
  return { lr, beta1, beta2, eps, decay: wd > 0 ? 1 - lr * wd : 1 };
}

/**
 * The kernels' Adam arguments for step `step` (1-based), in their order: `lr, beta1, beta2, eps,
 * bc1, bc2, updateBound, decay` (bias corrections and the bound of a finite update included).
 */
export function adamStepArguments(hp: AdamHyperparameters, step: number): AdamStepArgs {
  const { lr, beta1, beta2, eps, decay } = adamSettings(hp);
  const [bc1, bc2] = [1 - beta1 ** step, 1 - beta2 ** step];
  return [lr, beta1, beta2, eps, bc1, bc2, adamUpdateBound(lr, beta1, beta2, bc1, bc2), decay];
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
