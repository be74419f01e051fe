import type { AdamSettings, Engine, StepStats, TrainBatch } from '../../src/engine/types.js';

/**
 * One Adam step on a batch of floats, below the `Engine` contract (which steps on a bound set's
 * indices): every engine class has `trainBatch`, the step the CPU gatherer feeds. For tests
 * that need exact float inputs (non-finite values, out-of-range labels, cross-engine checks).
 */
export function trainOnFloats(
  engine: Engine,
  batch: TrainBatch,
  adam: AdamSettings,
  read: boolean,
): Promise<StepStats | undefined> {
  const withFloats = engine as Engine & {
    trainBatch(
      batch: TrainBatch,
      adam: AdamSettings,
      read: boolean,
    ): Promise<StepStats | undefined>;
  };
  return withFloats.trainBatch(batch, adam, read);
}
