/**
 * The package version, as in its `package.json`.
 *
 * @example
 * ```ts
 * import { VERSION } from 'lenet-mnist';
 * console.log(`lenet-mnist ${VERSION}`); // 'lenet-mnist 0.1.0'
 * ```
 */
export const VERSION = '0.1.0';
