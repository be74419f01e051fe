// Data-parallel training with the fused LeNet kernels: a batch is split over `threads`
// instances of the same compiled WebAssembly module, the calling thread's and one per worker
// thread. Each instance runs forward and backward on its share (`gradientStep` in
// asm/lenet.ts, which is the fused training step without its Adam update); the calling thread
// sums the gradients, each weighted by its share of the batch because each is a mean over its
// share, and applies one Adam update. Parameters therefore follow the single-threaded
// `FusedLeNet.trainStep` up to the order of float additions.
//
// Workers are plain (non-shared) WebAssembly instances: each step posts them the current
// parameters and their images, and they answer with their gradients, moving the same
// ArrayBuffers back and forth (transferred, not copied). The worker's code is the string
// WORKER_SOURCE below, started by the platform layer, so bundles need no separate entry.
import { platform, type WorkerHandle } from '../../platform/index.js';
import {
  type AdamHyperparameters,
  adamSettings,
  compileFusedModule,
  FusedLeNetError,
  type FusedStepResult,
  type FusedVariant,
  instantiateFusedLeNet,
  type WasmLeNet,
} from './lenet_fused.js';

/** Options of {@link createParallelFusedTrainer}. */
export interface ParallelFusedOptions {
  /** Threads that share each batch, the calling one included: 1 runs no worker. Default 2. */
  threads?: number;
  /** As for `loadFusedLeNet`: which build to run; `'auto'` (default) prefers relaxed SIMD. */
  relaxedSimd?: boolean | 'auto';
}

/**
 * The fused LeNet trained data-parallel over several threads: the surface of `FusedLeNet`,
 * except that `trainStep` is asynchronous (it waits for the workers) and must not be called
 * again before its promise settles, and `dispose` stops the workers.
 *
 * @example
 * ```ts
 * const net = await createParallelFusedTrainer({ threads: 2 });
 * net.setParams(model.getWeights().map((w) => w.dataSync() as Float32Array));
 * const { loss } = await net.trainStep(images, labels, 64, { learningRate: 1e-3 });
 * await net.dispose();
 * ```
 */
export interface ParallelFusedTrainer {
  readonly variant: FusedVariant;
  /** Threads sharing each batch, the calling one included. */
  readonly threads: number;
  /** As `FusedLeNet.setParams`: 10 parameters in tfjs order and layouts; Adam's state is kept. */
  setParams(params: readonly Float32Array[]): void;
  /** Copies of the 10 parameters, in the order and layouts of `setParams`. */
  getParams(): Float32Array[];
  /** The summed gradients of the mean loss from the last `trainStep`, laid out like `getParams()`. */
  getGradients(): Float32Array[];
  /** Zeroes Adam's moments and its step count. */
  resetOptimizer(): void;
  /** One Adam step on a batch of `n` images [n,32,32,1] and labels 0..9, split over the threads. */
  trainStep(
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    hp?: AdamHyperparameters,
  ): Promise<FusedStepResult>;
  /** Logits [n,10] of `n` images, on the calling thread, into `out` when given. */
  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array;
  /** Stops the workers; the object is unusable afterwards. */
  dispose(): Promise<void>;
}

const IMAGE_SIZE = 32 * 32;

/** What a worker answers to a step. */
interface StepReply {
  type: 'step';
  loss: number;
  correct: number;
  /** The parameter buffer sent with the step, now holding the share's gradients. */
  grads: ArrayBuffer;
  images: ArrayBuffer;
  labels: ArrayBuffer;
}

type Reply = { type: 'ready' } | StepReply | { type: 'error'; message: string };

/**
 * The worker, as the text of a self-contained function `(post, listen) => void` (see
 * `Platform.startWorker`): plain JavaScript, so neither TypeScript nor a bundler touches it.
 * `init` brings the compiled module; `step` brings parameters (internal layout), images and
 * labels of the worker's share and gets back its mean loss, correct count and gradients.
 */
const WORKER_SOURCE = `(post, listen) => {
  let k;
  listen(async (msg) => {
    try {
      if (msg.type === 'init') {
        k = await WebAssembly.instantiate(msg.module, {});
        k = k.exports;
        post({ type: 'ready' });
        return;
      }
      const { n, params, images, labels } = msg;
      if (!k.reserve(n)) throw new Error('Cannot grow WebAssembly memory for a batch of ' + n);
      const mem = k.memory.buffer;
      new Uint8Array(mem, k.parametersAddress(), params.byteLength).set(new Uint8Array(params));
      new Uint8Array(mem, k.inputPtr(), n * 4096).set(new Uint8Array(images, 0, n * 4096));
      new Uint8Array(mem, k.labelsPtr(), n).set(new Uint8Array(labels, 0, n));
      const loss = k.gradientStep(n);
      new Uint8Array(params).set(new Uint8Array(mem, k.gradientsAddress(), params.byteLength));
      post(
        { type: 'step', loss, correct: k.correctCount(), grads: params, images, labels },
        [params, images, labels],
      );
    } catch (err) {
      post({ type: 'error', message: String((err && err.message) || err) });
    }
  });
}`;

/** One worker thread with its reusable buffers and the reply it is waiting for. */
class Helper {
  readonly handle: WorkerHandle;
  params: ArrayBuffer | undefined;
  images: ArrayBuffer | undefined;
  labels: ArrayBuffer | undefined;
  #pending: { resolve(reply: Reply): void; reject(err: Error): void } | undefined;
  #failure: Error | undefined;

  constructor(paramBytes: number) {
    this.params = new ArrayBuffer(paramBytes);
    this.handle = platform.startWorker(WORKER_SOURCE);
    this.handle.onMessage((message) => {
      const pending = this.#pending;
      this.#pending = undefined;
      const reply = message as Reply;
      if (reply.type === 'error') pending?.reject(new FusedLeNetError(`Worker: ${reply.message}`));
      else pending?.resolve(reply);
    });
    this.handle.onError((error) => {
      this.#failure = new FusedLeNetError(`Worker failed: ${error.message}`);
      this.#pending?.reject(this.#failure);
      this.#pending = undefined;
    });
  }

  request(message: unknown, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<Reply>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.handle.post(message, transfer);
    });
  }
}

/**
 * Starts a data-parallel fused LeNet: the calling thread and `threads - 1` workers, each with
 * an instance of the same compiled module. Rejects with `FusedLeNetError` where the fused
 * kernels cannot run (no WebAssembly SIMD) or a worker cannot start.
 */
export async function createParallelFusedTrainer(
  options: ParallelFusedOptions = {},
): Promise<ParallelFusedTrainer> {
  const threads = options.threads ?? 2;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new FusedLeNetError(`threads must be a positive integer, got ${threads}.`);
  }
  const { variant, module } = await compileFusedModule(options);
  const main = await instantiateFusedLeNet(variant, module);
  const paramBytes = main.parameterBytes().byteLength;
  const helpers: Helper[] = [];
  try {
    for (let i = 1; i < threads; i++) helpers.push(new Helper(paramBytes));
    const ready = await Promise.all(helpers.map((h) => h.request({ type: 'init', module })));
    if (ready.some((r) => r.type !== 'ready')) throw new FusedLeNetError('Worker did not start.');
  } catch (err) {
    await Promise.all(helpers.map((h) => h.handle.terminate()));
    throw err;
  }
  return new ParallelLeNet(main, helpers);
}

class ParallelLeNet implements ParallelFusedTrainer {
  readonly variant: FusedVariant;
  readonly threads: number;
  /** The calling thread's instance: it holds the parameters and Adam's state. */
  #main: WasmLeNet | undefined;
  #helpers: Helper[];
  #busy = false;

  constructor(main: WasmLeNet, helpers: Helper[]) {
    this.variant = main.variant;
    this.threads = helpers.length + 1;
    this.#main = main;
    this.#helpers = helpers;
  }

  setParams(params: readonly Float32Array[]): void {
    this.#idle().setParams(params);
  }

  getParams(): Float32Array[] {
    return this.#idle().getParams();
  }

  getGradients(): Float32Array[] {
    return this.#idle().getGradients();
  }

  resetOptimizer(): void {
    this.#idle().resetOptimizer();
  }

  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array {
    return this.#idle().forward(images, n, out);
  }

  async trainStep(
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    hp: AdamHyperparameters = {},
  ): Promise<FusedStepResult> {
    const main = this.#idle();
    const batchLabels = main.checkBatch(images, labels, n);
    adamSettings(hp); // fail before any work is sent out

    // Shares: the calling thread takes the smallest, as it also sums the gradients and runs Adam.
    const shares = splitBatch(n, this.threads);
    const own = shares[0] as number;
    // Grow memory first: growing detaches the parameter view made below.
    main.reserve(Math.max(own, 1));
    const paramView = main.parameterBytes();
    this.#busy = true;
    const replies: Promise<Reply>[] = [];
    try {
      let start = own;
      this.#helpers.forEach((h, i) => {
        const m = shares[i + 1] as number;
        if (m === 0) return;
        const params = h.params ?? new ArrayBuffer(paramView.byteLength);
        new Uint8Array(params).set(paramView);
        let hImages = h.images;
        if (!hImages || hImages.byteLength < m * IMAGE_SIZE * 4) {
          hImages = new ArrayBuffer(m * IMAGE_SIZE * 4);
        }
        let hLabels = h.labels;
        if (!hLabels || hLabels.byteLength < m) hLabels = new ArrayBuffer(m);
        new Float32Array(hImages, 0, m * IMAGE_SIZE).set(
          images.subarray(start * IMAGE_SIZE, (start + m) * IMAGE_SIZE),
        );
        new Uint8Array(hLabels, 0, m).set(batchLabels.subarray(start, start + m));
        h.params = undefined;
        h.images = undefined;
        h.labels = undefined;
        const reply = h.request({ type: 'step', n: m, params, images: hImages, labels: hLabels }, [
          params,
          hImages,
          hLabels,
        ]);
        reply.catch(() => {}); // awaited below; this only marks an early failure as handled
        replies[i] = reply;
        start += m;
      });

      // Each share's gradient is a mean over the share: weight it by the share's size.
      let { loss, correct } = main.gradientStep(images, batchLabels, own);
      let selfWeight = own / n;
      for (let i = 0; i < this.#helpers.length; i++) {
        const pending = replies[i];
        if (!pending) continue;
        const h = this.#helpers[i] as Helper;
        const reply = (await pending) as StepReply;
        h.params = reply.grads;
        h.images = reply.images;
        h.labels = reply.labels;
        const m = shares[i + 1] as number;
        loss += reply.loss * m;
        correct += reply.correct;
        main.mixGradients(reply.grads, selfWeight, m / n);
        selfWeight = 1;
      }
      main.applyAdam(hp);
      return { loss: loss / n, correct };
    } catch (err) {
      // Let every worker answer before the next step can post to it again.
      await Promise.allSettled(replies);
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  async dispose(): Promise<void> {
    this.#main?.dispose();
    this.#main = undefined;
    const helpers = this.#helpers;
    this.#helpers = [];
    await Promise.all(helpers.map((h) => h.handle.terminate()));
  }

  /** The main instance, when no step is in flight (a step reads and writes the parameters). */
  #idle(): WasmLeNet {
    if (!this.#main) throw new FusedLeNetError('This trainer has been disposed.');
    if (this.#busy) {
      throw new FusedLeNetError('A trainStep is in progress: await it before using the trainer.');
    }
    return this.#main;
  }
}

/** Splits n samples into `parts` shares differing by at most one, the smaller ones first. */
function splitBatch(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  const extra = n - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i >= parts - extra ? 1 : 0));
}
