/**
 * The valid keys of the training layer's options types, each list checked by the compiler
 * against its type ({@link optionKeys}): `train` rejects an unknown key with an
 * {@link OptionError} naming the closest valid one, instead of ignoring it.
 *
 * @module
 * @internal
 */
import { optionKeys } from '../options.js';
import type { EvaluateOptions } from './evaluate.js';
import type {
  CosineScheduleOptions,
  OneCycleScheduleOptions,
  StepScheduleOptions,
} from './schedule.js';
import type { EarlyStoppingOptions, TrainCallbacks, TrainOptions } from './options.js';
import type { TrainInWorkerOptions } from './worker.js';

/** The callbacks of {@link TrainCallbacks}. */
export const TRAIN_CALLBACK_KEYS = optionKeys<TrainCallbacks>()([
  'onTrainBegin',
  'onEpochBegin',
  'onBatchEnd',
  'onEpochEnd',
  'onTrainEnd',
]);

/** Every option of `train`. */
export const TRAIN_OPTION_KEYS = optionKeys<TrainOptions>()([
  'recipe',
  'epochs',
  'batchSize',
  'learningRate',
  'weightDecay',
  'augment',
  'beta1',
  'beta2',
  'epsilon',
  'seed',
  'shuffle',
  'validationData',
  'validationBatchSize',
  'logEvery',
  'signal',
  'fastPath',
  'threads',
  'resumeFrom',
  'allowChangedOptions',
  'earlyStopping',
  ...TRAIN_CALLBACK_KEYS,
] as const);

/** The options of `train` that a worker receives as data (no callbacks, no signal). */
export const TRAIN_DATA_OPTION_KEYS: readonly string[] = TRAIN_OPTION_KEYS.filter(
  (k) => k !== 'signal' && !(TRAIN_CALLBACK_KEYS as readonly string[]).includes(k),
);

/** Every option of `trainInWorker`: train's, and the page-side ones. */
export const TRAIN_IN_WORKER_OPTION_KEYS = optionKeys<TrainInWorkerOptions>()([
  ...TRAIN_OPTION_KEYS,
  'testData',
  'backend',
  'assetBase',
  'workerUrl',
  'onBackend',
] as const);

export const EARLY_STOPPING_KEYS = optionKeys<EarlyStoppingOptions>()([
  'monitor',
  'patience',
  'minDelta',
  'restoreBestWeights',
]);

export const EVALUATE_OPTION_KEYS = optionKeys<EvaluateOptions>()([
  'batchSize',
  'fastPath',
  'signal',
]);

export const COSINE_SCHEDULE_KEYS = optionKeys<CosineScheduleOptions>()([
  'peak',
  'epochs',
  'final',
  'warmupEpochs',
  'warmupFrom',
]);

export const STEP_SCHEDULE_KEYS = optionKeys<StepScheduleOptions>()([
  'rate',
  'every',
  'factor',
  'warmupEpochs',
  'warmupFrom',
]);

export const ONE_CYCLE_SCHEDULE_KEYS = optionKeys<OneCycleScheduleOptions>()([
  'peak',
  'epochs',
  'rise',
  'startDivisor',
  'finalDivisor',
]);
