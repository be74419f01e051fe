// The fused WebAssembly LeNet-5: a whole training step (forward, backward and Adam) or a whole
// forward pass per call, hand-vectorised in AssemblyScript (asm/lenet.ts) and built by
// `npm run build:wasm` into lenet-simd.wasm and lenet-relaxed-simd.wasm next to this file.
// The network and its tensors' layouts are exactly the tfjs engine's (NHWC activations, HWIO
// conv kernels, [in, out] dense kernels). This module is the one typed view of the kernels'
// ABI: the main thread (load.ts, engine.ts) and the data-parallel workers (worker.ts) both use
// it. It imports nothing host-specific, so the worker bundle stays small.
import { FusedLeNetError } from '../errors.js';
import { type DigitScores, MIN_INK_PIXELS } from '../scores.js';
import {
  type AdamStepArgs,
  adamSettings,
  type BlockName,
  type CommonExports,
  checkCount,
  FORWARD_CHUNK,
  type FusedVariant,
  KernelWrapper,
} from './wrapper.js';

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
export type { AdamHyperparameters, FusedStepResult, FusedVariant } from './wrapper.js';

/** Element counts of the parameters, in tfjs order. */
const PARAM_SIZES = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10] as const;
const PARAM_TOTAL = PARAM_SIZES.reduce((a, b) => a + b, 0);
const IMAGE_SIZE = 32 * 32;
const CLASSES = 10;

/** Blocks of the module's parameter-shaped memory: parameters, gradients, Adam's moments. */
enum Block {
  Params = 0,
  Grads = 1,
  FirstMoment = 2,
  SecondMoment = 3,
}
const BLOCKS: Record<BlockName, Block> = {
  params: Block.Params,
  grads: Block.Grads,
  firstMoment: Block.FirstMoment,
  secondMoment: Block.SecondMoment,
};

/** The module's exports; see the ABI comment at the top of asm/lenet.ts. */
interface Kernels extends CommonExports {
  stagingPtr(): number;
  pixelsPtr(): number;
  preprocessTablesPtr(): number;
  preparePixels(n: number, side: number): number;
  scoresPtr(): number;
  scorePixels(n: number, side: number, minInk: number): void;
  loadParams(which: Block): void;
  storeParams(which: Block): void;
  resetAdam(): void;
  stageAdamGuarded(...adam: AdamStepArgs): number;
  stageConv1(n: number): void;
  stageConv2(n: number): void;
  stageDense(n: number): void;
  stageLoss(n: number): number;
  stageDenseBackward(n: number): void;
  stageConv2Backward(n: number): void;
  stageConv1Backward(n: number): void;
  /** Plain Adam (no update bound) with the bias corrections `bc1`, `bc2`. */
  stageAdam(...adam: [number, number, number, number, number, number, number]): void;
  parametersAddress(): number;
}

/**
 * What `scorePixels` applies to raw digits (see asm/preprocess.ts): the 256-entry
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

/**
 * One instance of the fused module: LeNet-5 with its own parameters, Adam state and WebAssembly
 * memory (see {@link KernelWrapper}), and the digit preparation and scoring of `scorePixels`.
 */
export class WasmLeNet extends KernelWrapper<Kernels> {
  #hasParams = false;
  /** Whether setPixelTables wrote a normalisation table, and the source side of its resize. */
  #hasNormalization = false;
  #pixelSide = 0;

  constructor(variant: FusedVariant, kernels: Kernels) {
    super(variant, kernels, IMAGE_SIZE, 'This fused LeNet instance has been disposed.');
    this.reserve(1);
  }

  /**
   * Sets the 10 parameters in tfjs order and layouts (conv1 kernel [5,5,1,6], conv1 bias [6],
   * conv2 kernel [5,5,6,16], bias [16], fc1 [400,120], [120], fc2 [120,84], [84], fc3 [84,10],
   * [10]). Adam's state is kept.
   */
  override setParams(params: readonly Float32Array[]): void {
    super.setParams(params);
    this.#hasParams = true;
  }

  override setParameterBytes(bytes: Uint8Array): void {
    super.setParameterBytes(bytes);
    this.#hasParams = true;
  }

  /**
   * Writes the tables that {@link WasmLeNet.scorePixels} applies: the normalisation and, when
   * given, a resize (the previous one stays otherwise). False (nothing written) if the module
   * cannot hold them (a source side above 32, more than 4 taps, a table not 256 long).
   */
  setPixelTables(tables: PixelTables): boolean {
    const k = this.live();
    const { normalization, resize } = tables;
    if (normalization.length !== 256) return false;
    if (resize !== undefined) {
      const { side, start, weights, taps } = resize;
      if (side < 1 || side > 32 || taps < 1 || taps > MAX_TAPS) return false;
      if (start.length !== 32 || weights.length !== 32 * taps) return false;
    }
    const base = k.preprocessTablesPtr() >>> 0;
    this.floats(base, 256).set(normalization);
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
   * Scores `n` raw 8-bit digits (`side` x `side` each, consecutive in `pixels`) into `out`:
   * resized and normalised inside the module with the tables of {@link WasmLeNet.setPixelTables}
   * (its last normalisation and, for `side` below 32, its last resize, which must be for
   * `side`), run forward, then labelled, softmaxed and checked for ink inside the module too
   * (asm/scores.ts, the arithmetic of `engine/scores.ts`).
   */
  scorePixels(pixels: Uint8Array, side: number, n: number, out: DigitScores): void {
    const k = this.ready();
    checkCount(n, 'n');
    if (!this.#hasNormalization || (side !== 32 && side !== this.#pixelSide)) {
      throw new FusedLeNetError(`No pixel tables for ${side}x${side} images were set.`);
    }
    const bytes = side * side;
    const { labels, probabilities, blank } = out;
    if (pixels.length < n * bytes || probabilities.length < n * CLASSES) {
      throw new FusedLeNetError(
        `scorePixels: ${pixels.length} pixels or ${probabilities.length} probabilities are too few for ${n} images.`,
      );
    }
    if (labels.length < n || blank.length < n) {
      throw new FusedLeNetError(`scorePixels: the labels or blank flags hold fewer than ${n}.`);
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
      k.scorePixels(m, side, MIN_INK_PIXELS);
      probabilities.set(this.floats(k.logitsPtr(), m * CLASSES), s * CLASSES);
      const scores = k.scoresPtr() >>> 0;
      labels.set(new Uint8Array(k.memory.buffer, scores, m), s);
      blank.set(new Uint8Array(k.memory.buffer, scores + m, m), s);
    }
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
    const k = this.stage(images, this.checkBatch(images, labels, n), n);
    checkCount(steps, 'steps');
    const { lr, beta1, beta2, eps, decay } = adamSettings({});
    const adam = () => {
      const step = this.countAdamSteps(1);
      k.stageAdam(lr, beta1, beta2, eps, 1 - beta1 ** step, 1 - beta2 ** step, decay);
    };
    const stages: [FusedStage, () => unknown][] = [
      ['conv1+pool1', () => k.stageConv1(n)],
      ['conv2+pool2', () => k.stageConv2(n)],
      ['dense', () => k.stageDense(n)],
      ['loss', () => k.stageLoss(n)],
      ['dense backward', () => k.stageDenseBackward(n)],
      ['conv2 backward', () => k.stageConv2Backward(n)],
      ['conv1 backward', () => k.stageConv1Backward(n)],
      ['adam', adam],
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

  protected override ready(): Kernels {
    const k = this.live();
    if (!this.#hasParams) throw new FusedLeNetError('Call setParams() before running the model.');
    return k;
  }

  protected paramsAddress(k: Kernels): number {
    return k.parametersAddress();
  }

  protected adamGuarded(k: Kernels, adam: AdamStepArgs): number {
    return k.stageAdamGuarded(...adam);
  }

  protected resetMoments(): void {
    this.live().resetAdam();
  }

  /** Stages 10 arrays in tfjs layouts and loads them into block `which`. */
  protected loadBlock(which: BlockName, arrays: readonly Float32Array[]): void {
    const k = this.live();
    if (arrays.length !== PARAM_SIZES.length) {
      throw new FusedLeNetError(`Expected ${PARAM_SIZES.length} parameters, got ${arrays.length}.`);
    }
    const staging = this.floats(k.stagingPtr(), PARAM_TOTAL);
    let offset = 0;
    PARAM_SIZES.forEach((size, i) => {
      const p = arrays[i] as Float32Array;
      if (p.length !== size) {
        throw new FusedLeNetError(`Parameter ${i} must have ${size} elements, got ${p.length}.`);
      }
      staging.set(p, offset);
      offset += size;
    });
    k.loadParams(BLOCKS[which]);
  }

  protected unloadBlock(which: BlockName): Float32Array[] {
    const k = this.live();
    k.storeParams(BLOCKS[which]);
    const staging = this.floats(k.stagingPtr(), PARAM_TOTAL);
    let offset = 0;
    return PARAM_SIZES.map((size) => {
      offset += size;
      return staging.slice(offset - size, offset);
    });
  }
}
