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
