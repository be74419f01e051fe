import { ModelBusyError, ModelDisposedError } from './errors.js';
import type { Engine } from './types.js';

// One owner at a time. A model is trained by at most one `train()` call (the trainer holds a
// TrainingLease); everything else that touches its engine while the trainer holds it (its own
// validation, `evaluate`, predictors, asynchronous weight reads) runs in turn on one queue, so
// no engine operation overlaps a training step (a step with workers is asynchronous, and a
// second user of the engine or of its workers would see, or make, weights that match no run).
// `dispose()` while a lease is held does not free the engine under a step in flight: the lease
// sees the flag at the next step, rejects with ModelDisposedError, and frees the engine (and
// stops its workers) when it is released.

/** Runs engine operations one after another. */
export class EngineQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /** True while an operation runs or waits. */
  get busy(): boolean {
    return this.#pending > 0;
  }

  /**
   * Runs `work` after every operation queued before it; at once (synchronously up to its first
   * await) when none is pending, so a fused step still copies its batch out before the caller
   * builds the next one.
   */
  run<T>(work: () => Promise<T> | T): Promise<T> {
    const started = this.#pending === 0 ? startNow(work) : this.#tail.then(work);
    this.#pending++;
    const result = started.finally(() => {
      this.#pending--;
    });
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every operation queued so far has settled. */
  idle(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}

function startNow<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err);
  }
}

/** What a lease needs of its model. */
export interface LeaseOwner {
  readonly isDisposed: boolean;
  /** Called once by {@link TrainingLease.release}: clears the model's trainer. */
  endLease(lease: TrainingLease): void;
}

/**
 * The trainer's hold on a model's engine: while held, the engine is not replaced, a second
 * trainer is refused ({@link ModelBusyError}), and each step runs on the model's queue.
 */
export class TrainingLease {
  readonly engine: Engine;
  readonly #owner: LeaseOwner;
  readonly #queue: EngineQueue;
  #released = false;

  constructor(engine: Engine, owner: LeaseOwner, queue: EngineQueue) {
    this.engine = engine;
    this.#owner = owner;
    this.#queue = queue;
  }

  /** @throws {@link ModelDisposedError} once the model was disposed. */
  check(): void {
    if (this.#owner.isDisposed) {
      throw new ModelDisposedError(
        'This model was disposed during training: the run stopped at its next step',
      );
    }
  }

  /**
   * Runs one piece of engine work (a step, a validation pass) in turn; refuses to start, and
   * rejects after it, once the model was disposed.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.check();
    const result = await this.#queue.run(() => {
      this.check();
      return work();
    });
    this.check();
    return result;
  }

  /**
   * Ends the lease; a model disposed meanwhile has its engine (and workers) freed now, after the
   * last step settled.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#queue.idle();
    this.#owner.endLease(this);
    if (this.#owner.isDisposed) await this.engine.dispose();
  }
}

/** The error for a second trainer. */
export function busyTraining(): ModelBusyError {
  return new ModelBusyError(
    'This model is already being trained: one train() at a time per model (await the first, or train a copy made with loadModel(await model.save()))',
  );
}

/** The error for a synchronous weight access while a training step is in flight. */
export function busyStep(what: string): ModelBusyError {
  return new ModelBusyError(
    `${what} while a training step is in flight: call it from a training callback or after train() settles (readWeights() and save() wait for the step)`,
  );
}
