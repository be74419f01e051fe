import { resolveThreads, type ThreadsDecision, type ThreadsOption } from '../backend/env.js';
import { snapshotWeights } from '../backend/select.js';
import {
  type AugmentOptions,
  augmentBatch,
  checkAugmentOptions,
  DEFAULT_AUGMENT,
} from '../data/augment.js';
import { batchCount, batches, MAX_BATCH_SIZE, shuffledIndices } from '../data/batches.js';
import { normalizationTable, type PreparedSet } from '../data/preprocess.js';
import { checkFastPath } from '../engine/choose.js';
import { StepDivergedError, TrainingDivergedError } from '../engine/errors.js';
import { engineModel } from '../engine/model.js';
import type { AdamSettings, Engine, EngineKind, FastPathOption, Model } from '../engine/types.js';
import { OptionError } from '../errors.js';
import {
  checkBoolean,
  checkChoice,
  checkFunction,
  checkInt,
  checkNumber,
  checkOptionKeys,
  checkSignal,
  describeValue,
} from '../options.js';
import { platform } from '../platform/index.js';
import { CheckpointFormatError, decodeCheckpoint, type TrainCheckpoint } from './checkpoint.js';
import { assertCompatible } from './compat.js';
import { evaluateOn } from './evaluate.js';
import { EARLY_STOPPING_KEYS, TRAIN_OPTION_KEYS } from './option-keys.js';
import { type TrainingRecipe, trainingRecipe } from './recipe.js';
import type { LearningRateSchedule } from './schedule.js';

/**
 * Statistics of one batch, passed to `onBatchEnd`.
 *
 * @example
 * ```ts
 * await train(model, data, {
 *   onBatchEnd: (batch, logs: BatchLogs) => console.log(batch, logs.loss.toFixed(4), logs.accuracy, logs.size),
 * });
 * ```
 */
export interface BatchLogs {
  /** Mean cross-entropy of the batch. */
  loss: number;
  /** Fraction of the batch classified correctly, 0..1. */
  accuracy: number;
  /** Images in the batch. */
  size: number;
}

/**
 * Statistics of one epoch, passed to `onEpochEnd` and kept in {@link TrainHistory}.
 *
 * @example
 * ```ts
 * const history = await train(model, data, { validationData });
 * const last: EpochLogs | undefined = history.epochs.at(-1);
 * console.log(last?.epoch, last?.loss, last?.valAccuracy);
 * ```
 */
export interface EpochLogs {
  /** 1-based epoch number, as the reference prints it. */
  epoch: number;
  /** Mean cross-entropy per training image over the epoch (weights changing as it went). */
  loss: number;
  /** Training accuracy over the epoch, 0..1. */
  accuracy: number;
  /** Mean cross-entropy on `validationData`, evaluated after the epoch; set only when given. */
  valLoss?: number;
  /** Accuracy on `validationData` after the epoch, 0..1; set only when it is given. */
  valAccuracy?: number;
  /** Wall-clock seconds of the epoch's training (validation excluded, augmentation included). */
  seconds: number;
  /**
   * Of `seconds`, the time spent distorting images (`augment`); set only when augmenting
   * (after a resume, only the resumed part of the epoch counts).
   */
  augmentSeconds?: number;
  /** The learning rate of the epoch's last step (set by {@link train}). */
  learningRate?: number;
  /** Training images per second over the epoch. */
  samplesPerSecond: number;
  /** Batches run (fewer than planned when aborted). */
  batches: number;
}

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

/**
 * Options of {@link TrainOptions.earlyStopping}.
 *
 * @example
 * ```ts
 * const earlyStopping: EarlyStoppingOptions = { monitor: 'valAccuracy', patience: 3, minDelta: 1e-4 };
 * await train(model, data, { epochs: 30, validationData, earlyStopping });
 * ```
 */
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
  /** Images per training step: an integer from 1 to {@link MAX_BATCH_SIZE} (2^24). Default: 64. */
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
  /** Batch size for validation: an integer from 1 to {@link MAX_BATCH_SIZE}. Default: 32 (the reference's test batch). */
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
   * and says why in `history.threadsReason`); see {@link resolveThreads}. A number is used as
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
   * `context.checkpoint()`, or {@link decodeCheckpoint} bytes). Give the same data and options
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

/**
 * Trains `model` in place with Adam on softmax cross-entropy, as the reference does (5 epochs,
 * batches of 64 shuffled, learning rate 1e-3). Each call starts Adam afresh (moments zero, as a
 * new `torch.optim.Adam` would); its state lives with the weights in the model's engine.
 *
 * Every option is checked before any work starts. Callbacks see the current weights: inside
 * `onBatchEnd`, `model.getWeights()`, `model.save()`, {@link evaluate} and predictors read the
 * weights after that batch. Training yields to the event loop at least every ~50 ms, so
 * timers, abort signals and UI updates run while it trains.
 *
 * @example
 * ```ts
 * import { createLeNet, loadMnist, prepareImages, train } from 'lenet-mnist';
 * const mnist = await loadMnist();
 * const model = await createLeNet({ seed: 1 });
 * const history = await train(model, prepareImages(mnist.train), {
 *   validationData: prepareImages(mnist.test),
 *   logEvery: 100,
 *   onBatchEnd: (batch, { loss }) => console.log(batch, loss.toFixed(4)),
 *   onEpochEnd: (epoch, logs) => console.log(epoch, logs.valAccuracy),
 * });
 * ```
 * @param model - The model to train; its weights change in place.
 * @param data - Training images from {@link prepareImages} (or {@link splitValidation}), prepared
 *   as the model expects (size, mean, std).
 * @param options - Epochs, batch size, Adam settings, validation data, callbacks and an abort
 *   signal; see {@link TrainOptions}. Aborting stops at the next batch boundary and resolves
 *   with `aborted: true`; it does not reject.
 * @returns The history of the epochs that ran.
 * @throws {@link DatasetError} when the data's size or normalisation does not fit the model;
 *   {@link OptionError} (a `RangeError`), naming the option, when `epochs`, `batchSize`,
 *   `logEvery` or `validationBatchSize` is not an integer in range, when `threads` is neither
 *   `'auto'` nor an integer of 1 or more, when `learningRate` (or the rate its schedule gives
 *   any step) is not a finite number above 0, when `weightDecay` is negative (or its product
 *   with a rate is not below 1), when
 *   `beta1`/`beta2` are not in [0, 1) or `epsilon` is not above 0, for an unknown `fastPath` or
 *   `recipe`, `augment` ranges out of bounds, bad `earlyStopping`, a callback or `signal` of the
 *   wrong type, or an empty dataset; {@link CheckpointFormatError} when `resumeFrom` is invalid
 *   or does not fit the model, data or options; {@link FusedLeNetError} when the fused kernels
 *   apply but cannot load; {@link TrainingDivergedError} when a step's loss or gradient is not
 *   finite (the model keeps the weights from before it). Errors thrown by callbacks stop
 *   training and propagate (the model keeps the weights reached).
 */
export async function train(
  model: Model,
  data: PreparedSet,
  options: TrainOptions = {},
): Promise<TrainHistory> {
  const plan = checkTrainOptions(model, data, options);
  const resume = plan.resume;
  const handle = await engineModel(model).holdEngine({ fastPath: plan.fastPath });
  const { engine } = handle;
  const { reason } = engine.info;
  const path: EngineKind = engine.info.kind;
  const seed = options.seed ?? resume?.run.seed ?? Math.floor(Math.random() * 2 ** 31);
  const shuffle = options.shuffle ?? true;
  const perEpoch = plan.batchesPerEpoch;
  const history: TrainHistory = {
    epochs: resume?.epochs.map((e) => ({ ...e })) ?? [],
    aborted: false,
    path,
    reason,
    threads: 1,
    threadsReason: path === 'fused' ? plan.threads.reason : 'the tfjs path trains on one thread',
    backend: engine.info.backend,
    seconds: 0,
    samplesPerSecond: 0,
  };
  /**
   * Where the run is: the next batch to run, and sums over the current epoch's batches so far
   * (`epochStart` is shifted back by the seconds an interrupted epoch had already taken).
   */
  const at = {
    epoch: resume?.next.epoch ?? 1,
    batch: resume?.next.batch ?? 0,
    lossSum: resume?.partialEpoch.lossSum ?? 0,
    correct: resume?.partialEpoch.correct ?? 0,
    seen: resume?.partialEpoch.seen ?? 0,
    batches: resume?.partialEpoch.batches ?? 0,
    epochStart: now() - (resume?.partialEpoch.seconds ?? 0) * 1000,
  };
  const early = plan.earlyStopping;
  let best: { value: number; epoch: number; weights: Float32Array[] | undefined } | undefined;
  let samples = 0;
  let lastYield = now();
  // Distorted images go to their own buffers (the batch's stays the source), two of them, as the
  // batches: one for the step in flight, one for the next batch built meanwhile.
  const augmented = plan.augment
    ? [0, 1].map(() => new Float32Array(plan.batchSize * data.width * data.height))
    : undefined;
  const background = normalizationTable(data.mean, data.std)[0] as number;

  /** The engine's running sums, drained into `at` (a checkpoint needs them without an epoch end). */
  const drainTotals = async () => {
    const totals = await engine.takeTotals();
    at.lossSum += totals.lossSum;
    at.correct += totals.correct;
  };
  const checkpoint = async (): Promise<TrainCheckpoint> => {
    await drainTotals();
    const [weights, optimizer] = await Promise.all([
      engine.readWeights(),
      engine.readOptimizerState(),
    ]);
    return {
      spec: model.spec,
      preprocessing: model.preprocessing,
      weights,
      optimizer,
      next: { epoch: at.epoch, batch: at.batch },
      run: { seed, batchSize: plan.batchSize, shuffle, dataCount: data.count },
      partialEpoch: {
        lossSum: at.lossSum,
        correct: at.correct,
        seen: at.seen,
        batches: at.batches,
        seconds: (now() - at.epochStart) / 1000,
      },
      epochs: history.epochs.map((e) => ({ ...e })),
    };
  };
  const context: TrainContext = { checkpoint };
  /**
   * Set when the engine keeps the training set (fused WebGPU: uploaded once, steps by index);
   * never with augmentation, whose images change on the CPU every batch.
   */
  let resident: { order: (epoch: number) => Uint32Array } | undefined;

  try {
    if (resume !== undefined) {
      engine.setWeights(resume.weights);
      engine.setOptimizerState(resume.optimizer);
    } else {
      engine.setOptimizerState(undefined);
    }
    if (path === 'fused') {
      try {
        await engine.setThreads(plan.threads.threads);
      } catch (err) {
        if (plan.threadsAsked !== 'auto') throw err;
        // 'auto' trains anyway (e.g. a page whose Content-Security-Policy forbids blob: workers).
        await engine.setThreads(1);
        history.threadsReason = `workers could not start (${(err as Error).message})`;
      }
      history.threads = engine.info.threads;
    }
    // With workers, the next batch is built while they compute the current step: a fused step
    // copies its batch out before its first await (FusedEngine).
    const overlap = history.threads > 1;
    if (plan.augment === undefined && engine.bindTrainingSet?.(data) === true) {
      // The same order as `batches` below (same shuffle, same seed).
      const unshuffled = Uint32Array.from({ length: data.count }, (_, i) => i);
      resident = {
        order: (epoch) => (shuffle ? shuffledIndices(data.count, seed + epoch) : unshuffled),
      };
    }
    await options.onTrainBegin?.({ epochs: plan.epochs, batchesPerEpoch: perEpoch, path, reason });
    while (at.epoch <= plan.epochs) {
      const epoch = at.epoch;
      let augmentMs = 0;
      let learningRate = plan.rates[(epoch - 1) * perEpoch] as number;
      if (at.batch === 0) {
        await options.onEpochBegin?.(epoch);
        at.epochStart = now();
      }
      const started = now();
      const order = resident?.order(epoch);
      const epochBatches = batches(data, {
        batchSize: plan.batchSize,
        shuffle,
        seed: seed + epoch,
        reuseBuffers: true,
        startBatch: at.batch,
      })[Symbol.iterator]();
      /** The epoch's next batch, distorted when augmenting; undefined after the last. */
      const nextBatch = () => {
        const { done, value: batch } = epochBatches.next();
        if (done) return undefined;
        let images = batch.images;
        if (plan.augment && augmented) {
          const t0 = now();
          images = (augmented[batch.index & 1] as Float32Array).subarray(0, batch.images.length);
          augmentBatch(batch.images, images, batch.size, data.width, background, plan.augment, {
            seed,
            epoch,
            batch: batch.index,
          });
          augmentMs += now() - t0;
        }
        return { ...batch, images };
      };
      let batch = nextBatch();
      while (batch !== undefined) {
        // Let timers, abort signals and UI run: one task every ~50 ms of training.
        if (now() - lastYield >= YIELD_EVERY_MS) {
          await platform.yieldToEventLoop();
          lastYield = now();
        }
        if (options.signal?.aborted) {
          history.aborted = true;
          break;
        }
        const wanted = options.onBatchEnd !== undefined && batch.index % plan.logEvery === 0;
        // The schedule's rate for this step, a pure function of (epoch, batch).
        learningRate = plan.rates[(epoch - 1) * perEpoch + batch.index] as number;
        const adam: AdamSettings = { ...plan.adam, learningRate };
        const first = batch.index * plan.batchSize;
        const indices = order?.subarray(first, first + batch.size);
        const step = trainStep(engine, batch, adam, wanted, perEpoch, indices);
        const following = overlap ? nextBatch() : undefined;
        const stats = await step;
        at.batch = batch.index + 1;
        at.seen += batch.size;
        at.batches++;
        samples += batch.size;
        if (stats && options.onBatchEnd) {
          const logs = { loss: stats.loss, accuracy: stats.correct / batch.size, size: batch.size };
          await options.onBatchEnd(batch.index, logs, context);
        }
        batch = overlap ? following : nextBatch();
      }
      await drainTotalsOrThrow(drainTotals, perEpoch);
      history.seconds += (now() - started) / 1000;
      // On WebGPU, a CPU copy of the weights to restore from if the device is lost (no-op on WASM).
      await snapshotWeights();
      // The state to resume from, taken before this epoch's (partial) logs are added.
      if (history.aborted) history.checkpoint = await checkpoint();
      if (history.aborted && at.batches === 0) break;
      const seconds = (now() - at.epochStart) / 1000;
      const logs: EpochLogs = {
        epoch,
        loss: at.lossSum / at.seen,
        accuracy: at.correct / at.seen,
        seconds,
        samplesPerSecond: at.seen / seconds,
        batches: at.batches,
        learningRate,
      };
      if (plan.augment) logs.augmentSeconds = augmentMs / 1000;
      if (history.aborted) {
        // An aborted epoch is logged with the batches that ran, without validation.
        history.epochs.push(logs);
        await options.onEpochEnd?.(epoch, logs, context);
        break;
      }
      if (options.validationData) {
        const val = await evaluateOn(engine, options.validationData, plan.validationBatchSize);
        logs.valLoss = val.loss;
        logs.valAccuracy = val.accuracy;
      }
      history.epochs.push(logs);
      // Next comes the next epoch's first batch: a checkpoint taken in onEpochEnd resumes there.
      Object.assign(at, {
        epoch: epoch + 1,
        batch: 0,
        lossSum: 0,
        correct: 0,
        seen: 0,
        batches: 0,
      });
      at.epochStart = now();
      await options.onEpochEnd?.(epoch, logs, context);
      if (early !== undefined) {
        const value =
          early.monitor === 'valAccuracy'
            ? -(logs.valAccuracy as number)
            : (logs.valLoss as number);
        if (best === undefined || value < best.value - early.minDelta) {
          best = {
            value,
            epoch,
            weights: early.restoreBestWeights ? await engine.readWeights() : undefined,
          };
        } else if (epoch - best.epoch >= early.patience) {
          const restored = best.weights !== undefined;
          if (restored) engine.setWeights(best.weights as Float32Array[]);
          history.earlyStop = { stoppedAfter: epoch, bestEpoch: best.epoch, restored };
          break;
        }
      }
    }
    history.samplesPerSecond = history.seconds > 0 ? samples / history.seconds : 0;
    await options.onTrainEnd?.(history);
    return history;
  } finally {
    if (resident !== undefined) engine.unbindTrainingSet?.();
    handle.release();
    // Workers live only while training: a model at rest holds no threads.
    if (!model.isDisposed && path === 'fused') await engine.setThreads(1);
  }
}

/**
 * One engine step (on the bound set's `indices` when given); a diverged step becomes a
 * {@link TrainingDivergedError} naming its batch.
 */
async function trainStep(
  engine: Engine,
  batch: { images: Float32Array; labels: Uint8Array; size: number },
  adam: AdamSettings,
  read: boolean,
  perEpoch: number,
  indices: Uint32Array | undefined,
) {
  try {
    if (indices !== undefined && engine.trainStepIndexed !== undefined) {
      return await engine.trainStepIndexed(indices, batch.size, adam, read);
    }
    return await engine.trainStep(
      { images: batch.images, labels: batch.labels, n: batch.size },
      adam,
      read,
    );
  } catch (err) {
    throw asTrainingError(err, perEpoch);
  }
}

async function drainTotalsOrThrow(drain: () => Promise<void>, perEpoch: number) {
  try {
    await drain();
  } catch (err) {
    throw asTrainingError(err, perEpoch);
  }
}

/**
 * Maps an engine's diverged step (counted from the run's start, so also across a resume) to the
 * epoch and batch it was; anything else passes through.
 */
function asTrainingError(err: unknown, perEpoch: number): unknown {
  if (!(err instanceof StepDivergedError)) return err;
  const index = err.step - 1;
  const epoch = Math.floor(index / perEpoch) + 1;
  const batch = index % perEpoch;
  return new TrainingDivergedError(
    `training diverged at epoch ${epoch}, batch ${batch}: the loss or a gradient is not finite (NaN or Infinity); the model keeps the weights from before that batch. Lower the learning rate or check the data.`,
    epoch,
    batch,
    { cause: err },
  );
}

/** Yield to the event loop after this much uninterrupted training. */
const YIELD_EVERY_MS = 50;

interface TrainPlan {
  epochs: number;
  batchSize: number;
  logEvery: number;
  /** The `threads` option as given, and what it resolves to on the fused path. */
  threadsAsked: ThreadsOption;
  threads: ThreadsDecision;
  validationBatchSize: number;
  fastPath: FastPathOption;
  batchesPerEpoch: number;
  /** The learning rate of each step (epoch-major), checked up front. */
  rates: Float64Array;
  adam: Omit<AdamSettings, 'learningRate'>;
  augment: Required<AugmentOptions> | undefined;
  resume: TrainCheckpoint | undefined;
  earlyStopping: Required<EarlyStoppingOptions> | undefined;
}

/** Checks every option before any work starts, so a bad one never costs an epoch. */
function checkTrainOptions(model: Model, data: PreparedSet, options: TrainOptions): TrainPlan {
  checkOptionKeys('train', options, TRAIN_OPTION_KEYS);
  const recipeName = options.recipe ?? 'reference';
  checkChoice('', 'recipe', recipeName, ['reference', 'best']);
  const epochs = positiveInt(options.epochs ?? trainingRecipe(recipeName).epochs, 'epochs', true);
  // The recipe's schedule spans the epochs actually run.
  const recipe = trainingRecipe(recipeName, Math.max(1, epochs));
  const batchSize = options.batchSize ?? 64;
  checkInt('', 'batchSize', batchSize, 1, MAX_BATCH_SIZE); // what batches() takes
  const logEvery = positiveInt(options.logEvery ?? 1, 'logEvery');
  const threadsAsked = options.threads ?? 'auto';
  const threads = resolveThreads(threadsAsked, { kind: 'fused', batchSize });
  const validationBatchSize = options.validationBatchSize ?? 32;
  checkInt('', 'validationBatchSize', validationBatchSize, 1, MAX_BATCH_SIZE);
  const fastPath = checkFastPath(options.fastPath);
  const schedule = options.learningRate ?? recipe.learningRate;
  if (typeof schedule !== 'number' && typeof schedule !== 'function') {
    throw new OptionError(
      'learningRate',
      `learningRate must be a number or a function of (epoch, batch, batchesPerEpoch), got ${describeValue(schedule)}`,
    );
  }
  if (data.count === 0) throw new OptionError('data', 'train: the dataset is empty');
  const batchesPerEpoch = batchCount(data, batchSize);
  const rates = new Float64Array(epochs * batchesPerEpoch);
  for (let e = 1, i = 0; e <= epochs; e++) {
    for (let b = 0; b < batchesPerEpoch; b++, i++) {
      const rate = typeof schedule === 'function' ? schedule(e, b, batchesPerEpoch) : schedule;
      if (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate)) {
        throw new OptionError(
          'learningRate',
          `learningRate must be a finite number > 0, got ${describeValue(rate)} for epoch ${e}, batch ${b}`,
        );
      }
      rates[i] = rate;
    }
  }
  const weightDecay = options.weightDecay ?? recipe.weightDecay;
  checkNumber('', 'weightDecay', weightDecay, { min: 0 });
  for (const rate of rates) {
    if (!(rate * weightDecay < 1)) {
      throw new OptionError(
        'weightDecay',
        `learningRate * weightDecay must be below 1, got ${rate} * ${weightDecay}`,
      );
    }
  }
  const augmentOption = options.augment ?? recipe.augment;
  const augment =
    augmentOption === false
      ? undefined
      : checkAugmentOptions(augmentOption === true ? DEFAULT_AUGMENT : augmentOption);
  const beta1 = unitInterval(options.beta1 ?? 0.9, 'beta1');
  const beta2 = unitInterval(options.beta2 ?? 0.999, 'beta2');
  const epsilon = options.epsilon ?? 1e-8;
  checkNumber('', 'epsilon', epsilon, { min: 0, minExclusive: true });
  checkNumber('', 'seed', options.seed, {}, true);
  checkBoolean('', 'shuffle', options.shuffle);
  checkSignal('', 'signal', options.signal);
  for (const name of CALLBACKS) checkFunction('', name, options[name]);
  assertCompatible(model, data, 'train');
  if (options.validationData)
    assertCompatible(model, options.validationData, 'train (validationData)');
  const earlyStopping = checkEarlyStopping(options);
  const resume = checkResume(model, data, options, batchSize);
  return {
    epochs,
    batchSize,
    logEvery,
    threadsAsked,
    threads,
    validationBatchSize,
    fastPath,
    batchesPerEpoch,
    rates,
    adam: weightDecay > 0 ? { beta1, beta2, epsilon, weightDecay } : { beta1, beta2, epsilon },
    augment,
    resume,
    earlyStopping,
  };
}

function checkEarlyStopping(options: TrainOptions): Required<EarlyStoppingOptions> | undefined {
  const early = options.earlyStopping;
  if (early === undefined) return undefined;
  if (early === null || typeof early !== 'object' || Array.isArray(early)) {
    throw new OptionError(
      'earlyStopping',
      `earlyStopping must be an object like { patience: 3 }, got ${describeValue(early)}`,
    );
  }
  checkOptionKeys('train', early, EARLY_STOPPING_KEYS, 'earlyStopping.');
  if (options.validationData === undefined) {
    throw new OptionError(
      'earlyStopping',
      'earlyStopping watches validation figures: give validationData too',
    );
  }
  const monitor = early.monitor ?? 'valLoss';
  checkChoice('', 'earlyStopping.monitor', monitor, ['valLoss', 'valAccuracy']);
  const minDelta = early.minDelta ?? 0;
  checkNumber('', 'earlyStopping.minDelta', minDelta, { min: 0 });
  const restoreBestWeights = early.restoreBestWeights ?? true;
  checkBoolean('', 'earlyStopping.restoreBestWeights', restoreBestWeights, false);
  return {
    monitor,
    patience: positiveInt(early.patience, 'earlyStopping.patience'),
    minDelta,
    restoreBestWeights,
  };
}

/** A checkpoint to resume from, decoded and checked against this model, data and options. */
function checkResume(
  model: Model,
  data: PreparedSet,
  options: TrainOptions,
  batchSize: number,
): TrainCheckpoint | undefined {
  const raw = options.resumeFrom;
  if (raw === undefined) return undefined;
  const cp = raw instanceof Uint8Array ? decodeCheckpoint(raw, 'resumeFrom') : raw;
  if (cp === null || typeof cp !== 'object' || !Array.isArray(cp.weights)) {
    throw new OptionError('resumeFrom', 'resumeFrom must be a TrainCheckpoint or its bytes');
  }
  const fail = (msg: string): never => {
    throw new CheckpointFormatError(`resumeFrom: ${msg}`);
  };
  if (JSON.stringify(cp.spec) !== JSON.stringify(model.spec)) {
    fail(
      `the checkpoint is of ${JSON.stringify(cp.spec)}, the model is ${JSON.stringify(model.spec)}`,
    );
  }
  if (JSON.stringify(cp.preprocessing) !== JSON.stringify(model.preprocessing)) {
    fail('the checkpoint was trained with other preprocessing than the model has');
  }
  if (cp.run.dataCount !== data.count) {
    fail(`the checkpoint's run had ${cp.run.dataCount} images, this data has ${data.count}`);
  }
  if (cp.run.batchSize !== batchSize) {
    fail(`the checkpoint's run used batchSize ${cp.run.batchSize}, this call ${batchSize}`);
  }
  if (cp.run.shuffle !== (options.shuffle ?? true))
    fail("the checkpoint's run shuffled differently");
  if (options.seed !== undefined && options.seed !== cp.run.seed) {
    fail(`the checkpoint's run used seed ${cp.run.seed}, this call ${options.seed}`);
  }
  if (cp.next.batch > batchCount(data, batchSize)) {
    fail(`next.batch ${cp.next.batch} is past the end of an epoch`);
  }
  return cp;
}

const CALLBACKS = [
  'onTrainBegin',
  'onEpochBegin',
  'onBatchEnd',
  'onEpochEnd',
  'onTrainEnd',
] as const;

function positiveInt(value: unknown, name: string, allowZero = false): number {
  checkInt('', name, value, allowZero ? 0 : 1);
  return value as number;
}

function unitInterval(value: unknown, name: string): number {
  checkNumber('', name, value, { min: 0, max: 1, maxExclusive: true });
  return value as number;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
