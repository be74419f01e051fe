/**
 * `lenet-mnist/data`: the data layer. IDX files (parse, decode, encode), MNIST loading and
 * download (mirrors, SHA-256 checks), preprocessing identical to the PyTorch reference
 * (resize, normalisation tables), seeded shuffles and batches, augmentation, subsets, and text
 * renderings of digits. Pure TypeScript, no tfjs: an app that imports only this entry loads no
 * tensor code. The workflow's data functions (`loadMnist`, `prepareImages`, `splitValidation`,
 * `parseIdx`, ...) are also exported by the package's root entry.
 *
 * @packageDocumentation
 */

// Also here so that it lands in the tfjs-free chunks: `import { VERSION } from 'lenet-mnist'`
// then bundles without tfjs.
export { VERSION } from '../version.js';
export {
  type AugmentKey,
  type AugmentOptions,
  augmentBatch,
  augmentSeed,
  checkAugmentOptions,
  DEFAULT_AUGMENT,
} from './augment.js';
export {
  type Batch,
  type BatchOptions,
  batchCount,
  batches,
  MAX_BATCH_SIZE,
  mulberry32,
  type SplitOptions,
  shuffledIndices,
  splitValidation,
} from './batches.js';
export {
  DEFAULT_DEADLINE_MS,
  DEFAULT_TIMEOUT_MS,
  type LoadProgress,
  MNIST_FILES,
  MNIST_MIRRORS,
  MNIST_SHA256,
  type MnistFileKey,
} from './download.js';
export {
  DatasetError,
  type DatasetErrorDetails,
  type DownloadAttempt,
  DownloadError,
  IdxFormatError,
  type IdxFormatErrorDetails,
} from './errors.js';
export {
  DEFAULT_MAX_IDX_BYTES,
  type DecodeIdxOptions,
  decodeIdx,
  encodeIdx,
  IDX_TYPE_CODES,
  type IdxArray,
  type IdxDataTypes,
  type IdxDtype,
  isGzip,
  type ParseIdxOptions,
  parseIdx,
} from './idx.js';
export {
  type ImageSet,
  type ImageSetOptions,
  imageAt,
  type LoadImageSetOptions,
  type LoadMnistOptions,
  loadImageSet,
  loadMnist,
  type Mnist,
  type MnistSource,
  toImageSet,
} from './mnist.js';
export {
  MNIST_MEAN,
  MNIST_STD,
  normalizationTable,
  normalizeInto,
  type PreparedSet,
  type PrepareOptions,
  prepareImages,
  preprocessImage,
  type ResizeMode,
  resizeBilinearU8,
} from './preprocess.js';
export { DATASETS, type DatasetName, type DatasetPreset, firstImages } from './presets.js';
export {
  type AsciiFormatOptions,
  formatDigitAscii,
  formatDigitHex,
  type HexFormatOptions,
} from './render.js';
