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

/**
 * The runtime refused access that a call needs: Deno without `--allow-read` (or `--allow-write`,
 * `--allow-net`, ...). The message names the file or URL and the flag to run Deno with, instead
 * of letting the refusal look like a missing file. `flag` is that flag, e.g. `'--allow-read'`.
 *
 * @example
 * ```ts
 * try {
 *   await loadMnist({ dir: './mnist' });
 * } catch (err) {
 *   if (err instanceof PermissionError) console.error(`run deno with ${err.flag}`);
 *   else throw err;
 * }
 * ```
 */
export class PermissionError extends LenetMnistError {
  /** The Deno flag that grants the access, e.g. `'--allow-read'`. */
  readonly flag: string;
  /** The file, folder or URL that could not be accessed. */
  readonly location: string;

  constructor(location: string, flag: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.flag = flag;
    this.location = location;
  }
}

/**
 * `err` as a {@link PermissionError} when it is Deno's refusal of a permission (`NotCapable`,
 * or `PermissionDenied` in older Deno); `undefined` for any other error.
 *
 * @internal
 */
export function permissionErrorOf(
  err: unknown,
  access: 'read' | 'write' | 'net',
  location: string,
): PermissionError | undefined {
  if (err instanceof PermissionError) return err;
  const e = err as { name?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return undefined;
  if (e.name !== 'NotCapable' && e.name !== 'PermissionDenied') return undefined;
  const text = typeof e.message === 'string' ? e.message : '';
  const flag = /--allow-[a-z-]+/.exec(text)?.[0] ?? `--allow-${access}`;
  return new PermissionError(
    location,
    flag,
    `Deno denied ${access === 'net' ? 'network access to' : `${access} access to`} '${location}': run deno with ${flag} (e.g. deno run ${flag} app.js, or ${flag}=<path or host> to grant only that)`,
    { cause: err },
  );
}
