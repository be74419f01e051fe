import { LenetMnistError } from '../errors.js';

/**
 * A PyTorch, safetensors or zip file cannot be read: truncated, corrupt, compressed, or not the
 * format at all. The message names the file (the `source` given to the importer) and the offset
 * or entry at fault.
 *
 * @example
 * ```ts
 * try {
 *   await importPyTorchStateDict(bytes, { source: 'mymodel.pt' });
 * } catch (err) {
 *   if (err instanceof InteropFormatError) console.error(`damaged file: ${err.message}`);
 *   else throw err;
 * }
 * ```
 */
export class InteropFormatError extends LenetMnistError {}

/**
 * A pickle asked for something a `state_dict` never needs: a global outside the allow-list
 * (`os.system`, `builtins.eval`, any class), or an opcode that builds arbitrary objects. Nothing
 * of the pickle is executed; the reader stops at the first such request.
 *
 * @example
 * ```ts
 * try {
 *   await importPyTorchStateDict(untrustedBytes);
 * } catch (err) {
 *   if (err instanceof UnsafePickleError) console.error(`refused: ${err.what}`); // 'os.system'
 *   else throw err;
 * }
 * ```
 */
export class UnsafePickleError extends LenetMnistError {
  /** What was refused: a global as `module.name`, or an opcode as `opcode NAME`. */
  readonly what: string;

  constructor(what: string, message: string) {
    super(message);
    this.what = what;
  }
}

/**
 * Why a `state_dict` does not fit the model: a key the architecture does not have, a key it
 * needs but the file lacks, a tensor of the wrong shape, or one that is not float32 (or has a
 * value that is not finite).
 *
 * @example
 * ```ts
 * const reason: StateDictProblem = 'missing';
 * ```
 */
export type StateDictProblem = 'unknown-key' | 'missing-key' | 'shape' | 'dtype' | 'value';

/**
 * A `state_dict` (PyTorch or safetensors) was read but does not describe a model this library
 * builds; `StateDictError.key` names the tensor, `StateDictError.problem` says why.
 *
 * @example
 * ```ts
 * try {
 *   await importPyTorchStateDict(bytes);
 * } catch (err) {
 *   if (err instanceof StateDictError) console.error(err.problem, err.key); // 'shape' 'fc1.weight'
 *   else throw err;
 * }
 * ```
 */
export class StateDictError extends LenetMnistError {
  /** The `state_dict` key at fault, e.g. `fc1.weight`. */
  readonly key: string;
  /** What is wrong with it. */
  readonly problem: StateDictProblem;

  constructor(key: string, problem: StateDictProblem, message: string) {
    super(message);
    this.key = key;
    this.problem = problem;
  }
}
