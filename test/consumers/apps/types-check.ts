// Type-checked by the consumer test as a Node user's code: lib es2022 and @types/node only (no
// DOM lib), skipLibCheck off, so that every .d.ts of the package is checked too.
import {
  type BackendInfo,
  createPredictor,
  initBackend,
  LenetMnistError,
  loadPretrained,
  type Model,
  parseIdx,
  setAssetBase,
} from 'lenet-mnist';

setAssetBase(new URL('./assets/', import.meta.url));
const info: BackendInfo = await initBackend({ threads: 1, initTimeoutMs: 10_000 });
const model: Model = await loadPretrained();
const first = model.parameters[0]?.shape;
const predictor = await createPredictor(model);
const { label } = await predictor.predict(new Uint8Array(784));
const idx = parseIdx(new Uint8Array(0));
const err: unknown = new Error();
console.log(info.threads, first, label, idx.shape, err instanceof LenetMnistError);
