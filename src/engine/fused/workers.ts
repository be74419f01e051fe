// Data-parallel training steps for the fused engines (the default LeNet's kernels and the
// generic ones): a batch is split over the calling thread's instance (which holds the parameters
// and Adam's state) and one instance per worker thread, all of the same compiled module and
// layer table. Each runs forward and backward on its share (`gradientStep`); the calling thread sums the gradients, each weighted by its share
// of the batch because each is a mean over its share, and applies one Adam update. Parameters
// therefore follow the single-threaded `trainStep` up to the order of float additions.
//
// Workers hold plain (non-shared) WebAssembly instances: each step posts them the current
// parameters and their images, and they answer with their gradients, moving the same
// ArrayBuffers back and forth (transferred, not copied). Their code is worker.ts, bundled into
// a string at build time, so apps and bundlers need no separate worker file.
import { platform, type WorkerHandle } from '../../platform/index.js';
import {
  type AdamHyperparameters,
  FusedLeNetError,
  type FusedStepResult,
  type FusedVariant,
} from './kernels.js';
import { imageFloatsOf, type KernelSet } from './net-kernels.js';
import workerSource from './worker.ts?worker-source';

/** What a pool needs of the calling thread's instance (`WasmLeNet` and `WasmNet` both have it). */
export interface DataParallelNet {
  reserve(n: number): void;
  parameterBytes(): Uint8Array;
  gradientStep(images: Float32Array, labels: Uint8Array, n: number): FusedStepResult;
  mixGradients(peer: ArrayBuffer, selfWeight: number, peerWeight: number): void;
  applyAdam(hp: AdamHyperparameters): boolean;
  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array;
}

/** What the main thread sends a worker. */
export type WorkerRequest =
  | { type: 'init'; variant: FusedVariant; module: WebAssembly.Module; kernels: KernelSet }
  | { type: 'step'; n: number; params: ArrayBuffer; images: ArrayBuffer; labels: ArrayBuffer }
  | { type: 'forward'; n: number; params: ArrayBuffer; images: ArrayBuffer };

/** What a worker answers to a step: the parameter buffer it got now holds the share's gradients. */
interface StepReply {
  type: 'step';
  /** The share's summed loss. */
  loss: number;
  correct: number;
  grads: ArrayBuffer;
  images: ArrayBuffer;
  labels: ArrayBuffer;
}

/** What a worker answers to a forward pass: its share's logits, and the buffers it got. */
interface ForwardReply {
  type: 'forward';
  logits: ArrayBuffer;
  params: ArrayBuffer;
  images: ArrayBuffer;
}

/** What a worker answers. */
export type WorkerReply =
  | { type: 'ready' }
  | StepReply
  | ForwardReply
  | { type: 'error'; message: string };

const CLASSES = 10;

/** One worker thread with its reusable buffers and the reply it is waiting for. */
class Helper {
  readonly handle: WorkerHandle;
  params: ArrayBuffer | undefined;
  images: ArrayBuffer | undefined;
  labels: ArrayBuffer | undefined;
  #pending: { resolve(reply: WorkerReply): void; reject(err: Error): void } | undefined;
  #failure: Error | undefined;

  readonly #imageFloats: number;

  constructor(paramBytes: number, imageFloats: number) {
    this.#imageFloats = imageFloats;
    this.params = new ArrayBuffer(paramBytes);
    this.handle = platform.startWorker(workerSource);
    this.handle.onMessage((message) => {
      const pending = this.#pending;
      this.#pending = undefined;
      const reply = message as WorkerReply;
      if (reply.type === 'error') pending?.reject(new FusedLeNetError(`Worker: ${reply.message}`));
      else pending?.resolve(reply);
    });
    this.handle.onError((error) => {
      this.#failure = new FusedLeNetError(`Worker failed: ${error.message}`);
      this.#pending?.reject(this.#failure);
      this.#pending = undefined;
    });
  }

  /** This worker's image buffer, grown to hold `m` images (it travels with each request). */
  imagesFor(m: number): ArrayBuffer {
    const have = this.images;
    const bytes = m * this.#imageFloats * 4;
    return have && have.byteLength >= bytes ? have : new ArrayBuffer(bytes);
  }

  /**
   * This worker's parameter and image buffers, filled with `paramView` and images `start` to
   * `start + m` of `images`, and taken from it to travel with a request (the reply returns them).
   */
  lend(
    paramView: Uint8Array,
    images: Float32Array,
    start: number,
    m: number,
  ): { params: ArrayBuffer; images: ArrayBuffer } {
    const size = this.#imageFloats;
    const params = this.params ?? new ArrayBuffer(paramView.byteLength);
    new Uint8Array(params).set(paramView);
    const hImages = this.imagesFor(m);
    new Float32Array(hImages, 0, m * size).set(images.subarray(start * size, (start + m) * size));
    this.params = undefined;
    this.images = undefined;
    return { params, images: hImages };
  }

  request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<WorkerReply>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.handle.post(message, transfer);
    });
  }
}

/** A request posted to a worker for its share of a batch: `m` images from `start`. */
interface Posted {
  helper: Helper;
  reply: Promise<WorkerReply>;
  start: number;
  m: number;
}

/** `threads - 1` workers that share training steps with a main instance. */
export class WorkerPool {
  readonly threads: number;
  #helpers: Helper[];

  private constructor(helpers: Helper[]) {
    this.#helpers = helpers;
    this.threads = helpers.length + 1;
  }

  /**
   * Starts `threads - 1` workers, each with an instance of `module` running `kernels`. Rejects with
   * {@link FusedLeNetError} (and stops those that started) when a worker cannot start.
   */
  static async start(
    threads: number,
    variant: FusedVariant,
    module: WebAssembly.Module,
    kernels: KernelSet,
    paramBytes: number,
  ): Promise<WorkerPool> {
    const helpers: Helper[] = [];
    const imageFloats = imageFloatsOf(kernels);
    try {
      for (let i = 1; i < threads; i++) helpers.push(new Helper(paramBytes, imageFloats));
      const ready = await Promise.all(
        helpers.map((h) => h.request({ type: 'init', variant, module, kernels })),
      );
      if (ready.some((r) => r.type !== 'ready')) throw new FusedLeNetError('Worker did not start.');
    } catch (err) {
      await Promise.all(helpers.map((h) => h.handle.terminate()));
      if (err instanceof FusedLeNetError) throw err;
      // E.g. a page whose Content-Security-Policy forbids blob: workers.
      throw new FusedLeNetError(`A worker could not start: ${(err as Error)?.message ?? err}`, {
        cause: err,
      });
    }
    return new WorkerPool(helpers);
  }

  /**
   * Posts each worker with a share (images after the calling thread's `shares[0]`, in worker
   * order) the request that `message` makes of it, its share (from `start`, `m` images) and the
   * parameter and image buffers lent to it; each posted request goes into `posted` at once, so
   * that a caller that fails can let every worker answer first.
   */
  #post(
    posted: Posted[],
    shares: readonly number[],
    paramView: Uint8Array,
    images: Float32Array,
    message: (
      h: Helper,
      start: number,
      m: number,
      params: ArrayBuffer,
      images: ArrayBuffer,
    ) => [WorkerRequest, ArrayBuffer[]],
  ): void {
    let start = shares[0] as number;
    this.#helpers.forEach((h, i) => {
      const m = shares[i + 1] as number;
      if (m === 0) return;
      const lent = h.lend(paramView, images, start, m);
      const reply = h.request(...message(h, start, m, lent.params, lent.images));
      reply.catch(() => {}); // awaited by the caller; this only marks an early failure as handled
      posted.push({ helper: h, reply, start, m });
      start += m;
    });
  }

  /**
   * One data-parallel Adam step of `main` on a checked batch (see `checkBatch`). The
   * calling thread takes the smallest share, as it also sums the gradients and runs Adam.
   */
  async trainStep(
    main: DataParallelNet,
    images: Float32Array,
    labels: Uint8Array,
    n: number,
    hp: AdamHyperparameters,
  ): Promise<FusedStepResult> {
    const shares = splitBatch(n, this.threads);
    const own = shares[0] as number;
    // Grow memory first: growing detaches the parameter view made below.
    main.reserve(Math.max(own, 1));
    const paramView = main.parameterBytes();
    const posted: Posted[] = [];
    try {
      this.#post(posted, shares, paramView, images, (h, start, m, params, hImages) => {
        let hLabels = h.labels;
        if (!hLabels || hLabels.byteLength < m) hLabels = new ArrayBuffer(m);
        new Uint8Array(hLabels, 0, m).set(labels.subarray(start, start + m));
        h.labels = undefined;
        return [
          { type: 'step', n: m, params, images: hImages, labels: hLabels },
          [params, hImages, hLabels],
        ];
      });

      // Each share's gradient is a mean over the share: weight it by the share's size.
      let { loss, correct } = main.gradientStep(images, labels, own);
      let selfWeight = own / n;
      for (const { helper, reply: pending, m } of posted) {
        const reply = (await pending) as StepReply;
        helper.params = reply.grads;
        helper.images = reply.images;
        helper.labels = reply.labels;
        loss += reply.loss;
        correct += reply.correct;
        main.mixGradients(reply.grads, selfWeight, m / n);
        selfWeight = 1;
      }
      // As the single-threaded step: a non-finite loss, gradient or update changes nothing.
      if (!Number.isFinite(loss) || !main.applyAdam(hp)) return { loss: Number.NaN, correct };
      return { loss: loss / n, correct };
    } catch (err) {
      // Let every worker answer before the next step can post to it again.
      await Promise.allSettled(posted.map((p) => p.reply));
      throw err;
    }
  }

  /**
   * Logits of `n` normalised images, split like a training step: each
   * worker gets the current parameters and its share, the calling thread runs the first share.
   * Each image's logits are computed alone, so they equal `main.forward`'s bit for bit.
   */
  async forward(main: DataParallelNet, images: Float32Array, n: number): Promise<Float32Array> {
    const shares = splitBatch(n, this.threads);
    const own = shares[0] as number;
    const logits = new Float32Array(n * CLASSES);
    // Used only before main.forward, which may grow memory and so detach it.
    const paramView = main.parameterBytes();
    const posted: Posted[] = [];
    try {
      this.#post(posted, shares, paramView, images, (_h, _start, m, params, hImages) => [
        { type: 'forward', n: m, params, images: hImages },
        [params, hImages],
      ]);
      if (own > 0) main.forward(images, own, logits.subarray(0, own * CLASSES));
      for (const { helper, reply, start, m } of posted) {
        const answer = (await reply) as ForwardReply;
        helper.params = answer.params;
        helper.images = answer.images;
        logits.set(new Float32Array(answer.logits, 0, m * CLASSES), start * CLASSES);
      }
      return logits;
    } catch (err) {
      await Promise.allSettled(posted.map((p) => p.reply));
      throw err;
    }
  }

  /** Stops the workers. */
  async stop(): Promise<void> {
    const helpers = this.#helpers;
    this.#helpers = [];
    await Promise.all(helpers.map((h) => h.handle.terminate()));
  }
}

/** Splits n samples into `parts` shares differing by at most one, the smaller ones first. */
function splitBatch(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  const extra = n - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i >= parts - extra ? 1 : 0));
}
