import { LenetMnistError } from '../errors.js';

/**
 * A model was used after {@link Model.dispose}.
 *
 * @example
 * ```ts
 * model.dispose();
 * try {
 *   model.getWeights();
 * } catch (err) {
 *   if (err instanceof ModelDisposedError) console.log('make or load a new model');
 * }
 * ```
 */
export class ModelDisposedError extends LenetMnistError {}

/**
 * Training stopped because a step's loss or a gradient was not finite (NaN or ±Infinity): the
 * learning rate is too high for the data, or the data holds non-finite values. The diverged step
 * changed nothing: the model keeps the weights and Adam state from before it.
 *
 * @example
 * ```ts
 * try {
 *   await train(model, data, { learningRate: 1 });
 * } catch (err) {
 *   if (err instanceof TrainingDivergedError) {
 *     console.log(`diverged at epoch ${err.epoch}, batch ${err.batch}; retrying with a lower rate`);
 *     await train(model, data, { learningRate: 1e-3 });
 *   } else throw err;
 * }
 * ```
 */
export class TrainingDivergedError extends LenetMnistError {
  /** 1-based epoch of the diverged step. */
  readonly epoch: number;
  /** 0-based batch of the diverged step within its epoch. */
  readonly batch: number;

  constructor(message: string, epoch: number, batch: number, options?: ErrorOptions) {
    super(message, options);
    this.epoch = epoch;
    this.batch = batch;
  }
}

/**
 * An engine's training step whose loss or a gradient was not finite; it changed nothing, and
 * neither did any step after it. `step` counts the engine's steps since its optimizer state
 * was last set (the Adam step the diverged one would have been). Engines that read results back
 * lazily (WebGPU) may reject a later call with it. `train` turns it into a
 * {@link TrainingDivergedError}.
 */
export class StepDivergedError extends LenetMnistError {
  constructor(readonly step: number) {
    super(`training step ${step}: the loss or a gradient is not finite`);
  }
}

/**
 * The fused WASM SIMD kernels could not load (their `.wasm` file could not be read or compiled,
 * or a worker of a data-parallel step failed) or were called wrongly. Where the kernels do not
 * apply at all (another architecture or backend, no WebAssembly SIMD), the library uses tfjs
 * ops instead and says why in `model.engine.reason`; this error means they applied and failed.
 *
 * @example
 * ```ts
 * try {
 *   await train(model, data);
 * } catch (err) {
 *   if (err instanceof FusedLeNetError) await train(model, data, { fastPath: 'off' }); // tfjs ops
 *   else throw err;
 * }
 * ```
 */
export class FusedLeNetError extends LenetMnistError {}

/**
 * A model was asked for something its current owner forbids: a second {@link train} while one
 * is running on it, or a synchronous read or a weight change while a training step is in
 * flight. A model has one trainer at a time; `getWeights` and `setWeights` work between steps
 * (from training callbacks, or after `train` settles), and asynchronous reads (`readWeights`,
 * `save`, `evaluate`, predictors) wait for the step in flight instead of failing.
 *
 * @example
 * ```ts
 * const first = train(model, data);
 * try {
 *   await train(model, data); // the same model, while the first run trains it
 * } catch (err) {
 *   if (err instanceof ModelBusyError) console.log('one trainer at a time: wait for the first');
 * }
 * await first;
 * ```
 */
export class ModelBusyError extends LenetMnistError {}
