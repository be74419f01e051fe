/**
 * Base class of every error the library throws on purpose, so apps can tell them apart from
 * bugs with one `instanceof` check. Each module defines its own subclasses next to its code.
 *
 * @example
 * ```ts
 * try {
 *   parseIdx(bytes);
 * } catch (err) {
 *   if (err instanceof LenetMnistError) console.error(err.message);
 *   else throw err;
 * }
 * ```
 */
export class LenetMnistError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

const OPTION_ERROR = Symbol.for('lenet-mnist.OptionError');

/**
 * An argument or option has a value the function cannot accept: out of range, not an integer,
 * the wrong type, or not one of the listed choices. Thrown at the call, before any work or
 * allocation. The message names the function and the option, says what was found and what is
 * accepted.
 *
 * It extends the built-in `RangeError` (so `instanceof RangeError` checks keep working) and is
 * also an instance of {@link LenetMnistError}, like every error the library throws on purpose.
 *
 * @example
 * ```ts
 * try {
 *   batches(train, { batchSize: 1e9 });
 * } catch (err) {
 *   if (err instanceof OptionError) console.error(err.option, err.message); // 'batchSize' ...
 *   if (err instanceof LenetMnistError) console.error('a usage error, not a bug'); // also true
 * }
 * ```
 */
export class OptionError extends RangeError {
  /** The option or argument that was rejected, e.g. `'batchSize'`. */
  readonly option: string;

  constructor(option: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.option = option;
  }

  static {
    Object.defineProperty(OptionError.prototype, OPTION_ERROR, { value: true });
  }
}

// OptionError cannot have both RangeError and LenetMnistError as base classes: it extends
// RangeError and LenetMnistError recognises it (only the base class itself, not subclasses).
Object.defineProperty(LenetMnistError, Symbol.hasInstance, {
  value(this: unknown, value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    return (
      this === LenetMnistError &&
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[OPTION_ERROR] === true
    );
  },
});
