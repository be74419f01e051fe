import { resolveThreads, type ThreadsDecision, type ThreadsOption } from '../backend/env.js';
import { type AugmentOptions, checkAugmentOptions, DEFAULT_AUGMENT } from '../data/augment.js';
import { batchCount } from '../data/batches.js';
import { checkImageSet } from '../data/check.js';
import type { PreparedSet } from '../data/preprocess.js';
import { checkFastPath } from '../engine/choose.js';
import type { AdamSettings, FastPathOption, Model } from '../engine/types.js';
import { OptionError } from '../errors.js';
import { CheckpointFormatError, decodeCheckpoint, type TrainCheckpoint } from './checkpoint.js';
import { assertCompatible } from './compat.js';
import type { EarlyStoppingOptions, TrainOptions } from './options.js';
import { trainingRecipe } from './recipe.js';

/** What {@link checkTrainOptions} makes of the options: everything `train` needs, checked. */
export interface TrainPlan {
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
  /** The run's seed: given, the resumed run's, or drawn. */
  seed: number;
  shuffle: boolean;
}

/** Checks every option before any work starts, so a bad one never costs an epoch. */
export function checkTrainOptions(
  model: Model,
  data: PreparedSet,
  options: TrainOptions,
): TrainPlan {
  const recipeName = checkRecipe(options);
  const epochs = positiveInt(options.epochs ?? trainingRecipe(recipeName).epochs, 'epochs', true);
  // The recipe's schedule spans the epochs actually run.
  const recipe = trainingRecipe(recipeName, Math.max(1, epochs));
  const batchSize = positiveInt(options.batchSize ?? 64, 'batchSize');
  const logEvery = positiveInt(options.logEvery ?? 1, 'logEvery');
  const threadsAsked = options.threads ?? 'auto';
  const threads = resolveThreads(threadsAsked, { kind: 'fused', batchSize });
  const validationBatchSize = positiveInt(options.validationBatchSize ?? 32, 'validationBatchSize');
  const fastPath = checkFastPath(options.fastPath);
  const schedule = options.learningRate ?? recipe.learningRate;
  if (typeof schedule !== 'number' && typeof schedule !== 'function') {
    throw new OptionError(
      'learningRate',
      `learningRate must be a number or a function of (epoch, batch, batchesPerEpoch), got ${typeof schedule}`,
    );
  }
  // The engines gather batches from these arrays: their shape is checked here, before any work.
  checkImageSet('train', data, true);
  if (data.count === 0) throw new OptionError('data', 'train: the dataset is empty');
  const batchesPerEpoch = batchCount(data, batchSize);
  const rates = stepRates(schedule, epochs, batchesPerEpoch);
  const weightDecay = checkWeightDecay(options.weightDecay ?? recipe.weightDecay, rates);
  const augmentOption = options.augment ?? recipe.augment;
  const augment =
    augmentOption === false
      ? undefined
      : checkAugmentOptions(augmentOption === true ? DEFAULT_AUGMENT : augmentOption);
  const adam = checkAdam(options, weightDecay);
  checkRunOptions(options);
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
    adam,
    augment,
    resume,
    earlyStopping,
    seed: options.seed ?? resume?.run.seed ?? Math.floor(Math.random() * 2 ** 31),
    shuffle: options.shuffle ?? true,
  };
}

function checkRecipe(options: TrainOptions): 'reference' | 'best' {
  const recipeName = options.recipe ?? 'reference';
  if (recipeName !== 'reference' && recipeName !== 'best') {
    throw new OptionError(
      'recipe',
      `recipe must be "reference" or "best", got ${JSON.stringify(options.recipe)}`,
    );
  }
  return recipeName;
}

/** Every step's learning rate (epoch-major), each checked. */
function stepRates(
  schedule: number | ((epoch: number, batch: number, batchesPerEpoch: number) => number),
  epochs: number,
  batchesPerEpoch: number,
): Float64Array {
  const rates = new Float64Array(epochs * batchesPerEpoch);
  for (let e = 1, i = 0; e <= epochs; e++) {
    for (let b = 0; b < batchesPerEpoch; b++, i++) {
      const rate = typeof schedule === 'function' ? schedule(e, b, batchesPerEpoch) : schedule;
      if (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate)) {
        throw new OptionError(
          'learningRate',
          `learningRate must be a finite number > 0, got ${String(rate)} for epoch ${e}, batch ${b}`,
        );
      }
      rates[i] = rate;
    }
  }
  return rates;
}

function checkWeightDecay(weightDecay: unknown, rates: Float64Array): number {
  if (typeof weightDecay !== 'number' || !(weightDecay >= 0) || !Number.isFinite(weightDecay)) {
    throw new OptionError(
      'weightDecay',
      `weightDecay must be a finite number >= 0, got ${String(weightDecay)}`,
    );
  }
  for (const rate of rates) {
    if (!(rate * weightDecay < 1)) {
      throw new OptionError(
        'weightDecay',
        `learningRate * weightDecay must be below 1, got ${rate} * ${weightDecay}`,
      );
    }
  }
  return weightDecay;
}

function checkAdam(options: TrainOptions, weightDecay: number): TrainPlan['adam'] {
  const beta1 = unitInterval(options.beta1 ?? 0.9, 'beta1');
  const beta2 = unitInterval(options.beta2 ?? 0.999, 'beta2');
  const epsilon = options.epsilon ?? 1e-8;
  if (typeof epsilon !== 'number' || !(epsilon > 0) || !Number.isFinite(epsilon)) {
    throw new OptionError('epsilon', `epsilon must be a finite number > 0, got ${String(epsilon)}`);
  }
  return weightDecay > 0 ? { beta1, beta2, epsilon, weightDecay } : { beta1, beta2, epsilon };
}

/** `seed`, `shuffle`, `signal` and the callbacks. */
function checkRunOptions(options: TrainOptions): void {
  if (
    options.seed !== undefined &&
    (typeof options.seed !== 'number' || !Number.isFinite(options.seed))
  ) {
    throw new OptionError('seed', `seed must be a finite number, got ${String(options.seed)}`);
  }
  if (options.shuffle !== undefined && typeof options.shuffle !== 'boolean') {
    throw new OptionError('shuffle', `shuffle must be a boolean, got ${typeof options.shuffle}`);
  }
  if (
    options.signal !== undefined &&
    (typeof options.signal !== 'object' || typeof options.signal?.aborted !== 'boolean')
  ) {
    throw new OptionError('signal', 'signal must be an AbortSignal');
  }
  for (const name of TRAIN_CALLBACKS) {
    const callback = options[name];
    if (callback !== undefined && typeof callback !== 'function') {
      throw new OptionError(name, `${name} must be a function, got ${typeof callback}`);
    }
  }
}

function checkEarlyStopping(options: TrainOptions): Required<EarlyStoppingOptions> | undefined {
  const early = options.earlyStopping;
  if (early === undefined) return undefined;
  if (early === null || typeof early !== 'object') {
    throw new OptionError('earlyStopping', 'earlyStopping must be an object like { patience: 3 }');
  }
  if (options.validationData === undefined) {
    throw new OptionError(
      'earlyStopping',
      'earlyStopping watches validation figures: give validationData too',
    );
  }
  const monitor = early.monitor ?? 'valLoss';
  if (monitor !== 'valLoss' && monitor !== 'valAccuracy') {
    throw new OptionError(
      'earlyStopping.monitor',
      `earlyStopping.monitor must be "valLoss" or "valAccuracy", got ${JSON.stringify(monitor)}`,
    );
  }
  const minDelta = early.minDelta ?? 0;
  if (typeof minDelta !== 'number' || !(minDelta >= 0) || !Number.isFinite(minDelta)) {
    throw new OptionError(
      'earlyStopping.minDelta',
      `earlyStopping.minDelta must be a finite number >= 0, got ${String(minDelta)}`,
    );
  }
  const restoreBestWeights = early.restoreBestWeights ?? true;
  if (typeof restoreBestWeights !== 'boolean') {
    throw new OptionError(
      'earlyStopping.restoreBestWeights',
      'earlyStopping.restoreBestWeights must be a boolean',
    );
  }
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

/** The callbacks of {@link TrainOptions} (`trainInWorker` relays them). */
export const TRAIN_CALLBACKS = [
  'onTrainBegin',
  'onEpochBegin',
  'onBatchEnd',
  'onEpochEnd',
  'onTrainEnd',
] as const;

function positiveInt(value: unknown, name: string, allowZero = false): number {
  if (!Number.isInteger(value) || (value as number) < (allowZero ? 0 : 1)) {
    throw new OptionError(
      name,
      `${name} must be an integer >= ${allowZero ? 0 : 1}, got ${String(value)}`,
    );
  }
  return value as number;
}

function unitInterval(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new OptionError(name, `${name} must be a number in [0, 1), got ${String(value)}`);
  }
  return value;
}
