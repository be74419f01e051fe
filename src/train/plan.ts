import { resolveThreads, type ThreadsDecision, type ThreadsOption } from '../backend/env.js';
import { type AugmentOptions, checkAugmentOptions, DEFAULT_AUGMENT } from '../data/augment.js';
import { batchCount, MAX_BATCH_SIZE } from '../data/batches.js';
import { checkImageSet } from '../data/check.js';
import type { PreparedSet } from '../data/preprocess.js';
import { checkFastPath } from '../engine/choose.js';
import type { AdamSettings, FastPathOption, Model } from '../engine/types.js';
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
import type { TrainCheckpoint } from './checkpoint.js';
import { assertCompatible } from './compat.js';
import {
  EARLY_STOPPING_KEYS,
  type EarlyStoppingOptions,
  TRAIN_CALLBACK_KEYS,
  TRAIN_OPTION_KEYS,
  type TrainOptions,
} from './options.js';
import { trainingRecipe } from './recipe.js';
import { checkResume, dataFingerprint, runSettings } from './resume.js';

/** What {@link checkTrainOptions} makes of the options: everything `train` needs, checked. */
export interface TrainPlan {
  /** The recipe whose defaults apply (recorded in checkpoints). */
  recipe: 'reference' | 'best';
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
  checkOptionKeys('train', options, TRAIN_OPTION_KEYS);
  const recipeName = checkRecipe(options);
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
  const settingsSource = { recipe: recipeName, rates, adam, augment };
  const resume = checkResume(model, data, options, batchSize, (steps) =>
    runSettings(settingsSource, steps, dataFingerprint(data)),
  );
  return {
    recipe: recipeName,
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
  checkChoice('', 'recipe', recipeName, ['reference', 'best']);
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
          `learningRate must be a finite number > 0, got ${describeValue(rate)} for epoch ${e}, batch ${b}`,
        );
      }
      rates[i] = rate;
    }
  }
  return rates;
}

function checkWeightDecay(weightDecay: unknown, rates: Float64Array): number {
  checkNumber('', 'weightDecay', weightDecay, { min: 0 });
  for (const rate of rates) {
    if (!(rate * (weightDecay as number) < 1)) {
      throw new OptionError(
        'weightDecay',
        `learningRate * weightDecay must be below 1, got ${rate} * ${weightDecay}`,
      );
    }
  }
  return weightDecay as number;
}

function checkAdam(options: TrainOptions, weightDecay: number): TrainPlan['adam'] {
  const beta1 = unitInterval(options.beta1 ?? 0.9, 'beta1');
  const beta2 = unitInterval(options.beta2 ?? 0.999, 'beta2');
  const epsilon = options.epsilon ?? 1e-8;
  checkNumber('', 'epsilon', epsilon, { min: 0, minExclusive: true });
  return weightDecay > 0 ? { beta1, beta2, epsilon, weightDecay } : { beta1, beta2, epsilon };
}

/** `seed`, `shuffle`, `signal` and the callbacks. */
function checkRunOptions(options: TrainOptions): void {
  checkNumber('', 'seed', options.seed, {}, true);
  checkBoolean('', 'shuffle', options.shuffle);
  checkSignal('', 'signal', options.signal);
  for (const name of TRAIN_CALLBACK_KEYS) checkFunction('', name, options[name]);
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

function positiveInt(value: unknown, name: string, allowZero = false): number {
  checkInt('', name, value, allowZero ? 0 : 1);
  return value as number;
}

function unitInterval(value: unknown, name: string): number {
  checkNumber('', name, value, { min: 0, max: 1, maxExclusive: true });
  return value as number;
}
