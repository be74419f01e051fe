import { DatasetError } from '../data/errors.js';
import type { PreparedSet } from '../data/preprocess.js';
import type { Model } from '../engine/types.js';

/**
 * A dataset fits a model when its images have the model's input size and were normalised the
 * same way; anything else would train or score silently wrong numbers.
 */
export function assertCompatible(model: Model, data: PreparedSet, what: string): void {
  const p = model.preprocessing;
  if (data.height !== p.size || data.width !== p.size) {
    throw new DatasetError(
      `${what}: images are ${data.height}x${data.width}, the model takes ${p.size}x${p.size}; prepare them with prepareImages(set, { size: ${p.size} })`,
    );
  }
  if (Math.abs(data.mean - p.mean) > 1e-7 || Math.abs(data.std - p.std) > 1e-7) {
    throw new DatasetError(
      `${what}: images normalised with mean ${data.mean}, std ${data.std}; the model expects mean ${p.mean}, std ${p.std}`,
    );
  }
}
