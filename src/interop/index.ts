/**
 * `lenet-mnist/interop`: file formats. The library's own weights and checkpoint bytes (encode,
 * decode, format versions), and models to and from PyTorch and ONNX: import and export PyTorch
 * `state_dict` files (`.pt`, read by a restricted unpickler that executes nothing) and
 * safetensors, and export ONNX graphs, with the layouts converted both ways (OIHW and HWIO,
 * `[out, in]` and `[in, out]`, fc1's flatten order). Also the names of the run-time asset files,
 * for copying them where `setAssetBase` points.
 *
 * @packageDocumentation
 */

export {
  type DecodedWeights,
  decodeWeights,
  encodeWeights,
  WEIGHTS_FORMAT_VERSION,
  type WeightsHeader,
} from '../model/weights.js';
export { ASSET_NAMES } from '../platform/assets.js';
export {
  CHECKPOINT_FORMAT_VERSION,
  decodeCheckpoint,
  encodeCheckpoint,
} from '../train/checkpoint.js';
export {
  InteropFormatError,
  StateDictError,
  type StateDictProblem,
  UnsafePickleError,
} from './errors.js';
export type { StateDictImportOptions, StateDictTensor } from './layout.js';
export { exportOnnx } from './onnx.js';
export {
  exportPyTorchStateDict,
  importPyTorchStateDict,
  readPyTorchStateDict,
} from './pytorch.js';
export { exportSafetensors, importSafetensors, readSafetensors } from './safetensors.js';
