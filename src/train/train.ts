import type { PreparedSet } from '../data/preprocess.js';
import { engineModel } from '../engine/model.js';
import type { Model } from '../engine/types.js';
import type { TrainHistory, TrainOptions } from './options.js';
import { checkTrainOptions } from './plan.js';
import { TrainingRun } from './run.js';

export type { BatchLogs, EpochLogs } from './logs.js';
export type {
  EarlyStoppingOptions,
  TrainCallbacks,
  TrainContext,
  TrainHistory,
  TrainOptions,
} from './options.js';

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
  // Plan (every option checked before any work), then epochs of steps, each epoch reported.
  const plan = checkTrainOptions(model, data, options);
  // One trainer per model (a second call is a ModelBusyError); steps run through the lease.
  const lease = await engineModel(model).beginTraining({ fastPath: plan.fastPath });
  const run = new TrainingRun(model, lease, data, plan, options);
  try {
    await run.begin();
    while (!run.finished) await run.epoch();
    return await run.end();
  } finally {
    try {
      await run.release();
    } finally {
      // A model disposed during the run has its engine, and workers, freed here.
      await lease.release();
    }
  }
}
