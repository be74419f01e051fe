/**
 * lenet-mnist: LeNet-5 handwritten-digit recognition for any JavaScript app. Load MNIST (IDX,
 * raw or gzipped, or downloaded and verified), train LeNet-5 or an MLP with callbacks, evaluate,
 * predict digits from arrays or canvases, save and load weights, or start from the shipped
 * pretrained weights. Runs on WebGPU where the hardware supports it, else on WASM SIMD (with
 * fused training and inference kernels for the default LeNet).
 *
 * This entry holds the workflow, grouped by task. Data utilities (IDX encoding, batches,
 * augmentation, download settings, normalisation tables, dataset presets) are in
 * `lenet-mnist/data`; file formats (the weights and checkpoint bytes, PyTorch, safetensors, ONNX)
 * in `lenet-mnist/interop`; the tfjs instance in `lenet-mnist/tfjs`.
 *
 * @packageDocumentation
 */

// 1. Models: make one, or start from the shipped weights.

export { createLeNet, type LeNetOptions } from './engine/lenet.js';
export { createMlp, type MlpOptions } from './engine/mlp.js';
export { loadPretrained, PRETRAINED_WEIGHTS_URL } from './engine/pretrained.js';
export type { EngineInfo, EngineKind, FastPathOption, Model } from './engine/types.js';
export type {
  Activation,
  LayerSummary,
  LeNetSpec,
  MlpSpec,
  ModelSpec,
  ParameterInfo,
  Preprocessing,
} from './model/types.js';

// 2. Data: load MNIST (or another IDX set), prepare it as the model expects, split it.

export { type SplitOptions, splitValidation } from './data/batches.js';
export type { LoadProgress } from './data/download.js';
export { type ParseIdxOptions, parseIdx } from './data/idx.js';
export {
  type ImageSet,
  type LoadImageSetOptions,
  type LoadMnistOptions,
  loadImageSet,
  loadMnist,
  type Mnist,
  type MnistSource,
} from './data/mnist.js';
export {
  type PreparedSet,
  type PrepareOptions,
  prepareImages,
  type ResizeMode,
} from './data/preprocess.js';
export { type AsciiFormatOptions, formatDigitAscii } from './data/render.js';

// 3. Train: options, callbacks and their logs, recipes and schedules, checkpoints, a worker.

export type { ThreadsOption } from './backend/env.js';
export { type AugmentOptions, DEFAULT_AUGMENT } from './data/augment.js';
export { type BatchPoint, type PlotHistoryOptions, plotHistory } from './report/plot.js';
export {
  CheckpointFormatError,
  loadCheckpointFile,
  saveCheckpointFile,
  type TrainCheckpoint,
} from './train/checkpoint.js';
export { type RecipeSettings, type TrainingRecipe, trainingRecipe } from './train/recipe.js';
export {
  type CosineScheduleOptions,
  cosineSchedule,
  type LearningRateSchedule,
  type OneCycleScheduleOptions,
  oneCycleSchedule,
  type StepScheduleOptions,
  stepSchedule,
  type WarmupOptions,
} from './train/schedule.js';
export {
  type BatchLogs,
  type EarlyStoppingOptions,
  type EpochLogs,
  type TrainCallbacks,
  type TrainContext,
  type TrainHistory,
  type TrainOptions,
  train,
} from './train/train.js';
export {
  type TrainInWorkerOptions,
  type TrainInWorkerResult,
  TrainWorkerError,
  trainInWorker,
  type WorkerTestResult,
} from './train/worker.js';

// 4. Evaluate.

export { type EvaluateOptions, type Evaluation, evaluate } from './train/evaluate.js';

// 5. Predict: digits from arrays, IDX batches or canvases.

export {
  type DigitImage,
  frameLikeMnist,
  type ImageConversionOptions,
  type ImageDataLike,
  InputError,
} from './predict/input.js';
export {
  type ClassifyOutput,
  createPredictor,
  type PixelBatch,
  type Prediction,
  type Predictor,
  type PredictorOptions,
} from './predict/predictor.js';

// 6. Save and load weights: files, bytes, IndexedDB, downloads.

export {
  loadModelFromIndexedDB,
  saveModelToIndexedDB,
  weightsDownloadUrl,
} from './browser/storage.js';
export { loadModel, loadModelFile, saveModelFile } from './engine/io.js';
export { WeightsFormatError } from './model/weights.js';

// 7. Backends and run-time files: WebGPU or WASM, what runs where, and where assets are.

export { detectEnvironment, type RuntimeEnvironment } from './backend/env.js';
export {
  type BackendAdapterInfo,
  type BackendChangeEvent,
  BackendError,
  type BackendInfo,
  type BackendName,
  formatBackendInfo,
  getBackendInfo,
  type InitBackendOptions,
  initBackend,
  onBackendChange,
} from './backend/select.js';
export type { WasmPaths, WasmThreads } from './backend/wasm.js';
export {
  type AssetBase,
  AssetError,
  type AssetName,
  setAssetBase,
} from './platform/assets.js';

// 8. Errors: every one a LenetMnistError, naming what was wrong.

export {
  DatasetError,
  type DatasetErrorDetails,
  type DownloadAttempt,
  DownloadError,
  IdxFormatError,
  type IdxFormatErrorDetails,
} from './data/errors.js';
export { FusedLeNetError, ModelDisposedError, TrainingDivergedError } from './engine/errors.js';
export { LenetMnistError, OptionError } from './errors.js';

export { VERSION } from './version.js';
