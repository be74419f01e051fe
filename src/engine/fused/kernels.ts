// The fused WebAssembly LeNet-5: a whole training step (forward, backward and Adam) or a whole
// forward pass per call, hand-vectorised in AssemblyScript (asm/lenet.ts) and built by
// `npm run build:wasm` into lenet-simd.wasm and lenet-relaxed-simd.wasm next to this file.
// The network and its tensors' layouts are exactly the tfjs engine's (NHWC activations, HWIO
// conv kernels, [in, out] dense kernels). This module is the one typed view of the kernels'
// ABI: the main thread (load.ts, engine.ts) and the data-parallel workers (worker.ts) both use
// it. It imports nothing host-specific, so the worker bundle stays small.
import { FusedLeNetError } from '../errors.js';
import {
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

/** The stages of a training step, in execution order, as timed by `profileTrainStep`. */
export type FusedStage =
  | 'conv1+pool1'
  | 'conv2+pool2'
  | 'dense'
  | 'loss'
  | 'dense backward'
  | 'conv2 backward'
  | 'conv1 backward'
  | 'adam';

// Defined with the engine's other errors; re-exported for the kernel wrappers' importers.
export { FusedLeNetError } from '../errors.js';

/** Element counts of the parameters, in tfjs order. */
const PARAM_SIZES = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10] as const;
const PARAM_TOTAL = PARAM_SIZES.reduce((a, b) => a + b, 0);
const IMAGE_SIZE = 32 * 32;
const CLASSES = 10;
/** Largest forward batch per call: bounds the module's memory for big inference requests. */
const FORWARD_CHUNK = 256;

/** Blocks of the module's parameter-shaped memory: parameters, gradients, Adam's moments. */
enum Block {
  Params = 0,
  Grads = 1,
  FirstMoment = 2,
  SecondMoment = 3,
}

/** The module's exports; see the ABI comment at the top of asm/lenet.ts. */
interface Kernels extends SetExports {
  readonly memory: WebAssembly.Memory;
  reserve(capacity: number): number;
  stagingPtr(): number;
  inputPtr(): number;
  labelsPtr(): number;
  logitsPtr(): number;
  pixelsPtr(): number;
  preprocessTablesPtr(): number;
  preparePixels(n: number, side: number): number;
  correctCount(): number;
  loadParams(which: Block): void;
  storeParams(which: Block): void;
  resetAdam(): void;
  trainStep(
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    bc1: number,
    bc2: number,
    updateBound: number,
    decay: number,
  ): number;
  stageAdamGuarded(
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    bc1: number,
    bc2: number,
    updateBound: number,
    decay: number,
  ): number;
  forward(n: number): void;
  stageConv1(n: number): void;
  stageConv2(n: number): void;
  stageDense(n: number): void;
  stageLoss(n: number): number;
  stageDenseBackward(n: number): void;
  stageConv2Backward(n: number): void;
  stageConv1Backward(n: number): void;
  stageAdam(
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    bc1: number,
    bc2: number,
    decay: number,
  ): void;
  parametersAddress(): number;
  gradientsAddress(): number;
  parameterBytes(): number;
  gradientStep(n: number): number;
  peerGradientsAddress(): number;
  mixGradients(selfWeight: number, peerWeight: number): void;
}

/**
 * What `forwardPixels` applies to raw digits (see asm/preprocess.ts): the 256-entry
 * normalisation table and, for sides other than 32, Pillow's bilinear coefficients per
 * direction (first source index and `taps` fixed-point weights per output pixel).
 */
export interface PixelTables {
  readonly normalization: Float32Array;
  readonly resize?: {
    readonly side: number;
    readonly start: Int32Array;
    readonly weights: Int32Array;
    readonly taps: number;
  };
}

// The tables area's layout in asm/preprocess.ts (byte offsets).
const T_H_START = 1024;
const T_H_WEIGHT = T_H_START + 32 * 4;
const T_V_START = T_H_WEIGHT + 32 * 16;
const T_V_WEIGHT = T_V_START + 32 * 4;
const T_H_TAPS = T_V_WEIGHT + 32 * 16;
const MAX_TAPS = 4;

/** A fresh instance of a compiled fused module, with its own memory and Adam state. */
export async function instantiateFusedLeNet(
  variant: FusedVariant,
  module: WebAssembly.Module,
): Promise<WasmLeNet> {
  const instance = await WebAssembly.instantiate(module, {});
  return new WasmLeNet(variant, instance.exports as unknown as Kernels);
}

function checkCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new FusedLeNetError(`${what} must be a positive integer, got ${n}.`);
  }
}

/**
 * One instance of the fused module: LeNet-5 with its own parameters, Adam state and WebAssembly
 * memory. A whole training step or forward pass is one call; the pieces of a step that the
 * data-parallel workers combine (forward and backward on a share, mixing a peer's gradients,
 * Adam) are separate calls.
 */
export class WasmLeNet {
  readonly variant: FusedVariant;
  #kernels: Kernels | undefined;
  #capacity = 0;
  #step = 0;
  #hasParams = false;
  /** Whether setPixelTables wrote a normalisation table, and the source side of its resize. */
  #hasNormalization = false;
  #pixelSide = 0;
  /** Images in the bound training set (0: none). */
  #setCount = 0;

  constructor(variant: FusedVariant, kernels: Kernels) {
    this.variant = variant;
    this.#kernels = kernels;
    this.reserve(1);
  }

  /**
   * Sets the 10 parameters in tfjs order and layouts (conv1 kernel [5,5,1,6], conv1 bias [6],
   * conv2 kernel [5,5,6,16], bias [16], fc1 [400,120], [120], fc2 [120,84], [84], fc3 [84,10],
   * [10]). Adam's state is kept.
   */
  setParams(params: readonly Float32Array[]): void {
    this.#load(Block.Params, params);
    this.#hasParams = true;
  }

  /** Copies of the 10 parameters, in the order and layouts of `setParams`. */
  getParams(): Float32Array[] {
    return this.#unstage(Block.Params);
  }

  /** The gradients of the mean loss from the last training step, laid out like `getParams()`. */
  getGradients(): Float32Array[] {
    return this.#unstage(Block.Grads);
  }

  /** Adam steps applied since the optimizer state was last set. */
  get adamStep(): number {
    return this.#step;
  }

  /** Adam's step count and moments, laid out like `getParams()`. */
  getOptimizerState(): { step: number; firstMoment: Float32Array[]; secondMoment: Float32Array[] } {
    return {
      step: this.#step,
      firstMoment: this.#unstage(Block.FirstMoment),
      secondMoment: this.#unstage(Block.SecondMoment),
    };
  }

  /** Replaces Adam's state (see `getOptimizerState`); `undefined` zeroes it. */
  setOptimizerState(
    state:
      | {
          step: number;
          firstMoment: readonly Float32Array[];
          secondMoment: readonly Float32Array[];
        }
      | undefined,
  ): void {
    if (state === undefined) {
      this.#live().resetAdam();
      this.#step = 0;
      return;
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new FusedLeNetError(`Adam's step must be an integer >= 0, got ${state.step}.`);
    }
    this.#load(Block.FirstMoment, state.firstMoment);
    this.#load(Block.SecondMoment, state.secondMoment);
    this.#step = state.step;
  }

  /**
   * One Adam step on a batch: `images` holds `n` normalised 32x32 images ([n,32,32,1]) and
   * `labels` their classes 0..9. The result is computed before the update. When the loss or a
   * gradient is not finite, nothing is updated and the loss is NaN.
   */
  trainStep(
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    hp: AdamHyperparameters = {},
  ): FusedStepResult {
    const step = this.#step + 1;
    const adam = adamStepArguments(hp, step);
    const k = this.#stage(images, this.checkBatch(images, labels, n), n);
    const loss = k.trainStep(n, ...adam);
    // NaN: the loss or a gradient was not finite and the module applied nothing.
    if (!Number.isNaN(loss)) this.#step = step;
    return { loss, correct: k.correctCount() };
  }

  /** Logits [n,10] of `n` images, into `out` when given (length at least n*10). */
  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array {
    const k = this.#ready();
    checkCount(n, 'n');
    const logits = out ?? new Float32Array(n * CLASSES);
    if (images.length < n * IMAGE_SIZE) {
      throw new FusedLeNetError(
        `images holds ${Math.floor(images.length / IMAGE_SIZE)} images, fewer than n = ${n}.`,
      );
    }
    if (logits.length < n * CLASSES) {
      throw new FusedLeNetError(
        `out must hold n * 10 = ${n * CLASSES} floats, got ${logits.length}.`,
      );
    }
    this.reserve(Math.min(n, FORWARD_CHUNK));
    for (let s = 0; s < n; s += FORWARD_CHUNK) {
      const m = Math.min(FORWARD_CHUNK, n - s);
      this.#floats(k.inputPtr(), m * IMAGE_SIZE).set(
        images.subarray(s * IMAGE_SIZE, (s + m) * IMAGE_SIZE),
      );
      k.forward(m);
      logits.set(this.#floats(k.logitsPtr(), m * CLASSES), s * CLASSES);
    }
    return logits;
  }

  /**
   * Writes the tables that {@link WasmLeNet.forwardPixels} applies: the normalisation and, when
   * given, a resize (the previous one stays otherwise). False (nothing written) if the module
   * cannot hold them (a source side above 32, more than 4 taps, a table not 256 long).
   */
  setPixelTables(tables: PixelTables): boolean {
    const k = this.#live();
    const { normalization, resize } = tables;
    if (normalization.length !== 256) return false;
    if (resize !== undefined) {
      const { side, start, weights, taps } = resize;
      if (side < 1 || side > 32 || taps < 1 || taps > MAX_TAPS) return false;
      if (start.length !== 32 || weights.length !== 32 * taps) return false;
    }
    const base = k.preprocessTablesPtr() >>> 0;
    this.#floats(base, 256).set(normalization);
    if (resize !== undefined) {
      const ints = new Int32Array(k.memory.buffer, base, (T_H_TAPS + 8) / 4);
      const padded = new Int32Array(32 * MAX_TAPS);
      for (let o = 0; o < 32; o++) {
        for (let t = 0; t < resize.taps; t++) {
          padded[o * MAX_TAPS + t] = resize.weights[o * resize.taps + t] as number;
        }
      }
      // Square images: the same coefficients both ways.
      ints.set(resize.start, T_H_START / 4);
      ints.set(padded, T_H_WEIGHT / 4);
      ints.set(resize.start, T_V_START / 4);
      ints.set(padded, T_V_WEIGHT / 4);
      ints[T_H_TAPS / 4] = resize.taps;
      ints[T_H_TAPS / 4 + 1] = resize.taps;
    }
    this.#hasNormalization = true;
    if (resize !== undefined) this.#pixelSide = resize.side;
    return true;
  }

  /**
   * Logits [n,10] of `n` raw 8-bit digits (`side` x `side` each, consecutive in `pixels`), into
   * `out` (length at least n*10): resized and normalised inside the module with the tables of
   * {@link WasmLeNet.setPixelTables}: its last normalisation and, for `side` below 32, its last
   * resize, which must be for `side`.
   */
  forwardPixels(pixels: Uint8Array, side: number, n: number, out: Float32Array): void {
    const k = this.#ready();
    checkCount(n, 'n');
    if (!this.#hasNormalization || (side !== 32 && side !== this.#pixelSide)) {
      throw new FusedLeNetError(`No pixel tables for ${side}x${side} images were set.`);
    }
    const bytes = side * side;
    if (pixels.length < n * bytes || out.length < n * CLASSES) {
      throw new FusedLeNetError(
        `forwardPixels: ${pixels.length} pixels or ${out.length} outputs are too few for ${n} images.`,
      );
    }
    this.reserve(Math.min(n, FORWARD_CHUNK));
    for (let s = 0; s < n; s += FORWARD_CHUNK) {
      const m = Math.min(FORWARD_CHUNK, n - s);
      new Uint8Array(k.memory.buffer, k.pixelsPtr() >>> 0, m * bytes).set(
        pixels.subarray(s * bytes, (s + m) * bytes),
      );
      if (!k.preparePixels(m, side)) {
        throw new FusedLeNetError(`The kernels cannot prepare ${side}x${side} images.`);
      }
      k.forward(m);
      out.set(this.#floats(k.logitsPtr(), m * CLASSES), s * CLASSES);
    }
  }

  /**
   * Keeps a training set (8-bit 32x32 images, labels, normalisation table) in the module for
   * {@link WasmLeNet.trainStepIndexed} and {@link WasmLeNet.gradientStepIndexed}, replacing any
   * before. The module's memory grows by about 1 KiB per image and never shrinks.
   *
   * @throws {@link FusedLeNetError} for a malformed set or when memory cannot grow.
   */
  bindSet(set: ModuleTrainingSet): void {
    const k = this.#live();
    this.#setCount = 0;
    this.#capacity = 0;
    writeTrainingSet(k, set, IMAGE_SIZE);
    this.#setCount = set.count;
    this.reserve(1);
  }

  /** Forgets the bound set (its memory is reused for batches). */
  unbindSet(): void {
    this.#live().unbindSet();
    this.#setCount = 0;
    this.#capacity = 0;
    this.reserve(1);
  }

  /**
   * {@link WasmLeNet.trainStep} on the bound set's images `indices`, gathered and normalised
   * inside the module: the same floats as the CPU gatherer's, so the same step bit for bit.
   */
  trainStepIndexed(indices: Uint32Array, hp: AdamHyperparameters = {}): FusedStepResult {
    const step = this.#step + 1;
    const adam = adamStepArguments(hp, step);
    const k = this.#gather(indices);
    const loss = k.trainStep(indices.length, ...adam);
    if (!Number.isNaN(loss)) this.#step = step;
    return { loss, correct: k.correctCount() };
  }

  /** {@link WasmLeNet.gradientStep} on the bound set's images `indices` (empty: zero gradients). */
  gradientStepIndexed(indices: Uint32Array): FusedStepResult {
    const k = this.#live();
    const n = indices.length;
    if (n === 0) {
      this.#floats(k.gradientsAddress(), k.parameterBytes() / 4).fill(0);
      return { loss: 0, correct: 0 };
    }
    this.#gather(indices);
    return { loss: k.gradientStep(n) * n, correct: k.correctCount() };
  }

  #gather(indices: Uint32Array): Kernels {
    const k = this.#ready();
    checkCount(indices.length, 'the number of indices');
    this.reserve(indices.length);
    gatherIndices(k, indices, this.#setCount);
    return k;
  }

  /**
   * Runs `steps` real training steps (they update the parameters) and returns the mean
   * milliseconds each stage took.
   */
  profileTrainStep(
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    steps = 20,
  ): Record<FusedStage, number> {
    const k = this.#stage(images, this.checkBatch(images, labels, n), n);
    checkCount(steps, 'steps');
    const { lr, beta1, beta2, eps, decay } = adamSettings({});
    const stages: [FusedStage, () => unknown][] = [
      ['conv1+pool1', () => k.stageConv1(n)],
      ['conv2+pool2', () => k.stageConv2(n)],
      ['dense', () => k.stageDense(n)],
      ['loss', () => k.stageLoss(n)],
      ['dense backward', () => k.stageDenseBackward(n)],
      ['conv2 backward', () => k.stageConv2Backward(n)],
      ['conv1 backward', () => k.stageConv1Backward(n)],
      [
        'adam',
        () => {
          this.#step += 1;
          k.stageAdam(
            lr,
            beta1,
            beta2,
            eps,
            1 - beta1 ** this.#step,
            1 - beta2 ** this.#step,
            decay,
          );
        },
      ],
    ];
    const totals = Object.fromEntries(stages.map(([name]) => [name, 0])) as Record<
      FusedStage,
      number
    >;
    for (let i = 0; i < steps; i++) {
      for (const [name, run] of stages) {
        const t0 = performance.now();
        run();
        totals[name] += performance.now() - t0;
      }
    }
    for (const [name] of stages) totals[name] /= steps;
    return totals;
  }

  /** Releases the WebAssembly instance; the object is unusable afterwards. */
  dispose(): void {
    this.#kernels = undefined;
  }

  #live(): Kernels {
    if (!this.#kernels) throw new FusedLeNetError('This fused LeNet instance has been disposed.');
    return this.#kernels;
  }

  #ready(): Kernels {
    const k = this.#live();
    if (!this.#hasParams) throw new FusedLeNetError('Call setParams() before running the model.');
    return k;
  }

  /**
   * Validates a training batch of `n` (parameters loaded, sizes, labels 0..9) and returns its
   * labels.
   */
  checkBatch(images: Float32Array, labels: Uint8Array, n: number): Uint8Array {
    this.#ready();
    checkCount(n, 'n');
    if (images.length < n * IMAGE_SIZE) {
      throw new FusedLeNetError(
        `images holds ${Math.floor(images.length / IMAGE_SIZE)} images, fewer than n = ${n}.`,
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
    const k = this.#live();
    return new Uint8Array(k.memory.buffer, k.parametersAddress(), k.parameterBytes());
  }

  /** Sets the parameters from bytes in the internal layout (another instance's `parameterBytes`). */
  setParameterBytes(bytes: Uint8Array): void {
    this.parameterBytes().set(bytes);
    this.#hasParams = true;
  }

  /** The last step's gradients in the internal layout, as bytes (a view, like `parameterBytes`). */
  gradientBytes(): Uint8Array {
    const k = this.#live();
    return new Uint8Array(k.memory.buffer, k.gradientsAddress(), k.parameterBytes());
  }

  /**
   * Forward and backward on the first `n` images of a checked batch, without Adam: leaves the
   * share's mean-loss gradients in the module and returns the share's summed loss and hits
   * (`n` = 0 just zeroes the gradients).
   */
  gradientStep(images: Float32Array, labels: Uint8Array, n: number): FusedStepResult {
    const k = this.#live();
    if (n === 0) {
      this.#floats(k.gradientsAddress(), k.parameterBytes() / 4).fill(0);
      return { loss: 0, correct: 0 };
    }
    this.#stage(images, labels, n);
    return { loss: k.gradientStep(n) * n, correct: k.correctCount() };
  }

  /** gradients = selfWeight * gradients + peerWeight * peer (bytes in the internal layout). */
  mixGradients(peer: ArrayBuffer, selfWeight: number, peerWeight: number): void {
    const k = this.#live();
    new Uint8Array(k.memory.buffer, k.peerGradientsAddress(), k.parameterBytes()).set(
      new Uint8Array(peer),
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
    if (!this.#live().stageAdamGuarded(...adamStepArguments(hp, step))) return false;
    this.#step = step;
    return true;
  }

  /** Copies a checked batch's first `n` images and labels into the module. */
  #stage(images: Float32Array, labels: Uint8Array, n: number): Kernels {
    const k = this.#live();
    this.reserve(n);
    this.#floats(k.inputPtr(), n * IMAGE_SIZE).set(images.subarray(0, n * IMAGE_SIZE));
    new Uint8Array(k.memory.buffer, k.labelsPtr() >>> 0, n).set(labels.subarray(0, n));
    return k;
  }

  /** Makes room for batches of `n`; growing memory detaches views made before. */
  reserve(n: number): void {
    if (n <= this.#capacity) return;
    if (!this.#live().reserve(n)) {
      throw new FusedLeNetError(`Cannot grow WebAssembly memory for a batch of ${n}.`);
    }
    this.#capacity = n;
  }

  /** A view of module memory; made per use because growing memory detaches older views. */
  #floats(ptr: number, length: number): Float32Array {
    return new Float32Array(this.#live().memory.buffer, ptr >>> 0, length);
  }

  /** Stages 10 arrays in tfjs layouts and loads them into block `which`. */
  #load(which: Block, arrays: readonly Float32Array[]): void {
    const k = this.#live();
    if (arrays.length !== PARAM_SIZES.length) {
      throw new FusedLeNetError(`Expected ${PARAM_SIZES.length} parameters, got ${arrays.length}.`);
    }
    const staging = this.#floats(k.stagingPtr(), PARAM_TOTAL);
    let offset = 0;
    PARAM_SIZES.forEach((size, i) => {
      const p = arrays[i] as Float32Array;
      if (p.length !== size) {
        throw new FusedLeNetError(`Parameter ${i} must have ${size} elements, got ${p.length}.`);
      }
      staging.set(p, offset);
      offset += size;
    });
    k.loadParams(which);
  }

  #unstage(which: Block): Float32Array[] {
    const k = this.#live();
    k.storeParams(which);
    const staging = this.#floats(k.stagingPtr(), PARAM_TOTAL);
    let offset = 0;
    return PARAM_SIZES.map((size) => {
      offset += size;
      return staging.slice(offset - size, offset);
    });
  }
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
export function adamStepArguments(
  hp: AdamHyperparameters,
  step: number,
): [number, number, number, number, number, number, number, number] {
  const { lr, beta1, beta2, eps, decay } = adamSettings(hp);
  const [bc1, bc2] = [1 - beta1 ** step, 1 - beta2 ** step];
  return [lr, beta1, beta2, eps, bc1, bc2, adamUpdateBound(lr, beta1, beta2, bc1, bc2), decay];
}
