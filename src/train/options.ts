import type { ThreadsOption } from '../backend/env.js';
import type { AugmentOptions } from '../data/augment.js';
import type { PreparedSet } from '../data/preprocess.js';
import type { EngineKind, FastPathOption } from '../engine/types.js';
import type { TrainCheckpoint } from './checkpoint.js';
import type { BatchLogs, EpochLogs } from './logs.js';
import type { TrainingRecipe } from './recipe.js';
import type { LearningRateSchedule } from './schedule.js';

/**
 * What `onBatchEnd` and `onEpochEnd` get besides the logs: the run's state at that point.
 *
 * @example
 * ```ts
 * await train(model, data, {
 *   onEpochEnd: async (epoch, logs, { checkpoint }) => {
 *     await saveCheckpointFile(`run-epoch${epoch}.ckpt`, await checkpoint());
 *   },
 * });
 * ```
 */
export interface TrainContext {
  /**
   * A checkpoint of the run right after this batch (or epoch): weights, Adam's state and the
   * position, to resume from with `resumeFrom`.
   */
  checkpoint(): Promise<TrainCheckpoint>;
}

/** Options of {@link TrainOptions.earlyStopping}. */
export interface EarlyStoppingOptions {
  /** The validation figure to watch. Default `'valLoss'` (lower is better); `'valAccuracy'`: higher. */
  monitor?: 'valLoss' | 'valAccuracy';
  /** Epochs without improvement before stopping: a positive integer. */
  patience: number;
  /** The smallest change that counts as an improvement: 0 or more. Default 0. */
  minDelta?: number;
  /** At the end, put back the weights of the best epoch. Default `true`. */
  restoreBestWeights?: boolean;
}

/**
 * Hooks into {@link train}. Each may be async; training waits for it. An error thrown by a
 * callback stops training and rejects the `train` promise.
 *
 * @example
 * ```ts
 * const callbacks: TrainCallbacks = {
 *   onTrainBegin: ({ epochs, path }) => console.log(`${epochs} epochs on the ${path} path`),
 *   onEpochEnd: (epoch, logs) => saveModelFile(model, `./lenet-epoch${epoch}.weights`),
 * };
 * await train(model, prepared, callbacks);
 * ```
 */
export interface TrainCallbacks {
  /**
   * Before the first epoch: the planned number of epochs and of batches per epoch, which
   * implementation trains (`path`: fused WASM SIMD kernels or tfjs ops) and why (`reason`).
   */
  onTrainBegin?: (info: {
    epochs: number;
    batchesPerEpoch: number;
    path: EngineKind;
    reason: string;
  }) => void | Promise<void>;
  /** Before each epoch; `epoch` is 1-based, as in {@link EpochLogs.epoch}. */
  onEpochBegin?: (epoch: number) => void | Promise<void>;
  /**
   * After each batch (`batch` is 0-based within the epoch); the model already holds the weights
   * after this batch (`model.getWeights()`, `model.save()` and predictors see them). Giving this
   * callback makes every step read its loss back from the backend; use `logEvery` to read only
   * every n-th batch.
   */
  onBatchEnd?: (batch: number, logs: BatchLogs, context: TrainContext) => void | Promise<void>;
  /**
   * After each epoch (`epoch` is 1-based); the model already holds the epoch's weights
   * (checkpoint it here). Not called for an epoch that an abort stopped before its first batch.
   */
  onEpochEnd?: (epoch: number, logs: EpochLogs, context: TrainContext) => void | Promise<void>;
  /** After the last epoch, or after an abort, with the history that {@link train} resolves to. */
  onTrainEnd?: (history: TrainHistory) => void | Promise<void>;
}

/**
 * Options of {@link train}, with the callbacks of {@link TrainCallbacks}. Defaults are the
 * reference recipe: 5 epochs of shuffled batches of 64, Adam with PyTorch's defaults. The
 * `'best'` recipe (`recipe: 'best'`) changes the defaults of `epochs`, `learningRate`,
 * `weightDecay` and `augment` (options given next to it override them).
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const options: TrainOptions = { epochs: 10, learningRate: 5e-4, seed: 1, signal: controller.signal };
 * const history = await train(model, prepared, options);
 * const best: TrainOptions = { recipe: 'best', seed: 1, validationData };
 * ```
 */
export interface TrainOptions extends TrainCallbacks {
  /**
   * The defaults of `epochs`, `learningRate`, `weightDecay` and `augment`: `'reference'` (the
   * tutorial's; default) or `'best'` (see {@link TrainingRecipe} and {@link trainingRecipe}).
   * A resumed run (`resumeFrom`) must be given the same recipe and options as the first.
   */
  recipe?: TrainingRecipe;
  /** Passes over the data: an integer, 0 or more. Default: 5 (the `'best'` recipe: 12). */
  epochs?: number;
  /** Images per training step: a positive integer. Default: 64. */
  batchSize?: number;
  /**
   * Adam step size, above 0: a number, or a {@link LearningRateSchedule} giving each step's rate
   * from `(epoch, batch, batchesPerEpoch)` (1-based epoch, 0-based batch), e.g.
   * `(epoch) => (epoch < 5 ? 1e-3 : 1e-4)` or {@link cosineSchedule}; Adam's moments carry over
   * when it changes. Every step's rate is computed and checked before training starts.
   * Default: 1e-3 (PyTorch's default, as the reference); the `'best'` recipe: a cosine schedule.
   */
  learningRate?: number | LearningRateSchedule;
  /**
   * Decoupled weight decay (AdamW, as PyTorch's `AdamW`): every step first multiplies each
   * parameter by `1 - rate * weightDecay`. 0 or more; 0 is plain Adam. Default: 0 (the `'best'`
   * recipe: 0.05).
   */
  weightDecay?: number;
  /**
   * Random distortions of the training images, drawn afresh for every image of every epoch
   * from the seed (a pure function of seed, epoch, batch and position in the batch, so a
   * resumed run distorts exactly as an uninterrupted one): `true` for {@link DEFAULT_AUGMENT},
   * or {@link AugmentOptions}; `false` for none. The fused path stays fused (the images are
   * distorted in JavaScript before each step). Default: `false` (the `'best'` recipe:
   * {@link DEFAULT_AUGMENT}).
   */
  augment?: boolean | AugmentOptions;
  /** Adam's decay rate of the gradient average. Default: 0.9 (PyTorch's default). */
  beta1?: number;
  /** Adam's decay rate of the squared-gradient average. Default: 0.999 (PyTorch's default). */
  beta2?: number;
  /** Adam's term added to the denominator for stability. Default: 1e-8 (PyTorch's default). */
  epsilon?: number;
  /**
   * Seed of the per-epoch shuffles (epoch `e` shuffles with `seed + e`) and of the
   * augmentation. Default: random.
   */
  seed?: number;
  /** Shuffle the training data every epoch. Default: `true`. */
  shuffle?: boolean;
  /** Evaluated after every epoch; results land in `valLoss`/`valAccuracy`. */
  validationData?: PreparedSet;
  /** Batch size for validation. Default: 32 (the reference's test batch). */
  validationBatchSize?: number;
  /** Call `onBatchEnd` only every n-th batch (0, n, 2n, ...): a positive integer. Default: 1. */
  logEvery?: number;
  /** Stops at the next batch boundary; the model keeps the weights reached so far. */
  signal?: AbortSignal;
  /**
   * `'auto'` (default): a fused step when it covers the model (on WebGPU, fused WebGPU or fused
   * WASM by calibration); `'wasm'`/`'webgpu'` force those fused kernels; `'off'`: tfjs ops. See
   * {@link FastPathOption}.
   */
  fastPath?: FastPathOption;
  /**
   * Threads sharing each fused training step and the per-epoch validation pass: above 1, each
   * batch is split and its shares' gradients computed in parallel in workers, while the calling
   * thread builds the next batch; validation images are split the same way. `'auto'` (default)
   * picks one thread per CPU core the runtime reports, at most 4, and 1 where threads lose (one
   * core, a batch under 32 images) or where workers cannot start (then it trains on one thread
   * and says why in `history.threadsReason`); see `resolveThreads`. A number is used as
   * given (workers that cannot start are then a {@link FusedLeNetError}).
   *
   * With more than one thread the gradients are summed in another order, so losses and weights
   * are close to (tested: losses within 1e-4 per step, weights within 1e-5 after several steps),
   * not bit-identical with, a 1-thread run; `threads: 1` gives the exact single-threaded results
   * of earlier versions. A run with a given count is deterministic (a resume is exact). A
   * browser page with a Content-Security-Policy must allow `worker-src blob:`. Threads apply to
   * the fused WASM path (the default LeNet's kernels and the generic ones of every other model);
   * the workers stop when `train` returns. Default: `'auto'`.
   */
  threads?: ThreadsOption;
  /**
   * Continue an interrupted run from this checkpoint (from `history.checkpoint`, a callback's
   * `context.checkpoint()`, or `decodeCheckpoint` bytes). Give the same data and options
   * as the interrupted run: it then ends with the same weights as a run that was never
   * interrupted (bit for bit on the fused engine when both parts run on the same number of
   * threads, and on tfjs' cpu and wasm backends; WebGPU sums in a nondeterministic order). The
   * checkpoint's seed is used when `seed` is not given.
   */
  resumeFrom?: TrainCheckpoint | Uint8Array;
  /**
   * Stop when the validation figure has not improved for `patience` epochs (needs
   * `validationData`), and by default restore the best epoch's weights. Off by default.
   */
  earlyStopping?: EarlyStoppingOptions;
}

/**
 * What {@link train} returns: the curves the reference plots, and how the run went.
 *
 * @example
 * ```ts
 * const history = await train(model, prepared, { validationData });
 * const curve = history.epochs.map((e) => [e.epoch, e.loss, e.valAccuracy]);
 * console.log(`${history.path} on ${history.backend}: ${history.samplesPerSecond.toFixed(0)} images/s`);
 * ```
 */
export interface TrainHistory {
  /** The logs of every epoch that ran, in order. */
  epochs: EpochLogs[];
  /** True when `signal` stopped training early. */
  aborted: boolean;
  /**
   * After an abort: the state to continue from (`resumeFrom`). Not set when the run finished.
   */
  checkpoint?: TrainCheckpoint;
  /** Set when early stopping ended the run: the epoch it stopped after and the best epoch. */
  earlyStop?: { stoppedAfter: number; bestEpoch: number; restored: boolean };
  /** Which implementation trained: fused WASM SIMD kernels or tfjs ops. */
  path: EngineKind;
  /** Why that path. */
  reason: string;
  /** Threads that shared each training step (above 1 only on the fused path). */
  threads: number;
  /** Why that many threads, e.g. `'one per reported CPU core (2)'` or `'as asked'`. */
  threadsReason: string;
  /** The backend tfjs ran on. */
  backend: string;
  /** Training seconds (validation excluded). */
  seconds: number;
  /** Training images per second over the whole run. */
  samplesPerSecond: number;
}
