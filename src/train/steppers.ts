// tfjs-core registers no gradients by itself; training needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import type { FusedKernels } from '../backend/fast_path.js';
import type { Batch } from '../data/batches.js';
import type { Model } from '../model/types.js';

/** Adam hyper-parameters (PyTorch's and tfjs' defaults). */
export interface AdamConfig {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Loss (batch mean) and number of correct predictions of one step. */
export interface StepStats {
  loss: number;
  correct: number;
}

/**
 * One optimisation step per batch. Implementations keep per-step statistics where they are
 * cheapest to keep and read them back only when asked, so a backend like WebGPU is not stalled
 * by a read after every batch.
 */
export interface Stepper {
  readonly path: 'fused' | 'tfjs';
  /** Runs one step; resolves with its statistics only when `read` is true. */
  step(batch: Batch, read: boolean): Promise<StepStats | undefined>;
  /** Sum of per-image losses and correct predictions since the last call. */
  takeTotals(): Promise<{ lossSum: number; correct: number }>;
  /** Makes the model's variables hold the latest weights. */
  syncModel(): void;
  /** Changes the Adam step size from the next step on (moments are kept). */
  setLearningRate(learningRate: number): void;
  dispose(): void | Promise<void>;
}

/** tfjs' Adam reads its (protected) rate at every step; this exposes it for schedules. */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
  }
}

/** The generic path: tfjs ops and tfjs' Adam on whatever backend is active. */
export class TfjsStepper implements Stepper {
  readonly path = 'tfjs';
  private readonly optimizer: ScheduledAdam;
  private readonly vars: tf.Variable[];
  private lossSum: tf.Scalar = tf.scalar(0);
  private correct: tf.Scalar = tf.scalar(0);

  constructor(
    private readonly model: Model,
    adam: AdamConfig,
  ) {
    this.optimizer = new ScheduledAdam(adam.learningRate, adam.beta1, adam.beta2, adam.epsilon);
    this.vars = model.parameters.map((p) => p.variable);
  }

  async step(batch: Batch, read: boolean): Promise<StepStats | undefined> {
    const { size } = this.model.preprocessing;
    const n = batch.size;
    const [loss, correct] = tf.tidy(() => {
      const x = tf.tensor4d(batch.images.subarray(0, n * size * size), [n, size, size, 1]);
      const labels = tf.tensor1d(Int32Array.from(batch.labels.subarray(0, n)), 'int32');
      const onehot = tf.oneHot(labels, this.model.classes);
      let logits: tf.Tensor2D | undefined;
      const lossValue = this.optimizer.minimize(
        () => {
          // Kept past the gradient tape's own cleanup to count hits; disposed just below.
          logits = tf.keep(this.model.apply(x));
          return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
        },
        true,
        this.vars,
      ) as tf.Scalar;
      const hits = tf.sum(
        tf.cast(tf.equal(tf.argMax(logits as tf.Tensor2D, 1), labels), 'float32'),
      );
      (logits as tf.Tensor2D).dispose();
      return [lossValue, hits] as [tf.Scalar, tf.Scalar];
    });
    const nextLoss = tf.tidy(() => tf.add(this.lossSum, tf.mul(loss, n)) as tf.Scalar);
    const nextCorrect = tf.add(this.correct, correct) as tf.Scalar;
    tf.dispose([this.lossSum, this.correct]);
    this.lossSum = nextLoss;
    this.correct = nextCorrect;
    try {
      if (!read) return undefined;
      const [l, c] = await Promise.all([loss.data(), correct.data()]);
      return { loss: l[0] as number, correct: c[0] as number };
    } finally {
      tf.dispose([loss, correct]);
    }
  }

  async takeTotals(): Promise<{ lossSum: number; correct: number }> {
    const [l, c] = await Promise.all([this.lossSum.data(), this.correct.data()]);
    tf.dispose([this.lossSum, this.correct]);
    this.lossSum = tf.scalar(0);
    this.correct = tf.scalar(0);
    return { lossSum: l[0] as number, correct: c[0] as number };
  }

  syncModel(): void {
    this.model.notifyWeightsChanged();
  }

  setLearningRate(learningRate: number): void {
    this.optimizer.setLearningRate(learningRate);
  }

  dispose(): void {
    tf.dispose([this.lossSum, this.correct]);
    this.optimizer.dispose();
  }
}

/** The fast path: the whole step (forward, backward, Adam) in one fused WASM SIMD call. */
export class FusedStepper implements Stepper {
  readonly path = 'fused';
  private lossSum = 0;
  private correct = 0;

  constructor(
    private readonly model: Model,
    readonly kernels: FusedKernels,
    private readonly adam: AdamConfig,
  ) {
    kernels.resetOptimizer();
  }

  async step(batch: Batch, read: boolean): Promise<StepStats | undefined> {
    const stats = await this.kernels.trainStep(batch.images, batch.labels, batch.size, this.adam);
    this.lossSum += stats.loss * batch.size;
    this.correct += stats.correct;
    return read ? stats : undefined;
  }

  async takeTotals(): Promise<{ lossSum: number; correct: number }> {
    const totals = { lossSum: this.lossSum, correct: this.correct };
    this.lossSum = 0;
    this.correct = 0;
    return totals;
  }

  syncModel(): void {
    this.model.setWeights(this.kernels.getParams());
  }

  setLearningRate(learningRate: number): void {
    this.adam.learningRate = learningRate;
  }

  dispose(): void | Promise<void> {
    return this.kernels.dispose();
  }
}
