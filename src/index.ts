/**
 * lenet-mnist: LeNet-5 handwritten-digit recognition for any JavaScript app. Load MNIST (IDX,
 * raw or gzipped, or downloaded and verified), train LeNet-5 or an MLP with callbacks, evaluate,
 * predict digits from arrays or canvases, save and load weights, or start from the shipped
 * pretrained weights. Runs on WebGPU where the hardware supports it, else on WASM SIMD (with
 * fused training and inference kernels for the default LeNet).
 *
 * @packageDocumentation
 */

export {
  detectEnvironment,
  MAX_AUTO_THREADS,
  MIN_IMAGES_PER_THREAD,
  type RuntimeEnvironment,
  resolveThreads,
  type ThreadsDecision,
  type ThreadsOption,
  type ThreadsUse,
} from './backend/env.js';
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
  snapshotWeights,
} from './backend/select.js';
export type { WasmPaths, WasmThreads } from './backend/wasm.js';
export {
  loadModelFromIndexedDB,
  saveModelToIndexedDB,
  weightsDownloadUrl,
} from './browser/storage.js';
export * from './data/index.js';
export { ModelDisposedError, TrainingDivergedError } from './engine/errors.js';
export { FusedLeNetError } from './engine/fused/kernels.js';
export { loadModel, loadModelFile, saveModelFile } from './engine/io.js';
export { createLeNet, type LeNetOptions } from './engine/lenet.js';
export { createMlp, type MlpOptions } from './engine/mlp.js';
export { loadPretrained, PRETRAINED_WEIGHTS_URL } from './engine/pretrained.js';
export type { EngineInfo, EngineKind, FastPathOption, Model } from './engine/types.js';
export { LenetMnistError, OptionError, PermissionError } from './errors.js';
export {
  InteropFormatError,
  StateDictError,
  type StateDictProblem,
  UnsafePickleError,
} from './interop/errors.js';
export type { StateDictImportOptions, StateDictTensor } from './interop/layout.js';
export { exportOnnx } from './interop/onnx.js';
export {
  exportPyTorchStateDict,
  importPyTorchStateDict,
  readPyTorchStateDict,
} from './interop/pytorch.js';
export { exportSafetensors, importSafetensors, readSafetensors } from './interop/safetensors.js';
export type {
  Activation,
  LayerSummary,
  LeNetSpec,
  MlpSpec,
  ModelSpec,
  ParameterInfo,
  Preprocessing,
} from './model/types.js';
export {
  type DecodedWeights,
  decodeWeights,
  encodeWeights,
  WEIGHTS_FORMAT_VERSION,
  WeightsFormatError,
  type WeightsHeader,
} from './model/weights.js';
export {
  ASSET_NAMES,
  type AssetBase,
  AssetError,
  type AssetName,
  setAssetBase,
} from './platform/assets.js';
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
export { type BatchPoint, type PlotHistoryOptions, plotHistory } from './report/plot.js';
export {
  CHECKPOINT_FORMAT_VERSION,
  CheckpointFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpointFile,
  saveCheckpointFile,
  type TrainCheckpoint,
} from './train/checkpoint.js';
export { type EvaluateOptions, type Evaluation, evaluate } from './train/evaluate.js';
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
