/**
 * Learning-rate schedules for {@link train}: pure functions of the position in training, so a
 * run resumed at any batch gets exactly the rates of an uninterrupted one.
 *
 * @module
 */
import { checkInt, checkNumber, checkOptionKeys, optionKeys } from '../options.js';

/**
 * A learning rate per training step, as a pure function of where training is: `epoch` is
 * 1-based, `batch` is the 0-based batch within the epoch, `batchesPerEpoch` how many batches an
 * epoch has. It must not keep state between calls (a resumed run calls it from the middle).
 * {@link train} calls it once per step, before training starts, to check every rate.
 * A function of the epoch alone, `(epoch) => rate`, is a schedule too.
 *
 * @example
 * ```ts
 * // Halve the rate every 5 epochs, with a linear warm-up over the first 200 steps.
 * const schedule: LearningRateSchedule = (epoch, batch, batchesPerEpoch) => {
 *   const step = (epoch - 1) * batchesPerEpoch + batch;
 *   return 1e-3 * 0.5 ** Math.floor((epoch - 1) / 5) * Math.min(1, (step + 1) / 200);
 * };
 * await train(model, data, { epochs: 15, learningRate: schedule });
 * ```
 */
export type LearningRateSchedule = (
  epoch: number,
  batch: number,
  batchesPerEpoch: number,
) => number;

/**
 * Options shared by the schedule factories: a linear warm-up from `warmupFrom * peak` to `peak`
 * over the first `warmupEpochs` (fractions allowed: it is counted in steps).
 *
 * @example
 * ```ts
 * const warmup: WarmupOptions = { warmupEpochs: 0.5, warmupFrom: 0.01 };
 * const schedule = cosineSchedule({ peak: 2e-3, epochs: 12, ...warmup });
 * ```
 */
export interface WarmupOptions {
  /** Epochs of linear warm-up at the start, 0 or more (e.g. 0.5 = half an epoch). Default: 0. */
  warmupEpochs?: number;
  /** The warm-up's first rate, as a fraction of the peak, in [0, 1]. Default: 0.01. */
  warmupFrom?: number;
}

/**
 * Options of {@link cosineSchedule}.
 *
 * @example
 * ```ts
 * const options: CosineScheduleOptions = { peak: 2e-3, epochs: 12, warmupEpochs: 1, final: 1e-5 };
 * ```
 */
export interface CosineScheduleOptions extends WarmupOptions {
  /** The highest rate, reached at the end of the warm-up; above 0. */
  peak: number;
  /** Length of the run in epochs (the cosine reaches `final` at its end); above 0. */
  epochs: number;
  /** Rate at the end, from 0 to `peak`. Default: 0. */
  final?: number;
}

/**
 * Options of {@link stepSchedule}.
 *
 * @example
 * ```ts
 * const options: StepScheduleOptions = { rate: 1e-3, every: 4, factor: 0.3 };
 * ```
 */
export interface StepScheduleOptions extends WarmupOptions {
  /** The rate of the first epochs; above 0. */
  rate: number;
  /** Multiply the rate by `factor` every `every` epochs; a positive integer. */
  every: number;
  /** The factor, in (0, 1]. Default: 0.1. */
  factor?: number;
}

/**
 * Options of {@link oneCycleSchedule}.
 *
 * @example
 * ```ts
 * const options: OneCycleScheduleOptions = { peak: 3e-3, epochs: 10, rise: 0.25 };
 * ```
 */
export interface OneCycleScheduleOptions {
  /** The highest rate; above 0. */
  peak: number;
  /** Length of the run in epochs; above 0. */
  epochs: number;
  /** Fraction of the run spent rising (cosine) from `peak / startDivisor` to `peak`, in (0, 1). Default: 0.3. */
  rise?: number;
  /** The first rate is `peak / startDivisor`; a finite number, at least 1. Default: 25 (PyTorch's OneCycleLR). */
  startDivisor?: number;
  /** The last rate is `peak / startDivisor / finalDivisor`; a finite number, at least 1. Default: 1e4 (PyTorch's). */
  finalDivisor?: number;
}

function positive(value: unknown, name: string): number {
  checkNumber('', name, value, { min: 0, minExclusive: true });
  return value as number;
}

function inRange(value: number, name: string, lo: number, hi: number): number {
  checkNumber('', name, value, { min: lo, max: hi });
  return value;
}

/** Position in training, in epochs from the start: 0 at the first step. */
function position(epoch: number, batch: number, batchesPerEpoch: number): number {
  return epoch - 1 + batch / batchesPerEpoch;
}

/**
 * The warm-up factor at this step (1 once it is over). Counted in steps: the first step has
 * `warmupFrom`, and the factor rises linearly to 1 at step `round(warmupEpochs * batchesPerEpoch)`.
 */
function warmupFactor(
  epoch: number,
  batch: number,
  batchesPerEpoch: number,
  options: WarmupOptions,
): number {
  const steps = Math.round((options.warmupEpochs ?? 0) * batchesPerEpoch);
  const step = (epoch - 1) * batchesPerEpoch + batch;
  if (step >= steps) return 1;
  const from = options.warmupFrom ?? 0.01;
  return from + ((1 - from) * step) / steps;
}

function checkWarmup(options: WarmupOptions): void {
  checkNumber('', 'warmupEpochs', options.warmupEpochs ?? 0, { min: 0 });
  inRange(options.warmupFrom ?? 0.01, 'warmupFrom', 0, 1);
}

/**
 * Cosine annealing from `peak` to `final` over `epochs`, evaluated per step, after an optional
 * linear warm-up (SGDR without restarts; the schedule of the `'best'` recipe).
 *
 * @param options - `peak`, `epochs`, `final` (0), `warmupEpochs` (0), `warmupFrom` (0.01).
 * @returns A {@link LearningRateSchedule}: a pure function of the position in training.
 * @throws {@link OptionError} (a `RangeError`) naming the option out of range.
 *
 * @example
 * ```ts
 * const learningRate = cosineSchedule({ peak: 2e-3, epochs: 12, warmupEpochs: 1 });
 * learningRate(1, 0, 938); // 2e-5: the warm-up's first step
 * learningRate(2, 0, 938); // 2e-3: the peak, after one epoch
 * await train(model, data, { epochs: 12, learningRate });
 * ```
 */
export function cosineSchedule(options: CosineScheduleOptions): LearningRateSchedule {
  checkOptionKeys('cosineSchedule', options, COSINE_SCHEDULE_KEYS);
  const peak = positive(options.peak, 'peak');
  const epochs = positive(options.epochs, 'epochs');
  const final = inRange(options.final ?? 0, 'final', 0, peak);
  checkWarmup(options);
  const warm = Math.min(options.warmupEpochs ?? 0, epochs);
  return (epoch, batch, batchesPerEpoch) => {
    const at = position(epoch, batch, batchesPerEpoch);
    if (at < warm) return peak * warmupFactor(epoch, batch, batchesPerEpoch, options);
    const progress = Math.min(1, (at - warm) / Math.max(epochs - warm, 1e-12));
    return final + (peak - final) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/**
 * Step decay: `rate`, multiplied by `factor` every `every` epochs, after an optional linear
 * warm-up.
 *
 * @param options - `rate`, `every`, `factor` (0.1), `warmupEpochs` (0), `warmupFrom` (0.01).
 * @returns A {@link LearningRateSchedule}.
 * @throws {@link OptionError} (a `RangeError`) naming the option out of range.
 *
 * @example
 * ```ts
 * const learningRate = stepSchedule({ rate: 1e-3, every: 6, factor: 0.1 });
 * learningRate(6, 0, 938); // 1e-3
 * learningRate(7, 0, 938); // 1e-4
 * ```
 */
export function stepSchedule(options: StepScheduleOptions): LearningRateSchedule {
  checkOptionKeys('stepSchedule', options, STEP_SCHEDULE_KEYS);
  const rate = positive(options.rate, 'rate');
  const every = options.every;
  checkInt('', 'every', every, 1);
  const factor = options.factor ?? 0.1;
  checkNumber('', 'factor', factor, { min: 0, max: 1, minExclusive: true });
  checkWarmup(options);
  return (epoch, batch, batchesPerEpoch) =>
    rate *
    factor ** Math.floor((epoch - 1) / every) *
    warmupFactor(epoch, batch, batchesPerEpoch, options);
}

/**
 * The one-cycle policy (Smith), as PyTorch's `OneCycleLR` with cosine annealing: the rate rises
 * from `peak / startDivisor` to `peak` over the first `rise` of the run, then falls to
 * `peak / startDivisor / finalDivisor`; evaluated per step.
 *
 * @param options - `peak`, `epochs`, `rise` (0.3), `startDivisor` (25), `finalDivisor` (1e4).
 * @returns A {@link LearningRateSchedule}.
 * @throws {@link OptionError} (a `RangeError`) naming the option out of range.
 *
 * @example
 * ```ts
 * const learningRate = oneCycleSchedule({ peak: 3e-3, epochs: 10 });
 * await train(model, data, { epochs: 10, learningRate });
 * ```
 */
export function oneCycleSchedule(options: OneCycleScheduleOptions): LearningRateSchedule {
  checkOptionKeys('oneCycleSchedule', options, ONE_CYCLE_SCHEDULE_KEYS);
  const peak = positive(options.peak, 'peak');
  const epochs = positive(options.epochs, 'epochs');
  const rise = options.rise ?? 0.3;
  checkNumber('', 'rise', rise, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const startDivisor = options.startDivisor ?? 25;
  checkNumber('', 'startDivisor', startDivisor, { min: 1 });
  const finalDivisor = options.finalDivisor ?? 1e4;
  checkNumber('', 'finalDivisor', finalDivisor, { min: 1 });
  const start = peak / startDivisor;
  const end = start / finalDivisor;
  const cosine = (from: number, to: number, t: number) =>
    to + (from - to) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, Math.max(0, t))));
  return (epoch, batch, batchesPerEpoch) => {
    const progress = position(epoch, batch, batchesPerEpoch) / epochs;
    return progress < rise
      ? cosine(start, peak, progress / rise)
      : cosine(peak, end, (progress - rise) / (1 - rise));
  };
}

// The valid keys of these options (checked by the compiler against the types: optionKeys).
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
