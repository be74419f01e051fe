/**
 * Dataset presets (what to download, how to normalise, what the classes are called) and a
 * subset helper, so that data, model and reports agree without settings repeated by hand.
 *
 * @module
 */
import { MNIST_MIRRORS, MNIST_SHA256, type MnistFileKey } from './download.js';
import type { ImageSet } from './mnist.js';
import { MNIST_MEAN, MNIST_STD } from './preprocess.js';

/**
 * The datasets with a preset: MNIST (digits) and Fashion-MNIST (Zalando's clothing images in
 * MNIST's format: 28x28, 60,000 + 10,000, 10 classes, the same file names).
 *
 * @example
 * ```ts
 * const name: DatasetName = 'fashion-mnist';
 * console.log(DATASETS[name].classNames[9]); // 'Ankle boot'
 * ```
 */
export type DatasetName = 'mnist' | 'fashion-mnist';

/**
 * Everything that depends on which MNIST-format dataset is used: where it is downloaded from
 * (spread `download` into `loadMnist`), the normalisation (spread `mean`/`std` into
 * `createLeNet`/`createMlp`, then prepare the data with the model's own `preprocessing`), and
 * the names of the classes (for reports).
 *
 * @example
 * ```ts
 * const preset = DATASETS['fashion-mnist'];
 * const data = await loadMnist({ download: true, ...preset.download });
 * const model = await createLeNet({ mean: preset.mean, std: preset.std, seed: 1 });
 * const trainSet = prepareImages(data.train, model.preprocessing);
 * ```
 */
export interface DatasetPreset {
  /** The preset's key in `DATASETS`. */
  readonly name: DatasetName;
  /** A human-readable title, e.g. `'Fashion-MNIST'`. */
  readonly title: string;
  /** Mean pixel value of the training images, scaled to [0, 1]. */
  readonly mean: number;
  /** Standard deviation of the training pixels, scaled to [0, 1]. */
  readonly std: number;
  /** Name of each class, indexed by label (10 entries). */
  readonly classNames: readonly string[];
  /** `loadMnist` options that download and verify this dataset: mirrors and SHA-256 hashes. */
  readonly download: {
    readonly mirrors: readonly string[];
    readonly sha256: Readonly<Record<MnistFileKey, string>>;
  };
}

/**
 * The dataset presets, by name.
 *
 * - `mnist`: mean 0.1307, std 0.3081 (the reference's), classes `'0'` to `'9'`.
 * - `fashion-mnist`: mean 0.2860, std 0.3530 (measured on its 60,000 training images), classes
 *   T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot;
 *   downloaded from torchvision's mirror and checked against the SHA-256 of the decompressed
 *   files (the same bytes as Debian's `dataset-fashion-mnist` package).
 *
 * @example
 * ```ts
 * import { DATASETS, evaluate } from 'lenet-mnist';
 * const { confusion } = await evaluate(model, testSet);
 * DATASETS['fashion-mnist'].classNames.forEach((name, i) => console.log(name, confusion[i]?.[i]));
 * ```
 */
export const DATASETS: Readonly<Record<DatasetName, DatasetPreset>> = Object.freeze({
  mnist: Object.freeze({
    name: 'mnist',
    title: 'MNIST',
    mean: MNIST_MEAN,
    std: MNIST_STD,
    classNames: Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']),
    download: Object.freeze({ mirrors: MNIST_MIRRORS, sha256: MNIST_SHA256 }),
  }),
  'fashion-mnist': Object.freeze({
    name: 'fashion-mnist',
    title: 'Fashion-MNIST',
    mean: 0.286,
    std: 0.353,
    classNames: Object.freeze([
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ]),
    download: Object.freeze({
      mirrors: Object.freeze(['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/']),
      sha256: Object.freeze({
        trainImages: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
        trainLabels: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
        testImages: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
        testLabels: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
      }),
    }),
  }),
});

/**
 * The first `count` images of a set (all of them when it has fewer), sharing its arrays: a quick
 * subset for trying things out. The MNIST files are not sorted by label, so the first images
 * cover every class (the first 500 training digits hold 39 to 66 of each).
 *
 * @param set - Any image set (or prepared set: the extra fields are kept).
 * @param count - How many images to keep: an integer, 0 or more.
 * @returns A set of `min(count, set.count)` images whose `images` and `labels` are views of
 *   `set`'s arrays (no copy).
 * @throws `RangeError` when `count` is not an integer of 0 or more.
 *
 * @example
 * ```ts
 * import { firstImages } from 'lenet-mnist/data';
 * import { loadMnist, prepareImages } from 'lenet-mnist';
 * const mnist = await loadMnist();
 * const small = prepareImages(firstImages(mnist.train, 2000)); // 2,000 images, prepared in ms
 * ```
 */
export function firstImages<T extends ImageSet>(set: T, count: number): T {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`firstImages: count must be an integer >= 0, got ${String(count)}`);
  }
  if (count >= set.count) return set;
  const pixels = set.height * set.width;
  return {
    ...set,
    count,
    images: set.images.subarray(0, count * pixels),
    labels: set.labels.subarray(0, count),
  };
}
