// The typed view of the generic fused kernels (asm/net.ts, built into net-simd.wasm and
// net-relaxed-simd.wasm next to this file): any sequential network of 5x5 valid convolutions,
// 2x2 pooling, dense layers and ReLU/tanh that ends in 10 logits, i.e. every LeNet variant and
// every MLP the factories build. The default LeNet keeps its hand-tuned kernels (kernels.ts).
// Parameters cross this boundary in tfjs layouts (conv HWIO, dense [in, out], NHWC flatten);
// inside, every output width and every non-image input width is padded to a multiple of 4.
import type { Layer } from '../../model/layers.js';
import {
  type AdamHyperparameters,
  adamStepArguments,
  FusedLeNetError,
  type FusedStepResult,
  type FusedVariant,
} from './kernels.js';
import {
  gatherIndices,
  type ModuleTrainingSet,
  type SetExports,
  writeTrainingSet,
} from './trainset.js';

const CLASSES = 10;
/** Fields per layer in the module's table (see asm/net.ts). */
const TABLE_FIELDS = 24;
const MAX_LAYERS = 24;
enum Field {
  Type = 0,
  Activation = 1,
  Mode = 2,
  Out = 3,
  InC = 5,
  OutCP = 7,
  K = 8,
  W = 11,
  B = 12,
  InCReal = 15,
}
/** Largest forward batch per call: bounds the module's memory for big inference requests. */
const FORWARD_CHUNK = 256;
/**
 * Working memory the kernels may need per sample (activations, im2col rows, gradients); models
 * above it take tfjs ops. The layers take at least 4 samples at a time, so the working memory
 * stays within 256 MiB (plus the batch's images) of the 4 GiB a WebAssembly memory can have.
 */
export const NET_MAX_BYTES_PER_SAMPLE = 64 * 1024 * 1024;
/**
 * Parameters, gradients, Adam's two moments, a peer's gradients (data-parallel steps) and one
 * transposed weight: at most 1 GiB.
 */
const NET_MAX_PARAMETER_BYTES = 1024 * 1024 * 1024;

/** The module's exports; see the ABI comment at the top of asm/net.ts. */
interface NetExports extends SetExports {
  readonly memory: WebAssembly.Memory;
  tablePtr(): number;
  configure(layers: number, side: number, channels: number): number;
  reserve(capacity: number): number;
  paramsAddress(): number;
  gradientsAddress(): number;
  firstMomentAddress(): number;
  secondMomentAddress(): number;
  parameterBytes(): number;
  inputPtr(): number;
  labelsPtr(): number;
  logitsPtr(): number;
  correctCount(): number;
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
  forward(n: number): void;
  gradientStep(n: number): number;
  adamGuarded(
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    bc1: number,
    bc2: number,
    updateBound: number,
    decay: number,
  ): number;
  peerGradientsAddress(): number;
  mixGradients(selfWeight: number, peerWeight: number): void;
}

const round4 = (v: number) => Math.ceil(v / 4) * 4;

/** The layers the kernels run (flatten is implicit: NHWC rows are already flat). */
function kernelLayers(layers: readonly Layer[]): Exclude<Layer, { type: 'flatten' }>[] {
  return layers.filter((l): l is Exclude<Layer, { type: 'flatten' }> => l.type !== 'flatten');
}

/**
 * Why the generic kernels cannot run `layers` on `inputSize`² single-channel images, or
 * `undefined` when they can: only 5x5 convolutions, 2x2 pools on even sides, 10 outputs, at
 * most 24 layers, at most {@link NET_MAX_BYTES_PER_SAMPLE} of working memory per sample and
 * 1 GiB for the parameters and their companions.
 */
export function netMismatch(layers: readonly Layer[], inputSize: number): string | undefined {
  const run = kernelLayers(layers);
  if (run.length > MAX_LAYERS) return `${run.length} layers (the kernels take ${MAX_LAYERS})`;
  let side = inputSize;
  let channels = 1;
  let spatial = true;
  let floats = inputSize * inputSize; // the image
  let largest = 0;
  let params = 0; // in the padded layout
  for (const layer of run) {
    const inSize = spatial ? side * side * channels : channels;
    if (layer.type === 'conv') {
      if (layer.kernel !== 5 || !spatial) return `a ${layer.kernel}x${layer.kernel} convolution`;
      const k = 25 * channels;
      side -= 4;
      channels = round4(layer.outChannels);
      params += (k + 1) * channels;
      floats += side * side * (k + channels);
      largest = Math.max(largest, side * side * k);
    } else if (layer.type === 'pool') {
      if (side % 2 !== 0) return `a 2x2 pool on an odd side (${side})`;
      side /= 2;
      floats += 2 * side * side * channels;
    } else {
      spatial = false;
      channels = round4(layer.outUnits);
      params += (inSize + 1) * channels;
      floats += channels;
    }
    largest = Math.max(largest, inSize, spatial ? side * side * channels : channels);
  }
  const last = run[run.length - 1];
  if (last?.type !== 'dense' || last.outUnits !== CLASSES)
    return 'no final dense layer of 10 outputs';
  const paramBytes = 4 * 6 * params;
  if (paramBytes > NET_MAX_PARAMETER_BYTES) {
    return `${params} parameters, which need ${(paramBytes / 2 ** 20).toFixed(0)} MiB in the fused kernels (at most ${NET_MAX_PARAMETER_BYTES / 2 ** 20} MiB)`;
  }
  const bytes = 4 * (floats + 2 * largest + 22);
  if (bytes > NET_MAX_BYTES_PER_SAMPLE) {
    return `a ${inputSize}x${inputSize} input, which needs ${(bytes / 2 ** 20).toFixed(1)} MiB per sample in the fused kernels (at most ${NET_MAX_BYTES_PER_SAMPLE / 2 ** 20} MiB)`;
  }
  return undefined;
}

/**
 * Which kernels a pool's instances run: the default LeNet's (asm/lenet.ts, 32x32 images) or the
 * generic ones (asm/net.ts) configured with a model's layers for `inputSize`² images.
 */
export type KernelSet =
  | { kind: 'lenet' }
  | { kind: 'generic'; layers: readonly Layer[]; inputSize: number };

/** Floats per image of a kernel set's input. */
export function imageFloatsOf(kernels: KernelSet): number {
  return kernels.kind === 'lenet' ? 32 * 32 : kernels.inputSize * kernels.inputSize;
}

/** Where one parameter lives inside a block, and how its tfjs layout maps onto it. */
interface ParamPlacement {
  /** Byte offset in the block. */
  readonly offset: number;
  /** tfjs layout: `groups * channels` rows of `out` floats (a bias: 1 row, 1 group). */
  readonly groups: number;
  readonly channels: number;
  readonly paddedChannels: number;
  readonly out: number;
  readonly paddedOut: number;
  readonly size: number;
}

/** Blocks of the module's parameter-shaped memory. */
type Block = 'params' | 'grads' | 'firstMoment' | 'secondMoment';

/** A fresh instance of the generic kernels, configured for `layers` on `inputSize`² images. */
export async function instantiateFusedNet(
  variant: FusedVariant,
  module: WebAssembly.Module,
  layers: readonly Layer[],
  inputSize: number,
): Promise<WasmNet> {
  const reason = netMismatch(layers, inputSize);
  if (reason !== undefined) {
    throw new FusedLeNetError(`The generic fused kernels cannot run a model with ${reason}.`);
  }
  const instance = await WebAssembly.instantiate(module, {});
  return new WasmNet(variant, instance.exports as unknown as NetExports, layers, inputSize);
}

function checkCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new FusedLeNetError(`${what} must be a positive integer, got ${n}.`);
  }
}

/**
 * One instance of the generic kernels: a network with its own parameters, Adam state and
 * WebAssembly memory. A whole training step or forward pass is one call.
 */
export class WasmNet {
  readonly variant: FusedVariant;
  #kernels: NetExports | undefined;
  readonly #placements: ParamPlacement[];
  readonly #imageFloats: number;
  #capacity = 0;
  #step = 0;
  /** Images in the bound training set (0: none). */
  #setCount = 0;

  constructor(
    variant: FusedVariant,
    kernels: NetExports,
    layers: readonly Layer[],
    inputSize: number,
  ) {
    this.variant = variant;
    this.#kernels = kernels;
    this.#imageFloats = inputSize * inputSize;
    const run = kernelLayers(layers);
    const table = new Int32Array(
      kernels.memory.buffer,
      kernels.tablePtr(),
      MAX_LAYERS * TABLE_FIELDS,
    );
    run.forEach((layer, i) => {
      const row = i * TABLE_FIELDS;
      table[row + Field.Type] = layer.type === 'conv' ? 0 : layer.type === 'pool' ? 1 : 2;
      const activation = layer.type === 'pool' ? null : layer.activation;
      table[row + Field.Activation] = activation === 'relu' ? 1 : activation === 'tanh' ? 2 : 0;
      table[row + Field.Mode] = layer.type === 'pool' && layer.mode === 'avg' ? 1 : 0;
      table[row + Field.Out] =
        layer.type === 'conv' ? layer.outChannels : layer.type === 'dense' ? layer.outUnits : 0;
    });
    if (!kernels.configure(run.length, inputSize, 1)) {
      throw new FusedLeNetError('The generic fused kernels rejected the layer table.');
    }
    // configure() grew memory: read the table through a fresh view.
    const done = new Int32Array(
      kernels.memory.buffer,
      kernels.tablePtr(),
      MAX_LAYERS * TABLE_FIELDS,
    );
    this.#placements = run.flatMap((layer, i) => {
      if (layer.type === 'pool') return [];
      const row = i * TABLE_FIELDS;
      const at = (f: Field) => done[row + f] as number;
      const channels = at(Field.InCReal);
      // A convolution's windows hold the real channels only; a dense layer's rows follow the
      // padded activations it reads.
      const paddedChannels = layer.type === 'conv' ? channels : at(Field.InC);
      const groups = at(Field.K) / paddedChannels;
      const out = at(Field.Out);
      const paddedOut = at(Field.OutCP);
      return [
        { offset: at(Field.W), groups, channels, paddedChannels, out, paddedOut, size: 0 },
        { offset: at(Field.B), groups: 1, channels: 1, paddedChannels: 1, out, paddedOut, size: 0 },
      ].map((p) => ({ ...p, size: p.groups * p.channels * p.out }));
    });
    this.reserve(1);
  }

  /** Sets the parameters in tfjs order and layouts (weights-file order). Adam's state is kept. */
  setParams(params: readonly Float32Array[]): void {
    this.#load('params', params);
  }

  /** Copies of the parameters, in the order and layouts of `setParams`. */
  getParams(): Float32Array[] {
    return this.#unload('params');
  }

  /** The gradients of the mean loss from the last training step, laid out like `getParams()`. */
  getGradients(): Float32Array[] {
    return this.#unload('grads');
  }

  /** Adam steps applied since the optimizer state was last set. */
  get adamStep(): number {
    return this.#step;
  }

  /** Adam's step count and moments, laid out like `getParams()`. */
  getOptimizerState(): { step: number; firstMoment: Float32Array[]; secondMoment: Float32Array[] } {
    return {
      step: this.#step,
      firstMoment: this.#unload('firstMoment'),
      secondMoment: this.#unload('secondMoment'),
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
    const k = this.#live();
    if (state === undefined) {
      new Uint8Array(k.memory.buffer, k.firstMomentAddress(), 2 * k.parameterBytes()).fill(0);
      this.#step = 0;
      return;
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new FusedLeNetError(`Adam's step must be an integer >= 0, got ${state.step}.`);
    }
    this.#load('firstMoment', state.firstMoment);
    this.#load('secondMoment', state.secondMoment);
    this.#step = state.step;
  }

  /**
   * One Adam step on a batch of `n` normalised NHWC images and their labels (0..9). The result
   * is computed before the update. When the loss, a gradient or the update is not finite,
   * nothing is updated and the loss is NaN.
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
    if (!Number.isNaN(loss)) this.#step = step;
    return { loss, correct: k.correctCount() };
  }

  /**
   * Keeps a training set (8-bit images of the model's input size, labels, normalisation table)
   * in the module for {@link WasmNet.trainStepIndexed} and {@link WasmNet.gradientStepIndexed},
   * replacing any before. Memory grows by a byte per input pixel per image and never shrinks.
   *
   * @throws {@link FusedLeNetError} for a malformed set or when memory cannot grow.
   */
  bindSet(set: ModuleTrainingSet): void {
    const k = this.#live();
    this.#setCount = 0;
    this.#capacity = 0;
    writeTrainingSet(k, set, this.#imageFloats);
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

  /** {@link WasmNet.trainStep} on the bound set's images `indices`, gathered inside the module. */
  trainStepIndexed(indices: Uint32Array, hp: AdamHyperparameters = {}): FusedStepResult {
    const step = this.#step + 1;
    const adam = adamStepArguments(hp, step);
    const k = this.#gather(indices);
    const loss = k.trainStep(indices.length, ...adam);
    if (!Number.isNaN(loss)) this.#step = step;
    return { loss, correct: k.correctCount() };
  }

  /** {@link WasmNet.gradientStep} on the bound set's images `indices` (empty: zero gradients). */
  gradientStepIndexed(indices: Uint32Array): FusedStepResult {
    const k = this.#live();
    const n = indices.length;
    if (n === 0) {
      this.#block('grads').fill(0);
      return { loss: 0, correct: 0 };
    }
    this.#gather(indices);
    return { loss: k.gradientStep(n) * n, correct: k.correctCount() };
  }

  #gather(indices: Uint32Array): NetExports {
    const k = this.#live();
    checkCount(indices.length, 'the number of indices');
    this.reserve(indices.length);
    gatherIndices(k, indices, this.#setCount);
    return k;
  }

  /** Logits [n,10] of `n` images, into `out` when given (length at least n*10). */
  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array {
    const k = this.#live();
    checkCount(n, 'n');
    const size = this.#imageFloats;
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
      this.#floats(k.inputPtr(), m * size).set(images.subarray(s * size, (s + m) * size));
      k.forward(m);
      logits.set(this.#floats(k.logitsPtr(), m * CLASSES), s * CLASSES);
    }
    return logits;
  }

  /** Floats per image (`inputSize`²): the size of one image in `images` arguments. */
  get imageFloats(): number {
    return this.#imageFloats;
  }

  /** The parameters in the module's internal layout, as bytes (a view: copy it before growing). */
  parameterBytes(): Uint8Array {
    const k = this.#live();
    return new Uint8Array(k.memory.buffer, k.paramsAddress(), k.parameterBytes());
  }

  /** Sets the parameters from bytes in the internal layout (another instance's `parameterBytes`). */
  setParameterBytes(bytes: Uint8Array): void {
    this.parameterBytes().set(bytes);
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
      this.#block('grads').fill(0);
      return { loss: 0, correct: 0 };
    }
    this.#stage(images, labels, n);
    return { loss: k.gradientStep(n) * n, correct: k.correctCount() };
  }

  /** gradients = selfWeight * gradients + peerWeight * peer (bytes in the internal layout). */
  mixGradients(peer: ArrayBuffer, selfWeight: number, peerWeight: number): void {
    const k = this.#live();
    new Uint8Array(k.memory.buffer, k.peerGradientsAddress(), k.parameterBytes()).set(
      new Uint8Array(peer, 0, k.parameterBytes()),
    );
    k.mixGradients(selfWeight, peerWeight);
  }

  /**
   * One Adam update with the gradients in the module, unless the update would make a parameter
   * or moment non-finite: then nothing changes and it returns false.
   */
  applyAdam(hp: AdamHyperparameters = {}): boolean {
    const step = this.#step + 1;
    if (!this.#live().adamGuarded(...adamStepArguments(hp, step))) return false;
    this.#step = step;
    return true;
  }

  /** Validates a training batch of `n` (sizes, labels 0..9) and returns its labels. */
  checkBatch(images: Float32Array, labels: Uint8Array, n: number): Uint8Array {
    this.#live();
    checkCount(n, 'n');
    const size = this.#imageFloats;
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

  /** Makes room for batches of `n`; growing memory detaches views made before. */
  reserve(n: number): void {
    if (n <= this.#capacity) return;
    if (!this.#live().reserve(n)) {
      throw new FusedLeNetError(`Cannot grow WebAssembly memory for a batch of ${n}.`);
    }
    this.#capacity = n;
  }

  /** Releases the WebAssembly instance; the object is unusable afterwards. */
  dispose(): void {
    this.#kernels = undefined;
  }

  #live(): NetExports {
    if (!this.#kernels) throw new FusedLeNetError('This fused network has been disposed.');
    return this.#kernels;
  }

  #stage(images: Float32Array, labels: Uint8Array, n: number): NetExports {
    const k = this.#live();
    this.reserve(n);
    const size = this.#imageFloats;
    this.#floats(k.inputPtr(), n * size).set(images.subarray(0, n * size));
    new Uint8Array(k.memory.buffer, k.labelsPtr(), n).set(labels.subarray(0, n));
    return k;
  }

  #floats(ptr: number, length: number): Float32Array {
    return new Float32Array(this.#live().memory.buffer, ptr >>> 0, length);
  }

  /** The whole block `which`, as floats. */
  #block(which: Block): Float32Array {
    const k = this.#live();
    const address =
      which === 'params'
        ? k.paramsAddress()
        : which === 'grads'
          ? k.gradientsAddress()
          : which === 'firstMoment'
            ? k.firstMomentAddress()
            : k.secondMomentAddress();
    return this.#floats(address, k.parameterBytes() / 4);
  }

  /** Copies arrays in tfjs layouts into block `which`, leaving the padding zero. */
  #load(which: Block, arrays: readonly Float32Array[]): void {
    const placements = this.#placements;
    if (arrays.length !== placements.length) {
      throw new FusedLeNetError(`Expected ${placements.length} parameters, got ${arrays.length}.`);
    }
    placements.forEach((p, i) => {
      const a = arrays[i] as Float32Array;
      if (a.length !== p.size) {
        throw new FusedLeNetError(`Parameter ${i} must have ${p.size} elements, got ${a.length}.`);
      }
    });
    const block = this.#block(which);
    block.fill(0);
    placements.forEach((p, i) => {
      const a = arrays[i] as Float32Array;
      const base = p.offset / 4;
      for (let g = 0; g < p.groups; g++) {
        for (let c = 0; c < p.channels; c++) {
          const from = (g * p.channels + c) * p.out;
          block.set(
            a.subarray(from, from + p.out),
            base + (g * p.paddedChannels + c) * p.paddedOut,
          );
        }
      }
    });
  }

  /** Copies of block `which` in tfjs layouts. */
  #unload(which: Block): Float32Array[] {
    const block = this.#block(which);
    return this.#placements.map((p) => {
      const a = new Float32Array(p.size);
      const base = p.offset / 4;
      for (let g = 0; g < p.groups; g++) {
        for (let c = 0; c < p.channels; c++) {
          const from = base + (g * p.paddedChannels + c) * p.paddedOut;
          a.set(block.subarray(from, from + p.out), (g * p.channels + c) * p.out);
        }
      }
      return a;
    });
  }
}
