/**
 * Statistics of one batch, passed to `onBatchEnd`.
 *
 * @example
 * ```ts
 * await train(model, data, {
 *   onBatchEnd: (batch, logs: BatchLogs) => console.log(batch, logs.loss.toFixed(4), logs.accuracy, logs.size),
 * });
 * ```
 */
export interface BatchLogs {
  /** Mean cross-entropy of the batch. */
  loss: number;
  /** Fraction of the batch classified correctly, 0..1. */
  accuracy: number;
  /** Images in the batch. */
  size: number;
}

/**
 * Statistics of one epoch, passed to `onEpochEnd` and kept in {@link TrainHistory}.
 *
 * @example
 * ```ts
 * const history = await train(model, data, { validationData });
 * const last: EpochLogs | undefined = history.epochs.at(-1);
 * console.log(last?.epoch, last?.loss, last?.valAccuracy);
 * ```
 */
export interface EpochLogs {
  /** 1-based epoch number, as the reference prints it. */
  epoch: number;
  /** Mean cross-entropy per training image over the epoch (weights changing as it went). */
  loss: number;
  /** Training accuracy over the epoch, 0..1. */
  accuracy: number;
  /** Mean cross-entropy on `validationData`, evaluated after the epoch; set only when given. */
  valLoss?: number;
  /** Accuracy on `validationData` after the epoch, 0..1; set only when it is given. */
  valAccuracy?: number;
  /** Wall-clock seconds of the epoch's training (validation excluded, augmentation included). */
  seconds: number;
  /**
   * Of `seconds`, the time the calling thread spent on augmentation (`augment`): distorting
   * images, or, on the fused WASM engine (which distorts inside its kernels), drawing each
   * image's distortion and distorting its own share of the batch (workers distort theirs
   * meanwhile, not counted). Set only when augmenting (after a resume, only the resumed part of
   * the epoch counts).
   */
  augmentSeconds?: number;
  /** The learning rate of the epoch's last step (set by {@link train}). */
  learningRate?: number;
  /** Training images per second over the epoch. */
  samplesPerSecond: number;
  /** Batches run (fewer than planned when aborted). */
  batches: number;
}
