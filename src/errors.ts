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
