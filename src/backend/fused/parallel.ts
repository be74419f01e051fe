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
import { detectEnvironment } from '../env.js';
import {
  type AdamHyperparameters,
  FusedLeNetError,
  type FusedStepResult,
  type FusedVariant,
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

const PARAM_SIZES = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10] as const;
const PARAM_TOTAL = PARAM_SIZES.reduce((a, b) => a + b, 0);
const IMAGE_SIZE = 32 * 32;
const CLASSES = 10;
const FORWARD_CHUNK = 256;

/** The exports of asm/lenet.ts this module uses. */
interface Kernels {
  readonly memory: WebAssembly.Memory;
  reserve(capacity: number): number;
  stagingPtr(): number;
  inputPtr(): number;
  labelsPtr(): number;
  logitsPtr(): number;
  correctCount(): number;
  loadParams(): void;
  storeParams(which: 0 | 1): void;
  resetAdam(): void;
  forward(n: number): void;
  parametersAddress(): number;
  gradientsAddress(): number;
  parameterBytes(): number;
  gradientStep(n: number): number;
  peerGradientsAddress(): number;
  mixGradients(selfWeight: number, peerWeight: number): void;
  stageAdam(lr: number, beta1: number, beta2: number, eps: number, bc1: number, bc2: number): void;
}

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
  const { simd, relaxedSimd } = detectEnvironment().wasm;
  if (!simd) {
    throw new FusedLeNetError(
      'This WebAssembly engine does not support SIMD (fixed-width 128-bit).',
    );
  }
  const wanted = options.relaxedSimd ?? 'auto';
  if (wanted === true && !relaxedSimd) {
    throw new FusedLeNetError(
      'This WebAssembly engine does not support relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd).',
    );
  }
  const variant: FusedVariant = wanted !== false && relaxedSimd ? 'relaxed-simd' : 'simd';
  const url =
    variant === 'relaxed-simd'
      ? new URL('./lenet-relaxed-simd.wasm', import.meta.url)
      : new URL('./lenet-simd.wasm', import.meta.url);
  const bytes = await platform.readFile(url);
  const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  const instance = await WebAssembly.instantiate(module, {});
  const kernels = instance.exports as unknown as Kernels;
  if (typeof kernels.gradientStep !== 'function') {
    throw new FusedLeNetError('The fused kernels predate gradientStep: run `npm run build:wasm`.');
  }
  const helpers: Helper[] = [];
  try {
    for (let i = 1; i < threads; i++) helpers.push(new Helper(kernels.parameterBytes()));
    const ready = await Promise.all(helpers.map((h) => h.request({ type: 'init', module })));
    if (ready.some((r) => r.type !== 'ready')) throw new FusedLeNetError('Worker did not start.');
  } catch (err) {
    await Promise.all(helpers.map((h) => h.handle.terminate()));
    throw err;
  }
  return new ParallelLeNet(variant, kernels, helpers);
}

function checkCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new FusedLeNetError(`${what} must be a positive integer, got ${n}.`);
  }
}

class ParallelLeNet implements ParallelFusedTrainer {
  readonly variant: FusedVariant;
  readonly threads: number;
  #kernels: Kernels | undefined;
  #helpers: Helper[];
  #capacity = 0;
  #step = 0;
  #hasParams = false;
  #busy = false;

  constructor(variant: FusedVariant, kernels: Kernels, helpers: Helper[]) {
    this.variant = variant;
    this.threads = helpers.length + 1;
    this.#kernels = kernels;
    this.#helpers = helpers;
    this.#reserve(1);
  }

  setParams(params: readonly Float32Array[]): void {
    const k = this.#idle();
    if (params.length !== PARAM_SIZES.length) {
      throw new FusedLeNetError(`Expected ${PARAM_SIZES.length} parameters, got ${params.length}.`);
    }
    const staging = this.#floats(k.stagingPtr(), PARAM_TOTAL);
    let offset = 0;
    PARAM_SIZES.forEach((size, i) => {
      const p = params[i] as Float32Array;
      if (p.length !== size) {
        throw new FusedLeNetError(`Parameter ${i} must have ${size} elements, got ${p.length}.`);
      }
      staging.set(p, offset);
      offset += size;
    });
    k.loadParams();
    this.#hasParams = true;
  }

  getParams(): Float32Array[] {
    return this.#unstage(0);
  }

  getGradients(): Float32Array[] {
    return this.#unstage(1);
  }

  resetOptimizer(): void {
    this.#idle().resetAdam();
    this.#step = 0;
  }

  async trainStep(
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    hp: AdamHyperparameters = {},
  ): Promise<FusedStepResult> {
    const k = this.#ready();
    checkCount(n, 'n');
    if (images.length < n * IMAGE_SIZE) {
      throw new FusedLeNetError(
        `images holds ${Math.floor(images.length / IMAGE_SIZE)} images, fewer than n = ${n}.`,
      );
    }
    if (labels.length < n) {
      throw new FusedLeNetError(`labels holds ${labels.length} labels, fewer than n = ${n}.`);
    }
    const batchLabels = labels.subarray(0, n);
    const bad = batchLabels.findIndex((l) => l >= CLASSES);
    if (bad >= 0) {
      throw new FusedLeNetError(`labels[${bad}] = ${batchLabels[bad]} is not a class 0..9.`);
    }
    const { lr, beta1, beta2, eps } = adamSettings(hp);

    // Shares: the calling thread takes the smallest, as it also sums the gradients and runs Adam.
    const shares = splitBatch(n, this.threads);
    const own = shares[0] as number;
    // Grow memory first: growing detaches the views made below.
    this.#reserve(Math.max(own, 1));
    const paramBytes = k.parameterBytes();
    const paramView = new Uint8Array(k.memory.buffer, k.parametersAddress(), paramBytes);
    this.#busy = true;
    const replies: Promise<Reply>[] = [];
    try {
      let start = own;
      this.#helpers.forEach((h, i) => {
        const m = shares[i + 1] as number;
        if (m === 0) return;
        const params = h.params ?? new ArrayBuffer(paramBytes);
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

      let loss = 0;
      let correct = 0;
      if (own > 0) {
        this.#floats(k.inputPtr(), own * IMAGE_SIZE).set(images.subarray(0, own * IMAGE_SIZE));
        new Uint8Array(k.memory.buffer, k.labelsPtr() >>> 0, own).set(batchLabels.subarray(0, own));
        loss = k.gradientStep(own) * own;
        correct = k.correctCount();
      }
      // Each share's gradient is a mean over the share: weight it by the share's size.
      if (own === 0) this.#floats(k.gradientsAddress(), paramBytes / 4).fill(0);
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
        new Uint8Array(k.memory.buffer, k.peerGradientsAddress(), paramBytes).set(
          new Uint8Array(reply.grads),
        );
        k.mixGradients(selfWeight, m / n);
        selfWeight = 1;
      }
      this.#step += 1;
      k.stageAdam(lr, beta1, beta2, eps, 1 - beta1 ** this.#step, 1 - beta2 ** this.#step);
      return { loss: loss / n, correct };
    } catch (err) {
      // Let every worker answer before the next step can post to it again.
      await Promise.allSettled(replies);
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array {
    const k = this.#ready();
    checkCount(n, 'n');
    const logits = out ?? new Float32Array(n * CLASSES);
    if (images.length < n * IMAGE_SIZE) {
      throw new FusedLeNetError(
        `images holds ${Math.floor(images.length / IMAGE_SIZE)} images, fewer than n = ${n}.`,
      );
    }
    if (logits.length < n * CLASSES) {
      throw new FusedLeNetError(
        `out must hold n * 10 = ${n * CLASSES} floats, got ${logits.length}.`,
      );
    }
    this.#reserve(Math.min(n, FORWARD_CHUNK));
    for (let s = 0; s < n; s += FORWARD_CHUNK) {
      const m = Math.min(FORWARD_CHUNK, n - s);
      this.#floats(k.inputPtr(), m * IMAGE_SIZE).set(
        images.subarray(s * IMAGE_SIZE, (s + m) * IMAGE_SIZE),
      );
      k.forward(m);
      logits.set(this.#floats(k.logitsPtr(), m * CLASSES), s * CLASSES);
    }
    return logits;
  }

  async dispose(): Promise<void> {
    this.#kernels = undefined;
    const helpers = this.#helpers;
    this.#helpers = [];
    await Promise.all(helpers.map((h) => h.handle.terminate()));
  }

  #live(): Kernels {
    if (!this.#kernels) throw new FusedLeNetError('This trainer has been disposed.');
    return this.#kernels;
  }

  /** The kernels, when no step is in flight (a step reads and writes the parameters). */
  #idle(): Kernels {
    const k = this.#live();
    if (this.#busy) {
      throw new FusedLeNetError('A trainStep is in progress: await it before using the trainer.');
    }
    return k;
  }

  #ready(): Kernels {
    const k = this.#idle();
    if (!this.#hasParams) throw new FusedLeNetError('Call setParams() before running the model.');
    return k;
  }

  #reserve(n: number): void {
    if (n <= this.#capacity) return;
    if (!this.#live().reserve(n)) {
      throw new FusedLeNetError(`Cannot grow WebAssembly memory for a batch of ${n}.`);
    }
    this.#capacity = n;
  }

  #floats(ptr: number, length: number): Float32Array {
    return new Float32Array(this.#live().memory.buffer, ptr >>> 0, length);
  }

  #unstage(which: 0 | 1): Float32Array[] {
    const k = this.#idle();
    k.storeParams(which);
    const staging = this.#floats(k.stagingPtr(), PARAM_TOTAL);
    let offset = 0;
    return PARAM_SIZES.map((size) => {
      offset += size;
      return staging.slice(offset - size, offset);
    });
  }
}

/** Splits n samples into `parts` shares differing by at most one, the smaller ones first. */
function splitBatch(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  const extra = n - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i >= parts - extra ? 1 : 0));
}

function adamSettings(hp: AdamHyperparameters): {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
} {
  const { learningRate: lr = 1e-3, beta1 = 0.9, beta2 = 0.999, epsilon: eps = 1e-8 } = hp;
  if (!(lr > 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0)) {
    throw new FusedLeNetError(
      `Invalid Adam settings: learningRate ${lr}, beta1 ${beta1}, beta2 ${beta2}, epsilon ${eps}.`,
    );
  }
  return { lr, beta1, beta2, eps };
}
