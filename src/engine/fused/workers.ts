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
import { type DigitScores, scoreBytes, scoresIn } from '../scores.js';
import {
  type AdamHyperparameters,
  FusedLeNetError,
  type FusedStepResult,
  type FusedVariant,
  type PixelTables,
} from './kernels.js';
import { imageFloatsOf, type KernelSet } from './net-kernels.js';
import { AUGMENT_PARAMS, type ModuleTrainingSet } from './trainset.js';
import workerSource from './worker.ts?worker-source';

/** What a pool needs of the calling thread's instance (`WasmLeNet` and `WasmNet` both have it). */
export interface DataParallelNet {
  reserve(n: number): void;
  parameterBytes(): Uint8Array;
  gradientStep(images: Float32Array, labels: Uint8Array, n: number): FusedStepResult;
  gradientStepIndexed(indices: Uint32Array, distortions?: Float64Array): FusedStepResult;
  mixGradients(peer: ArrayBuffer, selfWeight: number, peerWeight: number): void;
  applyAdam(hp: AdamHyperparameters): boolean;
  forward(images: Float32Array, n: number, out?: Float32Array): Float32Array;
}

/** What the main thread sends a worker. */
export type WorkerRequest =
  | { type: 'init'; variant: FusedVariant; module: WebAssembly.Module; kernels: KernelSet }
  | { type: 'step'; n: number; params: ArrayBuffer; images: ArrayBuffer; labels: ArrayBuffer }
  | { type: 'forward'; n: number; params?: ArrayBuffer; images: ArrayBuffer }
  | { type: 'bind'; set: ModuleTrainingSet }
  | { type: 'unbind' }
  | {
      type: 'stepIndexed';
      params: ArrayBuffer;
      indices: ArrayBuffer;
      n: number;
      /** The share's distortions (AUGMENT_PARAMS f64 per image) when the set is augmented. */
      distortions?: ArrayBuffer;
    }
  | {
      type: 'scorePixels';
      n: number;
      side: number;
      /** Absent: the worker's instance already holds the current parameters. */
      params?: ArrayBuffer;
      /** Absent: the worker's instance already holds these tables. */
      tables?: PixelTables;
      pixels: ArrayBuffer;
      /** Receives the share's scores, laid out as `scoresIn` reads them. */
      scores: ArrayBuffer;
    };

/**
 * What a worker answers to a step: the parameter buffer it got now holds the share's gradients;
 * the other buffers it got come back (images and labels, or indices).
 */
interface StepReply {
  type: 'step';
  /** The share's summed loss. */
  loss: number;
  correct: number;
  grads: ArrayBuffer;
  images?: ArrayBuffer;
  labels?: ArrayBuffer;
  indices?: ArrayBuffer;
  distortions?: ArrayBuffer;
}

/** What a worker answers to a forward pass: its share's logits, and the buffers it got. */
interface ForwardReply {
  type: 'forward';
  logits: ArrayBuffer;
  params?: ArrayBuffer;
  images: ArrayBuffer;
}

/** What a worker answers to scoring raw digits: the buffers it got, scores written. */
interface ScorePixelsReply {
  type: 'scorePixels';
  scores: ArrayBuffer;
  params?: ArrayBuffer;
  pixels: ArrayBuffer;
}

/** What a worker answers. */
export type WorkerReply =
  | { type: 'ready' }
  | StepReply
  | ForwardReply
  | ScorePixelsReply
  | { type: 'error'; message: string };

const CLASSES = 10;

/** One worker thread with its reusable buffers and the replies it is waiting for, in order. */
class Helper {
  readonly handle: WorkerHandle;
  params: ArrayBuffer | undefined;
  images: ArrayBuffer | undefined;
  labels: ArrayBuffer | undefined;
  indices: ArrayBuffer | undefined;
  distortions: ArrayBuffer | undefined;
  pixels: ArrayBuffer | undefined;
  scores: ArrayBuffer | undefined;
  /** The parameters' version the worker's instance holds (-1: unknown, e.g. after a step). */
  paramsVersion = -1;
  /** The pixel tables' key the worker's instance holds ('' : none). */
  tablesKey = '';
  /** Requests posted and not yet answered: the worker answers each, in order. */
  readonly #pending: { resolve(reply: WorkerReply): void; reject(err: Error): void }[] = [];
  #failure: Error | undefined;

  readonly #imageFloats: number;

  constructor(paramBytes: number, imageFloats: number) {
    this.#imageFloats = imageFloats;
    this.params = new ArrayBuffer(paramBytes);
    this.handle = platform.startWorker(workerSource);
    this.handle.onMessage((message) => {
      const pending = this.#pending.shift();
      const reply = message as WorkerReply;
      if (reply.type === 'error') pending?.reject(new FusedLeNetError(`Worker: ${reply.message}`));
      else pending?.resolve(reply);
    });
    this.handle.onError((error) => {
      this.#failure = new FusedLeNetError(`Worker failed: ${error.message}`);
      for (const pending of this.#pending.splice(0)) pending.reject(this.#failure);
    });
  }

  /** This worker's image buffer, grown to hold `m` images (it travels with each request). */
  imagesFor(m: number): ArrayBuffer {
    const have = this.images;
    const bytes = m * this.#imageFloats * 4;
    return have && have.byteLength >= bytes ? have : new ArrayBuffer(bytes);
  }

  /** A buffer of at least `bytes`: `have` when large enough, else a new one. */
  static grown(have: ArrayBuffer | undefined, bytes: number): ArrayBuffer {
    return have && have.byteLength >= bytes ? have : new ArrayBuffer(bytes);
  }

  request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<WorkerReply>((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.handle.post(message, transfer);
    });
  }
}

/** `threads - 1` workers that share training steps with a main instance. */
export class WorkerPool {
  readonly threads: number;
  readonly #imageFloats: number;
  #helpers: Helper[];

  private constructor(helpers: Helper[], imageFloats: number) {
    this.#helpers = helpers;
    this.#imageFloats = imageFloats;
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
    return new WorkerPool(helpers, imageFloats);
  }

  /**
   * Sends a copy of the training set to every worker's instance, for
   * {@link WorkerPool.trainStepIndexed}. Returns at once: a worker answers its requests in order,
   * so its next step waits for the set (and fails if the set could not be written).
   */
  bindSet(set: ModuleTrainingSet, imageBytes: number): void {
    for (const h of this.#helpers) {
      // Copies of just the set's bytes, moved to the worker (a view would clone all its buffer).
      const images = set.images.slice(0, set.count * imageBytes);
      const labels = set.labels.slice(0, set.count);
      const table = set.table.slice();
      const augment = set.augment && { elastic: set.augment.elastic, grid: set.augment.grid };
      const copy = { images, labels, count: set.count, table, augment };
      const reply = h.request({ type: 'bind', set: copy }, [
        images.buffer,
        labels.buffer,
        table.buffer,
      ]);
      reply.catch(() => {}); // a failure rejects this worker's next request too
    }
  }

  /** Frees the workers' copies of the set (in order with their requests, like bindSet). */
  unbindSet(): void {
    for (const h of this.#helpers) h.request({ type: 'unbind' }).catch(() => {});
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
    const size = this.#imageFloats;
    return this.#step(
      main,
      shares,
      hp,
      (h, m, start, params) => {
        const hImages = h.imagesFor(m);
        const hLabels = Helper.grown(h.labels, m);
        new Float32Array(hImages, 0, m * size).set(
          images.subarray(start * size, (start + m) * size),
        );
        new Uint8Array(hLabels, 0, m).set(labels.subarray(start, start + m));
        h.images = undefined;
        h.labels = undefined;
        return h.request({ type: 'step', n: m, params, images: hImages, labels: hLabels }, [
          params,
          hImages,
          hLabels,
        ]);
      },
      () => main.gradientStep(images, labels, own),
    );
  }

  /**
   * {@link WorkerPool.trainStep} on the bound set's images `indices` (see
   * {@link WorkerPool.bindSet}): each worker gets its share's indices, not pixels, and gathers
   * its batch inside its instance, as the calling thread does for the first share. With a set
   * bound with augmentation, `distortions` holds the whole batch's (AUGMENT_PARAMS per image,
   * drawn by batch position): each share gets its slice and distorts inside its instance.
   */
  async trainStepIndexed(
    main: DataParallelNet,
    indices: Uint32Array,
    hp: AdamHyperparameters,
    distortions?: Float64Array,
  ): Promise<FusedStepResult> {
    const shares = splitBatch(indices.length, this.threads);
    const own = shares[0] as number;
    return this.#step(
      main,
      shares,
      hp,
      (h, m, start, params) => {
        const hIndices = Helper.grown(h.indices, m * 4);
        new Uint32Array(hIndices, 0, m).set(indices.subarray(start, start + m));
        h.indices = undefined;
        const transfer = [params, hIndices];
        let hDistortions: ArrayBuffer | undefined;
        if (distortions !== undefined) {
          const floats = m * AUGMENT_PARAMS;
          hDistortions = Helper.grown(h.distortions, floats * 8);
          new Float64Array(hDistortions, 0, floats).set(
            distortions.subarray(start * AUGMENT_PARAMS, start * AUGMENT_PARAMS + floats),
          );
          h.distortions = undefined;
          transfer.push(hDistortions);
        }
        return h.request(
          { type: 'stepIndexed', n: m, params, indices: hIndices, distortions: hDistortions },
          transfer,
        );
      },
      () =>
        main.gradientStepIndexed(
          indices.subarray(0, own),
          distortions?.subarray(0, own * AUGMENT_PARAMS),
        ),
    );
  }

  /**
   * A data-parallel step: posts each worker its share (`post`, with a copy of the parameters),
   * runs the first share here (`ownStep`), mixes the gradients as they come and applies Adam.
   */
  async #step(
    main: DataParallelNet,
    shares: number[],
    hp: AdamHyperparameters,
    post: (h: Helper, m: number, start: number, params: ArrayBuffer) => Promise<WorkerReply>,
    ownStep: () => FusedStepResult,
  ): Promise<FusedStepResult> {
    const n = shares.reduce((a, b) => a + b, 0);
    const own = shares[0] as number;
    // Grow memory first: growing detaches the parameter view made below.
    main.reserve(Math.max(own, 1));
    const paramView = main.parameterBytes();
    const replies: Promise<WorkerReply>[] = [];
    try {
      let start = own;
      this.#helpers.forEach((h, i) => {
        const m = shares[i + 1] as number;
        if (m === 0) return;
        const params = Helper.grown(h.params, paramView.byteLength);
        new Uint8Array(params).set(paramView);
        h.params = undefined;
        // The worker's instance ends the step holding these parameters, not the next ones.
        h.paramsVersion = -1;
        const reply = post(h, m, start, params);
        reply.catch(() => {}); // awaited below; this only marks an early failure as handled
        replies[i] = reply;
        start += m;
      });

      // Each share's gradient is a mean over the share: weight it by the share's size.
      let { loss, correct } = ownStep();
      let selfWeight = own / n;
      for (let i = 0; i < this.#helpers.length; i++) {
        const pending = replies[i];
        if (!pending) continue;
        const h = this.#helpers[i] as Helper;
        const reply = (await pending) as StepReply;
        h.params = reply.grads;
        if (reply.images) h.images = reply.images;
        if (reply.labels) h.labels = reply.labels;
        if (reply.indices) h.indices = reply.indices;
        if (reply.distortions) h.distortions = reply.distortions;
        loss += reply.loss;
        correct += reply.correct;
        main.mixGradients(reply.grads, selfWeight, (shares[i + 1] as number) / n);
        selfWeight = 1;
      }
      // As the single-threaded step: a non-finite loss, gradient or update changes nothing.
      if (!Number.isFinite(loss) || !main.applyAdam(hp)) return { loss: Number.NaN, correct };
      return { loss: loss / n, correct };
    } catch (err) {
      // Let every worker answer before the next step can post to it again.
      await Promise.allSettled(replies);
      throw err;
    }
  }

  /**
   * Logits of `n` normalised images, split like a training step: each
   * worker gets its share (and the current parameters unless its instance holds `version`
   * already), the calling thread runs the first share.
   * Each image's logits are computed alone, so they equal `main.forward`'s bit for bit.
   */
  async forward(
    main: DataParallelNet,
    images: Float32Array,
    n: number,
    version = -1,
    out: Float32Array = new Float32Array(n * CLASSES),
  ): Promise<Float32Array> {
    const shares = splitBatch(n, this.threads);
    const own = shares[0] as number;
    const size = this.#imageFloats;
    const logits = out;
    // Used only before main.forward, which may grow memory and so detach it.
    const paramView = main.parameterBytes();
    const replies: { helper: Helper; reply: Promise<WorkerReply>; start: number; m: number }[] = [];
    try {
      let start = own;
      this.#helpers.forEach((h, i) => {
        const m = shares[i + 1] as number;
        if (m === 0) return;
        const params = this.#paramsFor(h, paramView, version);
        const hImages = h.imagesFor(m);
        new Float32Array(hImages, 0, m * size).set(
          images.subarray(start * size, (start + m) * size),
        );
        h.images = undefined;
        const transfer = params ? [params, hImages] : [hImages];
        const reply = h.request({ type: 'forward', n: m, params, images: hImages }, transfer);
        reply.catch(() => {}); // awaited below; this only marks an early failure as handled
        replies.push({ helper: h, reply, start, m });
        start += m;
      });
      if (own > 0) main.forward(images, own, logits.subarray(0, own * CLASSES));
      for (const { helper, reply, start, m } of replies) {
        const answer = (await reply) as ForwardReply;
        if (answer.params) helper.params = answer.params;
        helper.images = answer.images;
        logits.set(new Float32Array(answer.logits, 0, m * CLASSES), start * CLASSES);
      }
      return logits;
    } catch (err) {
      await Promise.allSettled(replies.map((r) => r.reply));
      throw err;
    }
  }

  /**
   * Scores of `n` raw digits (`side`² bytes each) into `out`, split like
   * {@link WorkerPool.forward}: each worker resizes, normalises, runs and scores its share inside
   * its instance with `tables` (sent only when its instance holds other ones, `tablesKey` telling
   * them apart), the calling thread scores the first share with `scoreOwn`. Each digit is
   * computed alone, so the scores equal one thread's bit for bit.
   */
  async scorePixels(
    main: DataParallelNet,
    pixels: Uint8Array,
    side: number,
    n: number,
    out: DigitScores,
    pixelTables: { tables: PixelTables; key: string },
    version: number,
    scoreOwn: (pixels: Uint8Array, n: number, out: DigitScores) => void,
  ): Promise<void> {
    const shares = splitBatch(n, this.threads);
    const own = shares[0] as number;
    const bytes = side * side;
    const paramView = main.parameterBytes();
    const replies: { helper: Helper; reply: Promise<WorkerReply>; start: number; m: number }[] = [];
    try {
      let start = own;
      this.#helpers.forEach((h, i) => {
        const m = shares[i + 1] as number;
        if (m === 0) return;
        const params = this.#paramsFor(h, paramView, version);
        const tables = h.tablesKey === pixelTables.key ? undefined : pixelTables.tables;
        h.tablesKey = pixelTables.key;
        const hPixels = Helper.grown(h.pixels, m * bytes);
        const hScores = Helper.grown(h.scores, scoreBytes(m));
        new Uint8Array(hPixels, 0, m * bytes).set(
          pixels.subarray(start * bytes, (start + m) * bytes),
        );
        h.pixels = undefined;
        h.scores = undefined;
        const transfer = [hPixels, hScores];
        if (params) transfer.push(params);
        const reply = h.request(
          { type: 'scorePixels', n: m, side, params, tables, pixels: hPixels, scores: hScores },
          transfer,
        );
        reply.catch(() => {}); // awaited below; this only marks an early failure as handled
        replies.push({ helper: h, reply, start, m });
        start += m;
      });
      if (own > 0) scoreOwn(pixels.subarray(0, own * bytes), own, out);
      for (const { helper, reply, start, m } of replies) {
        const answer = (await reply) as ScorePixelsReply;
        if (answer.params) helper.params = answer.params;
        helper.pixels = answer.pixels;
        helper.scores = answer.scores;
        const share = scoresIn(answer.scores, m);
        out.probabilities.set(share.probabilities, start * CLASSES);
        out.labels.set(share.labels, start);
        out.blank.set(share.blank, start);
      }
    } catch (err) {
      // The worker's tables are unknown after a failure: send them again next time.
      for (const r of replies) r.helper.tablesKey = '';
      await Promise.allSettled(replies.map((r) => r.reply));
      throw err;
    }
  }

  /**
   * A copy of the parameters for `h`, or undefined when its instance holds `version` already
   * (versions are >= 0; -1 always sends).
   */
  #paramsFor(h: Helper, paramView: Uint8Array, version: number): ArrayBuffer | undefined {
    if (version >= 0 && h.paramsVersion === version) return undefined;
    const params = Helper.grown(h.params, paramView.byteLength);
    new Uint8Array(params).set(paramView);
    h.params = undefined;
    h.paramsVersion = version;
    return params;
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
