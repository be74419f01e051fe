import type { AugmentOptions } from '../data/augment.js';
import type { PreparedSet } from '../data/preprocess.js';
import type { LayerSummary, ModelSpec, ParameterInfo, Preprocessing } from '../model/types.js';
import type { DigitScores } from './scores.js';

/**
 * Which implementation computes a model: the fused WASM SIMD kernels (`'fused'`), the fused
 * WGSL kernels on the WebGPU device (`'webgpu'`), or tfjs ops (`'tfjs'`).
 *
 * @example
 * ```ts
 * const history = await train(model, data);
 * const path: EngineKind = history.path; // 'fused' on WASM
 * console.log(path, history.reason);
 * ```
 */
export type EngineKind = 'fused' | 'webgpu' | 'tfjs';

/**
 * Which fused kernels may compute a model. `'auto'` (default): on the WASM backend the fused WASM
 * SIMD kernels; for the default LeNet on WebGPU with a hardware adapter whichever of fused WebGPU
 * and fused WASM was faster in a short calibration (a few timed training steps each, once per
 * adapter in a session), on a software adapter fused WASM. `'wasm'` forces the fused WASM kernels
 * (any backend), `'webgpu'` the fused WebGPU kernels (the default LeNet only; needs the WebGPU
 * backend active), `'off'` tfjs ops. A forced choice that cannot run here throws an
 * {@link OptionError}.
 *
 * Coverage of the fused WASM kernels (WebAssembly SIMD needed): the default LeNet (32x32, max
 * pooling, ReLU, no activation after conv2) runs on hand-tuned kernels (`kernels: 'lenet'`, with
 * data-parallel threads); every other model {@link createLeNet} and {@link createMlp} build
 * (average pooling, tanh, an activation after conv2, any legal input size and resize mode, any
 * MLP widths) runs on generic kernels (`kernels: 'generic'`, also with data-parallel threads), unless its working
 * memory would exceed 64 MiB per training sample (LeNets above an input of about 300x300): then
 * tfjs ops, and `model.engine.reason` says so. Under `'auto'`, models other than the default
 * LeNet on WebGPU take tfjs ops on the GPU (generic fused WASM on a software adapter).
 *
 * @example
 * ```ts
 * await train(model, data, { fastPath: 'off' }); // tfjs ops, e.g. to compare with the kernels
 * ```
 */
export type FastPathOption = 'auto' | 'off' | 'wasm' | 'webgpu';

/** Every {@link FastPathOption}, for validating options. */
export const FAST_PATH_OPTIONS: readonly FastPathOption[] = ['auto', 'off', 'wasm', 'webgpu'];

/**
 * The engine that holds a model's weights and computes it, and why it was chosen.
 *
 * @example
 * ```ts
 * const model = await createLeNet();
 * await train(model, data, { epochs: 1 });
 * console.log(model.engine); // { kind: 'fused', backend: 'wasm', variant: 'simd', kernels: 'lenet', threads: 1, reason: '...' }
 * ```
 */
export interface EngineInfo {
  /**
   * `'fused'`: the fused WASM SIMD kernels; `'webgpu'`: the fused WGSL kernels on the WebGPU
   * device; `'tfjs'`: tfjs ops on the active backend.
   */
  readonly kind: EngineKind;
  /** The tfjs backend that was active when the engine was chosen (`'wasm'`, `'webgpu'`, ...). */
  readonly backend: string;
  /** Why this engine: what made the fused kernels apply, or why they did not. */
  readonly reason: string;
  /**
   * For the fused engines: the build running (`'relaxed-simd'` uses fused multiply-add; `'wgsl'`
   * is the WebGPU engine's compute shaders).
   */
  readonly variant?: 'simd' | 'relaxed-simd' | 'wgsl';
  /**
   * For the fused WASM engine: which kernel set computes the model. `'lenet'`: the hand-tuned
   * kernels of the default LeNet; `'generic'`: the parameterised kernels for every other LeNet
   * variant and every MLP. Both take data-parallel threads. See
   * {@link FastPathOption}.
   */
  readonly kernels?: 'lenet' | 'generic';
  /** Threads sharing each training step (the fused engine's data-parallel workers, plus one). */
  readonly threads: number;
}

/** Adam's settings for one step (validated by the trainer). */
export interface AdamSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /**
   * Decoupled weight decay (AdamW, as PyTorch's): each parameter is first multiplied by
   * `1 - learningRate * weightDecay`. Absent or 0: plain Adam, computed exactly as without it.
   */
  weightDecay?: number;
}

/**
 * Adam's state, in parameter order and layouts: what a checkpoint needs to continue training
 * exactly, and what moves with the weights when a model changes engine.
 */
export interface OptimizerState {
  /** Adam steps taken (the bias corrections depend on it). */
  readonly step: number;
  /** First-moment estimates, one array per parameter. */
  readonly firstMoment: readonly Float32Array[];
  /** Second-moment estimates, one array per parameter. */
  readonly secondMoment: readonly Float32Array[];
}

/** A batch of floats: `n` normalised NHWC images and their labels (0..9), as the CPU gatherer builds it. */
export interface TrainBatch {
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly n: number;
}

/**
 * The training set an engine keeps while `train` runs: the prepared 8-bit images (their labels
 * and normalisation with them, as {@link prepareImages} gives them), and the distortion to apply
 * per batch, if any. Engines normalise (and distort) each batch exactly as the shared CPU
 * gatherer (`engine/gather.ts`) does, so every engine sees the same floats.
 */
export interface TrainingSet {
  readonly data: PreparedSet;
  /**
   * Distortions drawn per image from the run's seed and each step's epoch and batch (as
   * `augmentBatch`); undefined: none.
   */
  readonly augment?: { readonly options: Required<AugmentOptions>; readonly seed: number };
}

/**
 * One training step's batch of the bound {@link TrainingSet}: its images `indices` (their count
 * is the batch size), and where the step is in the run (1-based epoch, 0-based batch), which
 * keys the augmentation.
 */
export interface StepBatch {
  readonly indices: Uint32Array;
  readonly epoch: number;
  readonly batch: number;
}

/** Loss (batch mean) and number of correct predictions of one step. */
export interface StepStats {
  loss: number;
  correct: number;
}

/** What an engine summed since the last {@link Engine.takeTotals}. */
export interface StepTotals {
  /** Summed per-image loss. */
  lossSum: number;
  /** Correct predictions. */
  correct: number;
  /**
   * Seconds the calling thread spent on augmentation (0 without): distorting batches on the CPU,
   * or, where the engine distorts inside its kernels, drawing the distortions and distorting the
   * calling thread's share (workers distort theirs meanwhile, not counted).
   */
  augmentSeconds: number;
}

/**
 * What training and inference need of a model's computation. An engine owns the model's weights
 * and its optimizer state, and where its data live: it receives 8-bit pixels (a bound training
 * set, or digits to classify) plus the model's preprocessing, and makes the floats itself (in its
 * module, on its device, or through the shared CPU gatherer). Reading state goes through it, so
 * what any caller sees is the current state. Implementations: `TfjsEngine` (any model, any
 * backend), `FusedEngine` (every model the factories build, on WASM: the default LeNet on
 * hand-tuned kernels, the others on generic ones; single-threaded or data-parallel over workers)
 * and `WebGpuEngine` (the default LeNet in WGSL). Every member is required: callers never ask
 * which engine they hold.
 */
export interface Engine {
  readonly info: EngineInfo;
  /** Logits `[n, 10]`, row-major, for `n` normalised NHWC images (evaluation of a prepared set). */
  forward(images: Float32Array, n: number): Promise<Float32Array>;
  /**
   * Scores `n` raw 8-bit digits (`side` x `side` each, consecutive in `pixels`, white on black)
   * into `out` (see {@link DigitScores}: label, softmax probabilities, blank flag of each),
   * prepared exactly as `preprocessing` prescribes (resize, normalisation): inside the fused
   * module where it can, else on the CPU (`engine/pixels.ts`). `pixels` is read before the first
   * `await`, so the caller may reuse it once this returns. `threads` (default 1): how many
   * threads may share a large batch (the fused WASM engine splits it over workers it starts on
   * first use and stops when idle; the others compute on one); the scores are the same bit for
   * bit on any count.
   *
   * @throws `OptionError` when a `side` x `side` digit cannot be resized to the model's input.
   */
  classifyPixels(
    pixels: Uint8Array,
    side: number,
    n: number,
    preprocessing: Preprocessing,
    out: DigitScores,
    threads?: number,
  ): Promise<void>;
  /**
   * Keeps `set` for {@link Engine.trainStep} until {@link Engine.unbindTrainingSet}, replacing
   * any set bound before (the fused WebGPU engine uploads it once to the GPU where it fits and no
   * augmentation applies). The caller must not change the arrays while bound.
   */
  bindTrainingSet(set: TrainingSet): void;
  /**
   * Builds `step`'s batch ahead, while the step before it runs (the CPU gatherer's engines; a
   * no-op where the batch is gathered on the device).
   */
  prepareStep(step: StepBatch): void;
  /**
   * One Adam step on the bound set's images `step.indices`, normalised (and distorted) inside the
   * engine. Resolves with the step's statistics only when `read` is true (a read may stall a
   * GPU); {@link Engine.takeTotals} sums them either way.
   */
  trainStep(step: StepBatch, adam: AdamSettings, read: boolean): Promise<StepStats | undefined>;
  /** Frees the bound set (no-op when none). */
  unbindTrainingSet(): void;
  /** What the steps summed since the last call. */
  takeTotals(): Promise<StepTotals>;
  /** Copies of the weights, read synchronously (throws on a backend that cannot, e.g. WebGPU in Node). */
  getWeights(): Float32Array[];
  /** Copies of the weights, read asynchronously. */
  readWeights(): Promise<Float32Array[]>;
  /** Replaces the weights (already validated by the model). */
  setWeights(weights: readonly Float32Array[]): void;
  /** A copy of Adam's state. */
  readOptimizerState(): Promise<OptimizerState>;
  /** Replaces Adam's state; `undefined` resets it (moments zero, step 0). */
  setOptimizerState(state: OptimizerState | undefined): void;
  /**
   * Threads for training steps: the fused WASM engine starts or stops workers. Resolves with
   * undefined when the engine uses the threads asked, else with why it uses one (the engines
   * that do not split steps).
   */
  setThreads(threads: number): Promise<string | undefined>;
  /** Frees the weights, optimizer state, bound set and any workers. */
  dispose(): Promise<void>;
}

/**
 * A classifier over 10 classes: an architecture and preprocessing (plain data) and an engine that
 * owns the weights. Made by {@link createLeNet}, {@link createMlp}, {@link loadModel} or
 * {@link loadPretrained}. The engine is chosen on first use (training, evaluation, prediction)
 * for the active backend, and again if the backend changes; weights and Adam's state move with
 * it. Once {@link Model.dispose}d, methods that touch the weights throw a {@link ModelDisposedError}.
 *
 * @example
 * ```ts
 * const model: Model = await createLeNet({ seed: 1 });
 * console.log(model.spec.kind, model.parameterCount); // 'lenet' 61706
 * await train(model, prepareImages(mnist.train));
 * console.log(model.engine?.kind); // 'fused'
 * const bytes = await model.save({ note: 'first run' });
 * model.dispose();
 * ```
 */
export interface Model {
  /** The architecture. */
  readonly spec: ModelSpec;
  /**
   * How input images must be prepared (size, resize, mean, std); stored with the weights, and
   * applied by predictors.
   */
  readonly preprocessing: Preprocessing;
  /** Trainable parameters in a fixed order (the weights file order), as names and shapes. */
  readonly parameters: readonly ParameterInfo[];
  /** Total number of trainable values (LeNet: 61,706). */
  readonly parameterCount: number;
  /** Number of classes. */
  readonly classes: number;
  /**
   * The engine holding the weights now and why it was chosen; `undefined` until the model is
   * first trained, evaluated or used by a predictor (the weights are then plain arrays).
   */
  readonly engine: EngineInfo | undefined;
  /** Layers with their output shapes and parameter counts. */
  summary(): LayerSummary[];
  /** The summary as a printable table. */
  formatSummary(): string;
  /** Facts stored with the weights (training recipe, accuracy); merged into the next save. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /**
   * Serialises architecture, preprocessing, the current weights and metadata (the stored
   * metadata merged with `metadata`) into the bytes that {@link loadModel} and
   * `decodeWeights` read.
   */
  save(metadata?: Record<string, unknown>): Promise<Uint8Array>;
  /**
   * Copies of the current weights, in parameter order, read synchronously: fine on WASM (and
   * from any training callback); on WebGPU prefer {@link Model.readWeights}, which does not block
   * on the GPU.
   */
  getWeights(): Float32Array[];
  /** Copies of the current weights, read asynchronously (works on every backend). */
  readWeights(): Promise<Float32Array[]>;
  /**
   * Replaces every weight, in parameter order (validated first: count, lengths, finite values).
   * Adam's state is kept.
   *
   * @throws {@link WeightsFormatError} when the count or a length does not match, or a value is
   *   not finite; no weight changes then.
   */
  setWeights(weights: readonly Float32Array[]): void;
  /** Frees the weights, optimizer state and any workers. The model is unusable afterwards. */
  dispose(): void;
  /** True after {@link Model.dispose}. */
  readonly isDisposed: boolean;
}
