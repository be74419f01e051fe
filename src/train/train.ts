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
  /** Loss and accuracy on `validationData`, evaluated after the epoch, when given. */
  valLoss?: number;
  valAccuracy?: number;
  /** Wall-clock seconds of the epoch's training (validation excluded). */
  seconds: number;
  /** Training images per second over the epoch. */
  samplesPerSecond: number;
  /** Batches run (fewer than planned when aborted). */
  batches: number;
}

/** Hooks into {@link train}. Each may be async; training waits for it. */
export interface TrainCallbacks {
  onTrainBegin?: (info: {
    epochs: number;
    batchesPerEpoch: number;
    path: 'fused' | 'tfjs';
    reason: string;
  }) => void | Promise<void>;
  onEpochBegin?: (epoch: number) => void | Promise<void>;
  /**
   * After each batch (`batch` is 0-based within the epoch). Giving this callback makes every step
   * read its loss back from the backend; use `logEvery` to read only every n-th batch.
   */
  onBatchEnd?: (batch: number, logs: BatchLogs) => void | Promise<void>;
  /** After each epoch; the model already holds the epoch's weights (checkpoint it here). */
  onEpochEnd?: (epoch: number, logs: EpochLogs) => void | Promise<void>;
  onTrainEnd?: (history: TrainHistory) => void | Promise<void>;
}

/** Options of {@link train}. Defaults are the reference recipe. */
export interface TrainOptions extends TrainCallbacks {
  /** Default 5. */
  epochs?: number;
  /** Default 64. */
  batchSize?: number;
  /** Adam step size, default 1e-3; beta1 0.9, beta2 0.999, epsilon 1e-8 (PyTorch's defaults). */
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Seed of the per-epoch shuffles; default: random. */
  seed?: number;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  /** Evaluated after every epoch; results land in `valLoss`/`valAccuracy`. */
  validationData?: PreparedSet;
  /** Batch size for validation, default 32 (the reference's test batch). */
  validationBatchSize?: number;
  /** Call `onBatchEnd` only every n-th batch (0, n, 2n, ...). Default 1: every batch. */
  logEvery?: number;
  /** Stops at the next batch boundary; the model keeps the weights reached so far. */
  signal?: AbortSignal;
  /** `'auto'` (default): the fused WASM SIMD step when it covers the model; `'off'`: tfjs ops. */
  fastPath?: FastPathOption;
}

/** What {@link train} returns: the curves the reference plots, and how the run went. */
export interface TrainHistory {
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
 * @throws {@link DatasetError} when the data's size or normalisation does not fit the model,
 *   `RangeError` for invalid options; errors thrown by callbacks stop training and propagate
 *   (the model keeps the weights reached).
 */
export async function train(
  model: Model,
  data: PreparedSet,
  options: TrainOptions = {},
): Promise<TrainHistory> {
  const epochs = positiveInt(options.epochs ?? 5, 'epochs', true);
  const batchSize = positiveInt(options.batchSize ?? 64, 'batchSize');
  const logEvery = positiveInt(options.logEvery ?? 1, 'logEvery');
  const adam: AdamConfig = {
    learningRate: options.learningRate ?? 1e-3,
    beta1: options.beta1 ?? 0.9,
    beta2: options.beta2 ?? 0.999,
    epsilon: options.epsilon ?? 1e-8,
  };
  if (!(adam.learningRate > 0))
    throw new RangeError(`learningRate must be > 0, got ${adam.learningRate}`);
  assertCompatible(model, data, 'train');
  if (options.validationData)
    assertCompatible(model, options.validationData, 'train (validationData)');
  if (data.count === 0) throw new RangeError('train: the dataset is empty');
  await ensureBackend();

  const { kernels, reason } = await acquireFusedKernels(model, options.fastPath);
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
    stepper.dispose();
  }
}

function positiveInt(value: number, name: string, allowZero = false): number {
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new RangeError(`${name} must be an integer >= ${allowZero ? 0 : 1}, got ${value}`);
  }
  return value;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
