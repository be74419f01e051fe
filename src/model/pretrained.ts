import { platform } from '../platform/index.js';
import { loadModel } from './io.js';
import type { Model } from './types.js';

/**
 * Where the shipped weights are: next to the library's code, resolved the way bundlers
 * understand (`new URL(file, import.meta.url)`), so they are found unbundled, bundled, in
 * Node, Deno, Bun and browsers.
 */
export const PRETRAINED_WEIGHTS_URL: URL = new URL('./lenet-mnist.weights', import.meta.url);

/**
 * Loads the LeNet-5 weights that ship with the package, trained on MNIST by the project's own
 * seeded script (`npm run train:pretrained`; recipe and test accuracy in `model.metadata`).
 *
 * @param url - Load from elsewhere instead (e.g. a CDN copy of the file).
 * @example
 * ```ts
 * import { createPredictor, loadPretrained } from 'lenet-mnist';
 * const model = await loadPretrained();
 * console.log(model.metadata.testAccuracy); // e.g. 0.991
 * const predictor = await createPredictor(model);
 * ```
 * @throws {@link WeightsFormatError} if the file is corrupt; the host's error if it cannot be read.
 */
export async function loadPretrained(url: string | URL = PRETRAINED_WEIGHTS_URL): Promise<Model> {
  return loadModel(await platform.readFile(url), String(url));
}
