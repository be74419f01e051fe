import * as tf from '@tensorflow/tfjs-core';
import { acquireFusedKernels, type FastPathOption } from '../backend/fast_path.js';
import { ensureBackend, snapshotWeights } from '../backend/select.js';
import { batchCount, batches } from '../data/batches.js';
import type { PreparedSet } from '../data/preprocess.js';
import type { Model } from '../model/types.js';
import { createLogitsRunner } from '../predict/logits.js';
import { assertCompatible } from './compat.js';
import { evaluateWith } from './evaluate.js';
import { type AdamConfig, FusedStepper, type Stepper, TfjsStepper } from './steppers.js';

/** Statistics of one batch, passed to `onBatchEnd`. */
export interface BatchLogs {
  /** Mean cross-entropy of the batch. */
  loss: number;
  /** Fraction of the batch classified correctly, 0..1. */
  accuracy: number;
  /** Images in the batch. */
  size: number;
}

/** Statistics of one epoch, passed to `onEpochEnd` and kept in {@link TrainHistory}. */
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
  /** Wall-clock seconds of the epoch's training (validation excluded). */
  seconds: number;
  /** Training images per second over the epoch. */
  samplesPerSecond: number;
  /** Batches run (fewer than planned when aborted). */
  batches: number;
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
    path: 'fused' | 'tfjs';
    reason: string;
  }) => void | Promise<void>;
  /** Before each epoch; `epoch` is 1-based, as in {@link EpochLogs.epoch}. */
  onEpochBegin?: (epoch: number) => void | Promise<void>;
  /**
   * After each batch (`batch` is 0-based within the epoch). Giving this callback makes every step
   * read its loss back from the backend; use `logEvery` to read only every n-th batch.
   */
  onBatchEnd?: (batch: number, logs: BatchLogs) => void | Promise<void>;
  /**
   * After each epoch (`epoch` is 1-based); the model already holds the epoch's weights
   * (checkpoint it here). Not called for an epoch that an abort stopped before its first batch.
   */
  onEpochEnd?: (epoch: number, logs: EpochLogs) => void | Promise<void>;
  /** After the last epoch, or after an abort, with the history that {@link train} resolves to. */
  onTrainEnd?: (history: TrainHistory) => void | Promise<void>;
}

/**
 * Options of {@link train}, with the callbacks of {@link TrainCallbacks}. Defaults are the
 * reference recipe: 5 epochs of shuffled batches of 64, Adam with PyTorch's defaults.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const options: TrainOptions = { epochs: 10, learningRate: 5e-4, seed: 1, signal: controller.signal };
 * const history = await train(model, prepared, options);
 * ```
 */
export interface TrainOptions extends TrainCallbacks {
  /** Passes over the data: an integer, 0 or more. Default: 5. */
  epochs?: number;
  /** Images per training step: a positive integer. Default: 64. */
  batchSize?: number;
  /**
   * Adam step size, above 0: a number, or a schedule from the 1-based epoch to the rate, e.g.
   * `(epoch) => (epoch < 5 ? 1e-3 : 1e-4)`; Adam's moments carry over when it changes.
   * Default: 1e-3 (PyTorch's default, as the reference).
   */
  learningRate?: number | ((epoch: number) => number);
  /** Adam's decay rate of the gradient average. Default: 0.9 (PyTorch's default). */
  beta1?: number;
  /** Adam's decay rate of the squared-gradient average. Default: 0.999 (PyTorch's default). */
  beta2?: number;
  /** Adam's term added to the denominator for stability. Default: 1e-8 (PyTorch's default). */
  epsilon?: number;
  /** Seed of the per-epoch shuffles (epoch `e` shuffles with `seed + e`). Default: random. */
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
  /** `'auto'` (default): the fused WASM SIMD step when it covers the model; `'off'`: tfjs ops. */
  fastPath?: FastPathOption;
  /**
   * Threads sharing each fused training step: above 1, each batch is split and its halves'
   * gradients computed in parallel (workers; a browser page with a Content-Security-Policy must
   * allow `worker-src blob:`). About 1.7x faster with 2 threads on 2 cores; the same result up to
   * float rounding. Only the fused path uses it. Default: 1.
   */
  threads?: number;
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
  /** Which implementation trained: fused WASM SIMD kernels or tfjs ops. */
  path: 'fused' | 'tfjs';
  /** Why that path. */
  reason: string;
  /** The backend tfjs ran on. */
  backend: string;
  /** Training seconds (validation excluded). */
  seconds: number;
  /** Training images per second over the whole run. */
  samplesPerSecond: number;
}

/**
 * Trains `model` in place with Adam on softmax cross-entropy, as the reference does (5 epochs,
 * batches of 64 shuffled, learning rate 1e-3). A fresh optimizer is made per call.
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
 *   `RangeError` when `epochs`, `batchSize` or `logEvery` is not an integer in range, when
 *   `learningRate` (or the rate its schedule gives an epoch) is not a finite number above 0, or
 *   when the dataset is empty. Errors thrown by callbacks stop training and propagate (the
 *   model keeps the weights reached).
 */
export async function train(
  model: Model,
  data: PreparedSet,
  options: TrainOptions = {},
): Promise<TrainHistory> {
  const epochs = positiveInt(options.epochs ?? 5, 'epochs', true);
  const batchSize = positiveInt(options.batchSize ?? 64, 'batchSize');
  const logEvery = positiveInt(options.logEvery ?? 1, 'logEvery');
  const schedule = options.learningRate ?? 1e-3;
  const rateAt = (epoch: number): number => {
    const rate = typeof schedule === 'function' ? schedule(epoch) : schedule;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `learningRate must be a finite number > 0, got ${rate} for epoch ${epoch}`,
      );
    }
    return rate;
  };
  const adam: AdamConfig = {
    learningRate: rateAt(1),
    beta1: options.beta1 ?? 0.9,
    beta2: options.beta2 ?? 0.999,
    epsilon: options.epsilon ?? 1e-8,
  };
  assertCompatible(model, data, 'train');
  if (options.validationData)
    assertCompatible(model, options.validationData, 'train (validationData)');
  if (data.count === 0) throw new RangeError('train: the dataset is empty');
  await ensureBackend();

  const threads = positiveInt(options.threads ?? 1, 'threads');
  const { kernels, reason } = await acquireFusedKernels(model, options.fastPath, threads);
  const stepper: Stepper = kernels
    ? new FusedStepper(model, kernels, adam)
    : new TfjsStepper(model, adam);
  const validator = options.validationData
    ? await createLogitsRunner(model, options.fastPath, kernels)
    : undefined;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const perEpoch = batchCount(data, batchSize);
  const history: TrainHistory = {
    epochs: [],
    aborted: false,
    path: stepper.path,
    reason,
    backend: tf.getBackend(),
    seconds: 0,
    samplesPerSecond: 0,
  };
  let samples = 0;
  try {
    await options.onTrainBegin?.({ epochs, batchesPerEpoch: perEpoch, path: stepper.path, reason });
    for (let epoch = 1; epoch <= epochs && !history.aborted; epoch++) {
      stepper.setLearningRate(rateAt(epoch));
      await options.onEpochBegin?.(epoch);
      const started = now();
      let seen = 0;
      let ran = 0;
      const epochBatches = batches(data, {
        batchSize,
        shuffle: options.shuffle ?? true,
        seed: seed + epoch,
        reuseBuffers: true,
      });
      for (const batch of epochBatches) {
        if (options.signal?.aborted) {
          history.aborted = true;
          break;
        }
        const wanted = options.onBatchEnd !== undefined && batch.index % logEvery === 0;
        const stats = await stepper.step(batch, wanted);
        seen += batch.size;
        ran++;
        if (stats && options.onBatchEnd) {
          await options.onBatchEnd(batch.index, {
            loss: stats.loss,
            accuracy: stats.correct / batch.size,
            size: batch.size,
          });
        }
      }
      const totals = await stepper.takeTotals();
      const seconds = (now() - started) / 1000;
      history.seconds += seconds;
      samples += seen;
      stepper.syncModel();
      // On WebGPU, a CPU copy of the weights to restore from if the device is lost (no-op on WASM).
      await snapshotWeights();
      if (ran === 0) break;
      const logs: EpochLogs = {
        epoch,
        loss: totals.lossSum / seen,
        accuracy: totals.correct / seen,
        seconds,
        samplesPerSecond: seen / seconds,
        batches: ran,
      };
      if (validator && options.validationData && !history.aborted) {
        const val = await evaluateWith(validator, model, options.validationData, {
          batchSize: options.validationBatchSize ?? 32,
        });
        logs.valLoss = val.loss;
        logs.valAccuracy = val.accuracy;
      }
      history.epochs.push(logs);
      await options.onEpochEnd?.(epoch, logs);
    }
    history.samplesPerSecond = history.seconds > 0 ? samples / history.seconds : 0;
    await options.onTrainEnd?.(history);
    return history;
  } finally {
    stepper.syncModel();
    validator?.dispose();
    await stepper.dispose();
  }
}

function positiveInt(value: number, name: string, allowZero = false): number {
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new RangeError(`${name} must be an integer >= ${allowZero ? 0 : 1}, got ${value}`);
  }
  return value;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
