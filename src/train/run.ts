import { snapshotWeights } from '../backend/select.js';
import { shuffledIndices } from '../data/batches.js';
import type { PreparedSet } from '../data/preprocess.js';
import { StepDivergedError, TrainingDivergedError } from '../engine/errors.js';
import type { TrainingLease } from '../engine/ownership.js';
import type { AdamSettings, Engine, Model, StepBatch, StepStats } from '../engine/types.js';
import { platform } from '../platform/index.js';
import type { TrainCheckpoint } from './checkpoint.js';
import { EarlyStopping } from './early-stopping.js';
import { evaluateOn } from './evaluate.js';
import type { EpochLogs } from './logs.js';
import type { TrainContext, TrainHistory, TrainOptions } from './options.js';
import type { TrainPlan } from './plan.js';
import { dataFingerprint, runSettings } from './resume.js';

/** Yield to the event loop after this much uninterrupted training. */
const YIELD_EVERY_MS = 50;

/**
 * Where a run is: the next batch to run, and sums over the current epoch's batches so far
 * (`epochStart` is shifted back by the seconds an interrupted epoch had already taken).
 */
interface Position {
  epoch: number;
  batch: number;
  lossSum: number;
  correct: number;
  seen: number;
  batches: number;
  epochStart: number;
  /** Seconds the engine spent distorting this epoch's images (the resumed part only). */
  augmentSeconds: number;
}

/**
 * One call of `train`, in phases: {@link TrainingRun.begin} (state, threads, the bound set),
 * {@link TrainingRun.epoch} (its steps, then {@link TrainingRun.report}), {@link TrainingRun.end}
 * and {@link TrainingRun.release}. The engine owns the data: the run binds the training set once
 * and steps by batch indices, in the seeded order of `batches`.
 */
export class TrainingRun {
  readonly history: TrainHistory;
  /** True once the last epoch ran, or an abort or early stopping ended the run. */
  finished = false;
  readonly #model: Model;
  readonly #engine: Engine;
  /** The model's engine, held for this run: steps and validation run through it, in turn. */
  readonly #lease: TrainingLease;
  readonly #data: PreparedSet;
  readonly #plan: TrainPlan;
  readonly #options: TrainOptions;
  readonly #at: Position;
  readonly #context: TrainContext;
  readonly #early: EarlyStopping | undefined;
  #samples = 0;
  #lastYield = now();
  /** The training set's fingerprint, for checkpoints (computed once, at the first). */
  #dataFingerprint: string | undefined;

  constructor(
    model: Model,
    lease: TrainingLease,
    data: PreparedSet,
    plan: TrainPlan,
    options: TrainOptions,
  ) {
    const engine = lease.engine;
    this.#model = model;
    this.#lease = lease;
    this.#engine = engine;
    this.#data = data;
    this.#plan = plan;
    this.#options = options;
    const resume = plan.resume;
    this.history = {
      epochs: resume?.epochs.map((e) => ({ ...e })) ?? [],
      aborted: false,
      path: engine.info.kind,
      reason: engine.info.reason,
      threads: 1,
      threadsReason: plan.threads.reason,
      backend: engine.info.backend,
      seconds: 0,
      samplesPerSecond: 0,
    };
    this.#at = {
      epoch: resume?.next.epoch ?? 1,
      batch: resume?.next.batch ?? 0,
      lossSum: resume?.partialEpoch.lossSum ?? 0,
      correct: resume?.partialEpoch.correct ?? 0,
      seen: resume?.partialEpoch.seen ?? 0,
      batches: resume?.partialEpoch.batches ?? 0,
      epochStart: now() - (resume?.partialEpoch.seconds ?? 0) * 1000,
      augmentSeconds: 0,
    };
    this.#context = { checkpoint: () => this.checkpoint() };
    this.#early = plan.earlyStopping && new EarlyStopping(plan.earlyStopping);
  }

  /** Puts the resumed (or fresh) state into the engine, starts its threads, binds the set. */
  async begin(): Promise<void> {
    const { resume, plan } = { resume: this.#plan.resume, plan: this.#plan };
    const engine = this.#engine;
    if (resume !== undefined) {
      engine.setWeights(resume.weights);
      engine.setOptimizerState(resume.optimizer);
    } else {
      engine.setOptimizerState(undefined);
    }
    await this.#startThreads();
    const augment = plan.augment && { options: plan.augment, seed: plan.seed };
    engine.bindTrainingSet({ data: this.#data, augment });
    this.finished = this.#at.epoch > plan.epochs;
    await this.#options.onTrainBegin?.({
      epochs: plan.epochs,
      batchesPerEpoch: plan.batchesPerEpoch,
      path: this.history.path,
      reason: this.history.reason,
    });
  }

  /** Runs the rest of the current epoch, then reports it; sets {@link TrainingRun.finished}. */
  async epoch(): Promise<void> {
    const at = this.#at;
    const epoch = at.epoch;
    at.augmentSeconds = 0;
    if (at.batch === 0) {
      await this.#options.onEpochBegin?.(epoch);
      at.epochStart = now();
    }
    const started = now();
    const learningRate = await this.#steps(epoch);
    await this.#drainTotals();
    this.history.seconds += (now() - started) / 1000;
    // On WebGPU, a CPU copy of the weights to restore from if the device is lost (no-op on WASM).
    await snapshotWeights();
    await this.report(epoch, learningRate);
  }

  /**
   * The epoch's logs: kept, validated, handed to `onEpochEnd`; early stopping decides after it.
   * After an abort, the checkpoint to resume from and the partial epoch's logs (no validation).
   */
  async report(epoch: number, learningRate: number): Promise<void> {
    const { history } = this;
    const at = this.#at;
    // The state to resume from, taken before this epoch's (partial) logs are added.
    if (history.aborted) history.checkpoint = await this.checkpoint();
    this.finished = history.aborted || epoch >= this.#plan.epochs;
    if (history.aborted && at.batches === 0) return;
    const logs = this.#epochLogs(epoch, learningRate);
    if (history.aborted) {
      history.epochs.push(logs);
      await this.#options.onEpochEnd?.(epoch, logs, this.#context);
      return;
    }
    const validation = this.#options.validationData;
    if (validation) {
      const { validationBatchSize } = this.#plan;
      const val = await this.#lease.run(() =>
        evaluateOn(this.#engine, validation, validationBatchSize),
      );
      logs.valLoss = val.loss;
      logs.valAccuracy = val.accuracy;
    }
    history.epochs.push(logs);
    // Next comes the next epoch's first batch: a checkpoint taken in onEpochEnd resumes there.
    Object.assign(at, { epoch: epoch + 1, batch: 0, lossSum: 0, correct: 0, seen: 0, batches: 0 });
    at.epochStart = now();
    await this.#options.onEpochEnd?.(epoch, logs, this.#context);
    const stop = await this.#early?.afterEpoch(epoch, logs, this.#engine);
    if (stop !== undefined) {
      history.earlyStop = stop;
      this.finished = true;
    }
  }

  /** The history, with the run's speed, after `onTrainEnd`. */
  async end(): Promise<TrainHistory> {
    const { history } = this;
    history.samplesPerSecond = history.seconds > 0 ? this.#samples / history.seconds : 0;
    await this.#options.onTrainEnd?.(history);
    return history;
  }

  /** Unbinds the set and stops the workers: a model at rest holds no threads. */
  async release(): Promise<void> {
    this.#engine.unbindTrainingSet();
    if (!this.#model.isDisposed) await this.#engine.setThreads(1);
  }

  /** A checkpoint of the run as it stands (after the batch or epoch that just ran). */
  async checkpoint(): Promise<TrainCheckpoint> {
    this.#lease.check();
    await this.#drainTotals();
    const at = this.#at;
    const [weights, optimizer] = await Promise.all([
      this.#engine.readWeights(),
      this.#engine.readOptimizerState(),
    ]);
    const { seed, batchSize, shuffle } = this.#plan;
    return {
      spec: this.#model.spec,
      preprocessing: this.#model.preprocessing,
      weights,
      optimizer,
      next: { epoch: at.epoch, batch: at.batch },
      run: {
        seed,
        batchSize,
        shuffle,
        dataCount: this.#data.count,
        // What else changes the result, for a resume to compare.
        settings: runSettings(
          this.#plan,
          (at.epoch - 1) * this.#plan.batchesPerEpoch + at.batch,
          this.#fingerprint(),
        ),
      },
      partialEpoch: {
        lossSum: at.lossSum,
        correct: at.correct,
        seen: at.seen,
        batches: at.batches,
        seconds: (now() - at.epochStart) / 1000,
      },
      epochs: this.history.epochs.map((e) => ({ ...e })),
    };
  }

  /** The training set's fingerprint, computed at the first checkpoint of the run. */
  #fingerprint(): string {
    this.#dataFingerprint ??= dataFingerprint(this.#data);
    return this.#dataFingerprint;
  }

  /**
   * The epoch's remaining steps; each announces the next to the engine (which may build it while
   * the current one runs). Returns the learning rate of the last step.
   */
  async #steps(epoch: number): Promise<number> {
    const { batchesPerEpoch: perEpoch, rates } = this.#plan;
    const order = this.#order(epoch);
    let learningRate = rates[(epoch - 1) * perEpoch] as number;
    for (let batch = this.#at.batch; batch < perEpoch; batch++) {
      await this.#yieldIfDue();
      if (this.#options.signal?.aborted) {
        this.history.aborted = true;
        break;
      }
      // The schedule's rate for this step, a pure function of (epoch, batch).
      learningRate = rates[(epoch - 1) * perEpoch + batch] as number;
      const next = batch + 1 < perEpoch ? this.#stepBatch(order, epoch, batch + 1) : undefined;
      await this.#step(
        this.#stepBatch(order, epoch, batch),
        { ...this.#plan.adam, learningRate },
        next,
      );
    }
    return learningRate;
  }

  /** One step: the engine trains on the batch while it may build `next`; then the batch's report. */
  async #step(step: StepBatch, adam: AdamSettings, next: StepBatch | undefined): Promise<void> {
    const onBatchEnd = this.#options.onBatchEnd;
    const read = onBatchEnd !== undefined && step.batch % this.#plan.logEvery === 0;
    // In turn on the model's queue (started at once when idle, so the engine copies its batch
    // before the next one is announced); refused once the model was disposed.
    const pending = this.#lease.run(() => this.#engine.trainStep(step, adam, read));
    if (next !== undefined) this.#engine.prepareStep(next);
    const stats: StepStats | undefined = await this.#asTrainingError(pending);
    const size = step.indices.length;
    const at = this.#at;
    at.batch = step.batch + 1;
    at.seen += size;
    at.batches++;
    this.#samples += size;
    if (stats && onBatchEnd) {
      const logs = { loss: stats.loss, accuracy: stats.correct / size, size };
      await onBatchEnd(step.batch, logs, this.#context);
    }
  }

  /** The epoch's order of images: the same seeded shuffle as `batches` (seed + epoch). */
  #order(epoch: number): Uint32Array {
    const { count } = this.#data;
    if (this.#plan.shuffle) return shuffledIndices(count, this.#plan.seed + epoch);
    return Uint32Array.from({ length: count }, (_, i) => i);
  }

  #stepBatch(order: Uint32Array, epoch: number, batch: number): StepBatch {
    const first = batch * this.#plan.batchSize;
    return { indices: order.subarray(first, first + this.#plan.batchSize), epoch, batch };
  }

  #epochLogs(epoch: number, learningRate: number): EpochLogs {
    const at = this.#at;
    const seconds = (now() - at.epochStart) / 1000;
    const logs: EpochLogs = {
      epoch,
      loss: at.lossSum / at.seen,
      accuracy: at.correct / at.seen,
      seconds,
      samplesPerSecond: at.seen / seconds,
      batches: at.batches,
      learningRate,
    };
    if (this.#plan.augment) logs.augmentSeconds = at.augmentSeconds;
    return logs;
  }

  /** Starts the engine's threads; under `'auto'`, one thread when workers cannot start. */
  async #startThreads(): Promise<void> {
    const engine = this.#engine;
    try {
      const reason = await engine.setThreads(this.#plan.threads.threads);
      if (reason !== undefined) this.history.threadsReason = reason;
    } catch (err) {
      if (this.#plan.threadsAsked !== 'auto') throw err;
      // 'auto' trains anyway (e.g. a page whose Content-Security-Policy forbids blob: workers).
      await engine.setThreads(1);
      this.history.threadsReason = `workers could not start (${(err as Error).message})`;
    }
    this.history.threads = engine.info.threads;
  }

  /** The engine's running sums, drained into the position (a checkpoint needs them mid-epoch). */
  async #drainTotals(): Promise<void> {
    const totals = await this.#asTrainingError(this.#engine.takeTotals());
    this.#at.lossSum += totals.lossSum;
    this.#at.correct += totals.correct;
    this.#at.augmentSeconds += totals.augmentSeconds;
  }

  /** Let timers, abort signals and UI run: one task every ~50 ms of training. */
  async #yieldIfDue(): Promise<void> {
    if (now() - this.#lastYield < YIELD_EVERY_MS) return;
    await platform.yieldToEventLoop();
    this.#lastYield = now();
  }

  /**
   * Maps an engine's diverged step (counted from the run's start, so also across a resume) to
   * the epoch and batch it was; anything else passes through.
   */
  async #asTrainingError<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      if (!(err instanceof StepDivergedError)) throw err;
      const perEpoch = this.#plan.batchesPerEpoch;
      const index = err.step - 1;
      const epoch = Math.floor(index / perEpoch) + 1;
      const batch = index % perEpoch;
      throw new TrainingDivergedError(
        `training diverged at epoch ${epoch}, batch ${batch}: the loss or a gradient is not finite (NaN or Infinity); the model keeps the weights from before that batch. Lower the learning rate or check the data.`,
        epoch,
        batch,
        { cause: err },
      );
    }
  }
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
