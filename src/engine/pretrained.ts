import { readAsset } from '../platform/assets.js';
import { platform } from '../platform/index.js';
import { loadModel } from './io.js';
import type { Model } from './types.js';

/**
 * Where the shipped weights are: next to the library's code, resolved the way bundlers
 * understand (`new URL(file, import.meta.url)`), so they are found unbundled, bundled, in
 * Node, Deno, Bun and browsers. {@link loadPretrained} reads it by default. `undefined` where
 * the runtime gives modules no `import.meta.url` (Cloudflare's workerd): provide the weights there
 * with {@link setAssets}.
 *
 * @example
 * ```ts
 * console.log(PRETRAINED_WEIGHTS_URL?.href); // e.g. file:///app/node_modules/lenet-mnist/dist/lenet-mnist.weights
 * if (PRETRAINED_WEIGHTS_URL) await loadModelFile(PRETRAINED_WEIGHTS_URL); // what loadPretrained() does
 * ```
 */
export const PRETRAINED_WEIGHTS_URL: URL | undefined =
  // Runtimes such as Cloudflare's workerd give modules no import.meta.url: there the weights are
  // provided with setAssets, and the package must still import.
  typeof import.meta.url === 'string'
    ? new URL('./lenet-mnist.weights', import.meta.url)
    : undefined;

/**
 * Loads the LeNet-5 weights that ship with the package, trained on MNIST by the project's own
 * seeded script (`npm run train:pretrained`; recipe and test accuracy in `model.metadata`).
 *
 * @param url - Load from elsewhere instead (e.g. a CDN copy of the file). Default: the file
 *   {@link setAssetBase} (`initBackend({ assetBase })`) points to, else {@link PRETRAINED_WEIGHTS_URL}.
 * @returns The pretrained LeNet-5, ready for {@link createPredictor} or more {@link train}ing.
 * @example
 * ```ts
 * import { createPredictor, loadPretrained } from 'lenet-mnist';
 * const model = await loadPretrained();
 * console.log(model.metadata.testAccuracy); // e.g. 0.991
 * const predictor = await createPredictor(model);
 * ```
 * @throws {@link WeightsFormatError} if the file is corrupt; {@link AssetError} (naming the URL or
 *   path tried) if the shipped file cannot be read; the host's error if `url` cannot be read.
 */
export async function loadPretrained(url?: string | URL): Promise<Model> {
  const bytes =
    url === undefined
      ? await readAsset('lenet-mnist.weights', () => {
          if (PRETRAINED_WEIGHTS_URL === undefined) throw new TypeError('no import.meta.url');
          return PRETRAINED_WEIGHTS_URL;
        })
      : await platform.readFile(url);
  return loadModel(bytes, String(url ?? PRETRAINED_WEIGHTS_URL ?? 'lenet-mnist.weights'));
}
