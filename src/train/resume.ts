import type { AugmentOptions } from '../data/augment.js';
import { batchCount } from '../data/batches.js';
import type { PreparedSet } from '../data/preprocess.js';
import type { Model } from '../engine/types.js';
import { OptionError } from '../errors.js';
import {
  CheckpointFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  type RunSettings,
  type TrainCheckpoint,
} from './checkpoint.js';

// Resuming: a `resumeFrom` object is validated exactly as checkpoint bytes are (it is encoded
// and decoded: one code path for both), and the settings that change the result are compared
// with the ones the checkpoint recorded.

/** What {@link runSettings} needs of a run's checked options. */
export interface SettingsSource {
  recipe: string;
  /** The learning rate of every step of the run, epoch-major. */
  rates: Float64Array;
  adam: { beta1: number; beta2: number; epsilon: number; weightDecay?: number };
  augment: Required<AugmentOptions> | undefined;
}

/**
 * The settings of a run that change its result, as a checkpoint records them: `learningRate`
 * fingerprints the rates of the steps taken so far (`steps`), so a schedule that only changes
 * later steps, or more epochs at a constant rate, is not a change; `data` fingerprints the
 * training set (labels and pixels).
 */
export function runSettings(
  source: SettingsSource,
  steps: number,
  dataFingerprint: string,
): RunSettings {
  return {
    recipe: source.recipe,
    learningRate: fingerprint([
      new Uint8Array(source.rates.buffer, source.rates.byteOffset, steps * 8),
    ]),
    weightDecay: source.adam.weightDecay ?? 0,
    beta1: source.adam.beta1,
    beta2: source.adam.beta2,
    epsilon: source.adam.epsilon,
    augment: source.augment === undefined ? null : JSON.stringify(source.augment),
    data: dataFingerprint,
  };
}

/** A fingerprint of a training set: its size, labels and pixels. */
export function dataFingerprint(data: PreparedSet): string {
  const pixels = data.count * data.width * data.height;
  const header = new Uint8Array(new Uint32Array([data.count, data.width, data.height]).buffer);
  return fingerprint([
    header,
    data.labels.subarray(0, data.count),
    data.images.subarray(0, pixels),
  ]);
}

/** Two 32-bit FNV-1a hashes (different offsets) of the bytes, as 16 hex digits. */
function fingerprint(parts: readonly Uint8Array[]): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  for (const bytes of parts) {
    for (let i = 0; i < bytes.length; i++) {
      const v = bytes[i] as number;
      a = Math.imul(a ^ v, 0x01000193);
      b = Math.imul(b ^ v, 0x01000193) ^ (b >>> 15);
    }
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

const SETTING_NAMES: Record<keyof RunSettings, string> = {
  recipe: 'recipe',
  learningRate: 'learningRate (the rates of the steps already taken)',
  weightDecay: 'weightDecay',
  beta1: 'beta1',
  beta2: 'beta2',
  epsilon: 'epsilon',
  augment: 'augment',
  data: 'the training data (same size, other images or labels)',
};

/**
 * A checkpoint to resume from, validated as bytes are, then checked against this model, data
 * and options (architecture, preprocessing, data size, batch size, shuffle, seed, and the
 * recorded settings unless `allowChangedOptions`).
 *
 * @throws {@link CheckpointFormatError} naming every mismatch; {@link OptionError} for a
 *   `resumeFrom` that is neither a checkpoint object nor bytes.
 */
export function checkResume(
  model: Model,
  data: PreparedSet,
  options: {
    resumeFrom?: TrainCheckpoint | Uint8Array;
    shuffle?: boolean;
    seed?: number;
    allowChangedOptions?: boolean;
  },
  batchSize: number,
  settings: (steps: number) => RunSettings,
): TrainCheckpoint | undefined {
  const raw = options.resumeFrom;
  if (raw === undefined) return undefined;
  if (
    options.allowChangedOptions !== undefined &&
    typeof options.allowChangedOptions !== 'boolean'
  ) {
    throw new OptionError('allowChangedOptions', 'allowChangedOptions must be a boolean');
  }
  const cp =
    raw instanceof Uint8Array ? decodeCheckpoint(raw, 'resumeFrom') : checkpointObject(raw);
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
  const perEpoch = batchCount(data, batchSize);
  if (cp.next.batch > perEpoch) {
    fail(`next.batch ${cp.next.batch} is past the end of an epoch`);
  }
  const recorded = cp.run.settings;
  // A checkpoint of format 1 recorded no settings: they cannot be compared (documented).
  if (recorded !== undefined && options.allowChangedOptions !== true) {
    const steps = (cp.next.epoch - 1) * perEpoch + cp.next.batch;
    const now = settings(steps);
    const changed = (Object.keys(SETTING_NAMES) as (keyof RunSettings)[]).filter(
      (k) => recorded[k] !== now[k],
    );
    if (changed.length > 0) {
      fail(
        `this call changes what the checkpoint's run used: ${changed
          .map(
            (k) =>
              `${SETTING_NAMES[k]}${k === 'data' || k === 'learningRate' ? '' : ` (${recorded[k]} -> ${now[k]})`}`,
          )
          .join(
            ', ',
          )}; resuming would match no uninterrupted run (give the same options, or allowChangedOptions: true to continue anyway)`,
      );
    }
  }
  return cp;
}

/**
 * A checkpoint object checked exactly as its bytes would be: encoded, then decoded (sizes,
 * header fields and ranges, finite values). Returns the decoded copy.
 */
function checkpointObject(raw: unknown): TrainCheckpoint {
  const fail = (msg: string): never => {
    throw new CheckpointFormatError(`resumeFrom: ${msg}`);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new OptionError('resumeFrom', 'resumeFrom must be a TrainCheckpoint or its bytes');
  }
  const cp = raw as Partial<Record<keyof TrainCheckpoint, unknown>>;
  const arrays = (value: unknown, what: string) => {
    if (!Array.isArray(value) || !value.every((a) => a instanceof Float32Array))
      fail(`${what} must be an array of Float32Array`);
  };
  arrays(cp.weights, 'weights');
  const optimizer = cp.optimizer as Record<string, unknown> | null | undefined;
  if (optimizer === null || typeof optimizer !== 'object') fail('optimizer must be an object');
  arrays(optimizer?.firstMoment, 'optimizer.firstMoment');
  arrays(optimizer?.secondMoment, 'optimizer.secondMoment');
  if (!Number.isSafeInteger(optimizer?.step) || (optimizer?.step as number) < 0)
    fail(`optimizer.step must be an integer >= 0, got ${String(optimizer?.step)}`);
  let bytes: Uint8Array;
  try {
    bytes = encodeCheckpoint(raw as TrainCheckpoint);
  } catch (err) {
    if (err instanceof CheckpointFormatError) fail(err.message);
    return fail(`cannot be encoded (${(err as Error).message})`);
  }
  return decodeCheckpoint(bytes, 'resumeFrom');
}
