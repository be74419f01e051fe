import type { Engine } from '../engine/types.js';
import type { EpochLogs } from './logs.js';
import type { EarlyStoppingOptions, TrainHistory } from './options.js';

/**
 * Early stopping as an internal epoch callback: watches a validation figure, keeps the best
 * epoch's weights when asked to restore them, and says when to stop.
 */
export class EarlyStopping {
  readonly #options: Required<EarlyStoppingOptions>;
  #best: { value: number; epoch: number; weights: Float32Array[] | undefined } | undefined;

  constructor(options: Required<EarlyStoppingOptions>) {
    this.#options = options;
  }

  /**
   * After an epoch's `onEpochEnd`: undefined to go on; the stop (after putting back the best
   * weights, when asked) once `patience` epochs brought no improvement.
   */
  async afterEpoch(
    epoch: number,
    logs: EpochLogs,
    engine: Engine,
  ): Promise<TrainHistory['earlyStop'] | undefined> {
    const { monitor, minDelta, patience, restoreBestWeights } = this.#options;
    // Lower is better: accuracy is watched negated.
    const value =
      monitor === 'valAccuracy' ? -(logs.valAccuracy as number) : (logs.valLoss as number);
    const best = this.#best;
    if (best === undefined || value < best.value - minDelta) {
      const weights = restoreBestWeights ? await engine.readWeights() : undefined;
      this.#best = { value, epoch, weights };
      return undefined;
    }
    if (epoch - best.epoch < patience) return undefined;
    const restored = best.weights !== undefined;
    if (restored) engine.setWeights(best.weights as Float32Array[]);
    return { stoppedAfter: epoch, bestEpoch: best.epoch, restored };
  }
}
