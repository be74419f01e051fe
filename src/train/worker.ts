/**
 * Training in a Web Worker: {@link trainInWorker} sends the model's bytes and the prepared data
 * to a module worker (`browser-fx-train-worker.js`, next to the library's code in `dist/`), which
 * loads the library, runs {@link train} there and relays the callbacks; the page gets the
 * trained model back from the worker's saved weights. The page's main thread only receives
 * messages, so it stays responsive while the worker trains.
 */
import { type BackendInfo, type InitBackendOptions, initBackend } from '../backend/select.js';
import type { ImageSet } from '../data/mnist.js';
import { type PreparedSet, prepareImages } from '../data/preprocess.js';
import { loadModel } from '../engine/io.js';
import { engineModel } from '../engine/model.js';
import type { Model } from '../engine/types.js';
import { LenetMnistError, OptionError } from '../errors.js';
import { type AssetBase, absoluteUrl, setAssetBase } from '../platform/assets.js';
import { platform } from '../platform/index.js';
import type { TrainCheckpoint } from './checkpoint.js';
import { evaluateOn } from './evaluate.js';
import { TRAIN_CALLBACKS } from './plan.js';
import {
  type BatchLogs,
  type EpochLogs,
  type TrainHistory,
  type TrainOptions,
  train,
} from './train.js';

/**
 * The worker failed: it could not start (its script or the library's files could not be
 * loaded), or training in it threw. The message carries the worker's error.
 *
 * @example
 * ```ts
 * try {
 *   await trainInWorker(model, prepared, { epochs: 1 });
 * } catch (err) {
 *   if (err instanceof TrainWorkerError) console.error('training worker:', err.message);
 * }
 * ```
 */
export class TrainWorkerError extends LenetMnistError {}

/**
 * What the worker measures on {@link TrainInWorkerOptions.testData} after training.
 *
 * @example
 * ```ts
 * const { test } = await trainInWorker(model, prepared, { testData: mnist.test });
 * if (test) console.log(`${(test.accuracy * 100).toFixed(2)}% on ${test.count} test images`);
 * ```
 */
export interface WorkerTestResult {
  /** Fraction of test images classified correctly, 0..1. */
  accuracy: number;
  /** Number of test images. */
  count: number;
  /** `confusion[actual][predicted]` counts, 10x10. */
  confusion: number[][];
  /** The predicted digit of every test image, in order (to show the mistakes). */
  predictions: Uint8Array;
}

/**
 * Options of {@link trainInWorker}: those of {@link train} that can be sent to a worker (no
 * learning-rate function; the callbacks run on the calling side), plus where the worker and the
 * library's files are.
 *
 * @example
 * ```ts
 * const options: TrainInWorkerOptions = {
 *   epochs: 2,
 *   batchSize: 64,
 *   logEvery: 5,
 *   onBatchEnd: (batch, logs) => chart.add(logs.loss, logs.accuracy),
 *   signal: controller.signal,
 * };
 * ```
 */
export interface TrainInWorkerOptions extends Omit<TrainOptions, 'learningRate'> {
  /** A constant learning rate (schedules are functions, which cannot be sent to a worker). */
  learningRate?: number;
  /**
   * Raw 28x28 images (e.g. `mnist.test`) that the worker classifies after training, answering
   * {@link TrainInWorkerResult.test}.
   */
  testData?: ImageSet;
  /** The backend options of {@link initBackend} in the worker. Default: `{}` (automatic). */
  backend?: Omit<InitBackendOptions, 'assetBase'>;
  /**
   * Where the worker finds the library's run-time files (see {@link setAssetBase}); relative
   * URLs resolve against the page. Default: next to the library's code.
   */
  assetBase?: AssetBase;
  /**
   * The worker script's URL. Default: `browser-fx-train-worker.js` next to the library's code (the
   * package's `dist/browser-fx-train-worker.js`); set it where a bundler or CDN puts it elsewhere.
   */
  workerUrl?: string | URL;
  /** Called once the worker's backend is ready, with what it runs on. */
  onBackend?: (info: BackendInfo) => void;
}

/**
 * What {@link trainInWorker} resolves to.
 *
 * @example
 * ```ts
 * const { model, history, backend } = await trainInWorker(await createLeNet(), prepared);
 * console.log(backend.backend, history.epochs.at(-1)?.accuracy);
 * ```
 */
export interface TrainInWorkerResult {
  /** The trained model, loaded on the calling side from the worker's saved weights. */
  model: Model;
  /** The run's history, as {@link train} resolves it. */
  history: TrainHistory;
  /** The backend the worker trained on. */
  backend: BackendInfo;
  /** Set when {@link TrainInWorkerOptions.testData} was given. */
  test?: WorkerTestResult;
}

/** Messages from the page to the worker. */
type ToWorker =
  | {
      type: 'train';
      model: ArrayBuffer;
      data: PreparedSet;
      testData?: ImageSet;
      options: Record<string, unknown>;
      callbacks: { batch: boolean; epoch: boolean; epochBegin: boolean };
      backend: Omit<InitBackendOptions, 'assetBase'>;
      assetBase?: AssetBase;
    }
  | { type: 'abort' };

/** Messages from the worker to the page. */
type FromWorker =
  | { type: 'backend'; info: BackendInfo }
  | { type: 'begin'; info: Parameters<NonNullable<TrainOptions['onTrainBegin']>>[0] }
  | { type: 'epochBegin'; epoch: number }
  | { type: 'batch'; batch: number; logs: BatchLogs }
  | { type: 'epoch'; epoch: number; logs: EpochLogs; checkpoint: TrainCheckpoint }
  | {
      type: 'done';
      history: TrainHistory;
      model: ArrayBuffer;
      test?: WorkerTestResult;
    }
  | { type: 'error'; name: string; message: string };

/** Options that cannot travel to the worker (functions, a signal) or travel apart. */
const CALLBACKS = [
  ...TRAIN_CALLBACKS,
  'signal',
  'testData',
  'backend',
  'assetBase',
  'workerUrl',
  'onBackend',
  'validationData',
] as const;

/** Resolves an asset base given on the page to absolute URLs, which the worker needs. */
function absoluteBase(base: AssetBase | undefined): AssetBase | undefined {
  if (base === undefined) return undefined;
  if (typeof base === 'string' || base instanceof URL) return absoluteUrl(String(base));
  const out: Record<string, string> = {};
  for (const [name, location] of Object.entries(base)) {
    if (location !== undefined) out[name] = absoluteUrl(String(location));
  }
  return out as AssetBase;
}

/**
 * Trains a model in a Web Worker, so the page stays responsive: the model's weights and the
 * data are sent to the worker once (copies: the caller's arrays stay usable), {@link train}
 * runs there with `options`, and the callbacks run on the page with the same logs (in
 * `onEpochEnd`, `context.checkpoint()` gives the epoch's checkpoint; `onBatchEnd` gets no
 * checkpoint: its `context.checkpoint()` rejects). Aborting `signal` stops training after the
 * current batch, as with {@link train}, and resolves with the model as it stands
 * (`history.aborted`). Browsers only: in Node, call {@link train} (its fused kernels already
 * use worker threads).
 *
 * @param model - the model to train (left unchanged), or its saved bytes.
 * @param data - the prepared training set (see {@link prepareImages}).
 * @param options - {@link TrainInWorkerOptions}.
 * @returns the trained model (a new one, on the calling side), the history and the backend.
 * @throws {@link TrainWorkerError} when the worker cannot start or training fails in it.
 * @example
 * ```ts
 * import { createLeNet, loadMnist, prepareImages, trainInWorker } from 'lenet-mnist';
 * const mnist = await loadMnist({ files });
 * const prepared = prepareImages(mnist.train);
 * const { model, history } = await trainInWorker(await createLeNet(), prepared, {
 *   epochs: 1,
 *   onBatchEnd: (batch, logs) => console.log(batch, logs.loss),
 * });
 * ```
 */
export async function trainInWorker(
  model: Model | Uint8Array | ArrayBuffer,
  data: PreparedSet,
  options: TrainInWorkerOptions = {},
): Promise<TrainInWorkerResult> {
  if (platform.name !== 'browser' || typeof Worker !== 'function') {
    throw new TrainWorkerError(
      'trainInWorker needs a browser with Web Workers; in Node, call train() (the fused kernels already train on worker threads)',
    );
  }
  if (options.learningRate !== undefined && typeof options.learningRate !== 'number') {
    throw new OptionError(
      'learningRate',
      'trainInWorker: learningRate must be a number (schedules cannot be sent to a worker)',
    );
  }
  options.signal?.throwIfAborted();
  const bytes = await modelBytes(model);
  const worker = startWorker(options);
  const onAbort = () => worker.postMessage({ type: 'abort' } satisfies ToWorker);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<TrainInWorkerResult>((resolve, reject) => {
      listen(worker, options, onAbort, resolve, reject);
      const message = trainMessage(bytes, data, options);
      const copy = message as { data: PreparedSet };
      worker.postMessage(message, [bytes, copy.data.images.buffer, copy.data.labels.buffer]);
    });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    worker.terminate();
  }
}

/** The model as weights-file bytes of its own (transferred to the worker). */
async function modelBytes(model: Model | Uint8Array | ArrayBuffer): Promise<ArrayBuffer> {
  if (model instanceof Uint8Array) return model.slice().buffer as ArrayBuffer;
  if (model instanceof ArrayBuffer) return model.slice(0);
  return (await model.save()).slice().buffer as ArrayBuffer;
}

function startWorker(options: TrainInWorkerOptions): Worker {
  // The literal `new Worker(new URL(..., import.meta.url), { type: 'module' })` is the form
  // Vite and webpack recognize: they bundle the worker with its imports.
  return options.workerUrl !== undefined
    ? new Worker(options.workerUrl, { type: 'module', name: 'lenet-mnist training' })
    : new Worker(new URL('./browser-fx-train-worker.js', import.meta.url), {
        type: 'module',
        name: 'lenet-mnist training',
      });
}

/** The `train` message: the options that can travel (no functions), and copies of the data. */
function trainMessage(
  bytes: ArrayBuffer,
  data: PreparedSet,
  options: TrainInWorkerOptions,
): ToWorker {
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!(CALLBACKS as readonly string[]).includes(key) && value !== undefined) plain[key] = value;
  }
  if (options.validationData !== undefined) plain.validationData = options.validationData;
  return {
    type: 'train',
    model: bytes,
    data: { ...data, images: data.images.slice(), labels: data.labels.slice() },
    ...(options.testData ? { testData: options.testData } : {}),
    options: plain,
    callbacks: {
      batch: options.onBatchEnd !== undefined,
      epoch: true,
      epochBegin: options.onEpochBegin !== undefined,
    },
    backend: options.backend ?? {},
    ...(options.assetBase !== undefined ? { assetBase: absoluteBase(options.assetBase) } : {}),
  };
}

const noBatchCheckpoint = {
  checkpoint: () =>
    Promise.reject(
      new TrainWorkerError(
        'trainInWorker: checkpoints are available in onEpochEnd, not onBatchEnd',
      ),
    ),
};

/** Answers the worker's messages with the caller's callbacks, in order, and settles the run. */
function listen(
  worker: Worker,
  options: TrainInWorkerOptions,
  onAbort: () => void,
  resolve: (result: TrainInWorkerResult) => void,
  reject: (reason: unknown) => void,
): void {
  let backend: BackendInfo | undefined;
  // Callbacks run in order; a callback that throws stops training, as with train().
  let chain: Promise<unknown> = Promise.resolve();
  const run = (fn: () => unknown) => {
    chain = chain.then(fn).catch((err) => {
      onAbort();
      reject(err);
    });
  };
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    const url = options.workerUrl ?? 'browser-fx-train-worker.js';
    reject(
      new TrainWorkerError(
        `the training worker failed: ${event.message || `could not load ${String(url)}`}`,
      ),
    );
  });
  worker.addEventListener('message', (event: MessageEvent<FromWorker>) => {
    const m = event.data;
    if (m.type === 'backend') backend = m.info;
    if (m.type === 'error') {
      if (m.name === 'AbortError' && options.signal?.aborted) reject(options.signal.reason);
      else reject(new TrainWorkerError(`training in the worker failed: ${m.message}`));
      return;
    }
    run(() => answer(m, options, backend as BackendInfo, resolve));
  });
}

/** One message's callback (or, at `done`, the loaded model and the result). */
async function answer(
  m: Exclude<FromWorker, { type: 'error' }>,
  options: TrainInWorkerOptions,
  backend: BackendInfo,
  resolve: (result: TrainInWorkerResult) => void,
): Promise<void> {
  switch (m.type) {
    case 'backend':
      return options.onBackend?.(m.info);
    case 'begin':
      return options.onTrainBegin?.(m.info);
    case 'epochBegin':
      return options.onEpochBegin?.(m.epoch);
    case 'batch':
      return options.onBatchEnd?.(m.batch, m.logs, noBatchCheckpoint);
    case 'epoch':
      return options.onEpochEnd?.(m.epoch, m.logs, { checkpoint: async () => m.checkpoint });
    case 'done': {
      const trained = await loadModel(m.model, 'the training worker');
      await options.onTrainEnd?.(m.history);
      resolve({
        model: trained,
        history: m.history,
        backend,
        ...(m.test ? { test: m.test } : {}),
      });
    }
  }
}

/** Batches of test images the worker classifies at a time. */
const TEST_BATCH = 250;

/**
 * The worker's side (run by `browser-fx-train-worker.js`): answers one `train` message.
 * @internal
 */
export function serveTrainingWorker(scope: {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', handler: (event: MessageEvent) => void): void;
}): void {
  const controller = new AbortController();
  const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);
  scope.addEventListener('message', (event: MessageEvent<ToWorker>) => {
    const m = event.data;
    if (m.type === 'abort') {
      controller.abort(new DOMException('training stopped', 'AbortError'));
      return;
    }
    void (async () => {
      try {
        if (m.assetBase !== undefined) setAssetBase(m.assetBase);
        const info = await initBackend(m.backend);
        post({ type: 'backend', info });
        const model = await loadModel(m.model, 'the page');
        const history = await train(model, m.data, {
          ...(m.options as TrainOptions),
          signal: controller.signal,
          onTrainBegin: (begin) => post({ type: 'begin', info: begin }),
          ...(m.callbacks.epochBegin
            ? { onEpochBegin: (epoch: number) => post({ type: 'epochBegin', epoch }) }
            : {}),
          ...(m.callbacks.batch
            ? {
                onBatchEnd: (batch: number, logs: BatchLogs) =>
                  post({ type: 'batch', batch, logs }),
              }
            : {}),
          onEpochEnd: async (epoch, logs, context) =>
            post({ type: 'epoch', epoch, logs, checkpoint: await context.checkpoint() }),
        });
        let test: WorkerTestResult | undefined;
        if (m.testData !== undefined && !controller.signal.aborted) {
          test = await classifyTestSet(model, m.testData);
        }
        const saved = (await model.save()).buffer as ArrayBuffer;
        model.dispose();
        post({ type: 'done', history, model: saved, ...(test ? { test } : {}) }, [saved]);
      } catch (err) {
        const e = err as Error;
        post({ type: 'error', name: e?.name ?? 'Error', message: e?.message ?? String(err) });
      }
    })();
  });
}

/**
 * Scores the raw test images as a predictor would see them: prepared exactly as the model's
 * preprocessing prescribes (the fused kernels' in-module preparation is the same, bit for bit),
 * then evaluated, each image's predicted digit kept.
 */
async function classifyTestSet(model: Model, set: ImageSet): Promise<WorkerTestResult> {
  const { size, resize, mean, std } = model.preprocessing;
  const prepared = prepareImages(set, { size, resize, mean, std });
  const engine = await engineModel(model).engineFor({ workload: 'inference' });
  const predictions = new Uint8Array(set.count);
  const { accuracy, count, confusion } = await evaluateOn(
    engine,
    prepared,
    TEST_BATCH,
    undefined,
    predictions,
  );
  return { accuracy, count, confusion, predictions };
}
