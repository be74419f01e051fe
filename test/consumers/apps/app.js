// A browser app as a user writes it: the whole library (backend, pretrained weights, predictor).
// The consumer test opens it in Chromium and calls window.lenetRun with real MNIST test digits.
import {
  createMlp,
  createPredictor,
  formatBackendInfo,
  IdxFormatError,
  initBackend,
  LenetMnistError,
  loadPretrained,
  parseIdx,
  prepareImages,
  trainInWorker,
} from 'lenet-mnist';

window.lenetRun = async (digits, threads) => {
  const info = await initBackend(threads === undefined ? {} : { threads });
  const model = await loadPretrained();
  const predictor = await createPredictor(model);
  const predictions = await predictor.predictBatch(digits.map((d) => Uint8Array.from(d)));
  let error;
  try {
    parseIdx(new Uint8Array(4));
  } catch (err) {
    error = {
      name: err.name,
      isIdxFormatError: err instanceof IdxFormatError,
      isLenetMnistError: err instanceof LenetMnistError,
    };
  }
  // Any other model runs on the generic kernels: their .wasm must have been emitted too.
  const mlp = await createMlp({ seed: 1 });
  const mlpPredictions = await (await createPredictor(mlp)).predictBatch(
    digits.map((d) => Uint8Array.from(d)),
  );
  // A batch large enough to be split over the predictor's worker threads (blob-URL workers in
  // browsers), against one thread: the same bits.
  const many = Array.from({ length: 10 }, () => digits.map((d) => Uint8Array.from(d))).flat();
  const split = await (await createPredictor(model, { threads: 3 })).predictBatch(many);
  const alone = await (await createPredictor(model, { threads: 1 })).predictBatch(many);
  return {
    info,
    threadedInference: {
      images: many.length,
      same: split.every((p, i) =>
        p.probabilities.every((v, k) => Object.is(v, alone[i]?.probabilities[k])),
      ),
      labels: split.slice(0, digits.length).map((p) => p.label),
    },
    generic: {
      kind: mlp.engine?.kind,
      kernels: mlp.engine?.kernels,
      finite: mlpPredictions.every((p) => p.probabilities.every(Number.isFinite)),
    },
    formatted: formatBackendInfo(info),
    labels: predictions.map((p) => p.label),
    path: predictor.path,
    error,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
  };
};
// Training in the library's Web Worker, which the bundler must have emitted with its imports.
// `workerUrl`: where esbuild and Rollup apps serve the package's dist/ (they do not emit the worker).
window.lenetTrainInWorker = async (digits, labels, workerUrl) => {
  const set = {
    images: Uint8Array.from(digits.flat()),
    labels: Uint8Array.from(labels),
    count: digits.length,
    height: 28,
    width: 28,
  };
  const batches = [];
  const { model, history, backend } = await trainInWorker(
    await loadPretrained(),
    prepareImages(set),
    {
      epochs: 1,
      batchSize: 5,
      onBatchEnd: (_batch, logs) => batches.push(logs.size),
      ...(workerUrl ? { workerUrl } : {}),
    },
  );
  const predictor = await createPredictor(model);
  const predictions = await predictor.predictBatch(digits.map((d) => Uint8Array.from(d)));
  return {
    epochs: history.epochs.length,
    batches,
    backend: backend.backend,
    labels: predictions.map((p) => p.label),
  };
};
window.lenetReady = true;
