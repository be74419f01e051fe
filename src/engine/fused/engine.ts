import { type AugmentOptions, augmentTransform } from '../../data/augment.js';
import { normalizationTable, precomputeCoefficients } from '../../data/preprocess.js';
import { buildLayers } from '../../model/layers.js';
import type { ModelSpec, Preprocessing } from '../../model/types.js';
import { StepDivergedError } from '../errors.js';
import { CpuFedEngine } from '../gather.js';
import { pixelsToFloats } from '../pixels.js';
import { type DigitScores, markBlank, scoreLogits } from '../scores.js';
import type {
  AdamSettings,
  Engine,
  EngineInfo,
  OptimizerState,
  StepBatch,
  StepStats,
  StepTotals,
  TrainBatch,
  TrainingSet,
} from '../types.js';
import { FusedLeNetError, instantiateFusedLeNet, type PixelTables, WasmLeNet } from './kernels.js';
import { type CompiledFusedModule, compileFusedModule } from './load.js';
import { instantiateFusedNet, type KernelSet, type WasmNet } from './net-kernels.js';
import { AUGMENT_PARAMS, type ModuleTrainingSet } from './trainset.js';
import { WorkerPool } from './workers.js';

/** The fewest images a forward pass splits over the workers: below it, posting costs more. */
const MIN_PARALLEL_FORWARD = 256;
/**
 * The fewest raw digits a prediction splits over workers: one digit takes about 25 µs, a
 * worker's round trip (post, wake, reply) about 0.1 ms, so smaller batches stay on the calling
 * thread.
 */
export const MIN_PARALLEL_INFERENCE = 64;
/** An inference pool unused this long is stopped (its workers hold memory, not the process). */
const INFERENCE_IDLE_MS = 2000;

/**
 * A model on the fused WASM SIMD kernels: the default LeNet on its hand-tuned kernels
 * (asm/lenet.ts), every other model the factories build on the generic layer-table kernels
 * (asm/net.ts). The weights and Adam's state live in one WebAssembly instance's memory (the only
 * copy); a training step or forward pass is one call into it. With more than one thread, workers
 * share each training step (workers.ts, each with its own instance of the same kernels) and the
 * instance applies the summed gradients; they also share large forward passes (evaluation).
 * A training step copies its batch out (into the module and the workers' buffers) before its
 * first `await`, so the caller may build the next batch while the workers compute.
 */
export class FusedEngine extends CpuFedEngine implements Engine {
  #info: EngineInfo;
  readonly #compiled: CompiledFusedModule;
  readonly #kernels: KernelSet;
  #net: WasmLeNet | WasmNet | undefined;
  #pool: WorkerPool | undefined;
  /** A step waiting for workers: nothing else may touch the instance until it settles. */
  #busy = false;
  #lossSum = 0;
  #correct = 0;
  /** The pixel tables the instance holds, and their key (mean, std, source side). */
  #tables: { tables: PixelTables; key: string } | undefined;
  /** The bound training set, when it lives in the module (and the workers' instances). */
  #moduleSet: ModuleTrainingSet | undefined;
  /** The module set's augmentation: its options and seed, and each step's drawn distortions. */
  #augment: ModuleAugment | undefined;
  /** Counts changes of the parameters, so workers are sent them only when they changed. */
  #version = 0;
  /** Whether #pool was started for predictions (stopped when idle) rather than by setThreads. */
  #poolForInference = false;
  /** An inference pool being started: predictions run on the calling thread meanwhile. */
  #poolStarting: Promise<void> | undefined;
  /** A prediction split over the pool is in flight: the next runs on the calling thread. */
  #inferring = false;
  #lastInference = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    compiled: CompiledFusedModule,
    kernels: KernelSet,
    net: WasmLeNet | WasmNet,
    reason: string,
  ) {
    super();
    this.#compiled = compiled;
    this.#kernels = kernels;
    this.#net = net;
    this.#info = {
      kind: 'fused',
      backend: 'wasm',
      reason,
      variant: compiled.variant,
      kernels: kernels.kind,
      threads: 1,
    };
  }

  /**
   * The default LeNet on its hand-tuned kernels, holding `weights`; the module is compiled once
   * per process.
   */
  static async create(weights: readonly Float32Array[], reason: string): Promise<FusedEngine> {
    const compiled = await compileFusedModule();
    const net = await instantiateFusedLeNet(compiled.variant, compiled.module);
    net.setParams(weights);
    return new FusedEngine(compiled, { kind: 'lenet' }, net, reason);
  }

  /** Any other model the factories build (`spec`) on the generic kernels, holding `weights`. */
  static async createGeneric(
    spec: ModelSpec,
    weights: readonly Float32Array[],
    reason: string,
  ): Promise<FusedEngine> {
    const compiled = await compileFusedModule({ kernels: 'generic' });
    const kernels: KernelSet = {
      kind: 'generic',
      layers: buildLayers(spec),
      inputSize: spec.inputSize,
    };
    const net = await instantiateFusedNet(
      compiled.variant,
      compiled.module,
      kernels.layers,
      kernels.inputSize,
    );
    net.setParams(weights);
    return new FusedEngine(compiled, kernels, net, reason);
  }

  get info(): EngineInfo {
    return this.#info;
  }

  async forward(images: Float32Array, n: number): Promise<Float32Array> {
    const net = this.#idle();
    // While training with workers (the trainer's evaluation), large passes are split over them.
    if (this.#pool === undefined || n < MIN_PARALLEL_FORWARD) return net.forward(images, n);
    this.#busy = true;
    try {
      return await this.#pool.forward(net, images, n, this.#version);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Scores of raw digits (see {@link Engine.classifyPixels}). With `threads` above 1 and at
   * least {@link MIN_PARALLEL_INFERENCE} digits, the digits are split over a pool of
   * `threads - 1` workers (started on first use, which waits for it; stopped after 2 s idle or
   * on dispose; while another split prediction is in flight, the calling thread computes alone).
   * On the default LeNet's kernels every thread scores its share inside its module; on the
   * generic kernels the logits are scored here. Each digit is computed alone, so the scores are
   * the same bit for bit on any thread count.
   */
  async classifyPixels(
    pixels: Uint8Array,
    side: number,
    n: number,
    preprocessing: Preprocessing,
    out: DigitScores,
    threads = 1,
  ): Promise<void> {
    let net = this.#idle();
    let pool = this.#inferencePool(threads, n);
    if (pool === 'start') this.#startInferencePool(threads);
    if (pool === 'start' || pool === 'starting') {
      // Wait for the workers rather than compute meanwhile (a caller looping on resolved
      // promises would never let their replies arrive). Not computing while they start also
      // avoids a Node 20 deadlock: a worker starting while this thread ran a large batch hung
      // 3-24% of fresh processes under load (V8's background compiler waiting for a collection
      // while Node drains its platform tasks, nodejs/node#54918; scripts/first-split-check.mjs).
      // The caller may reuse `pixels` once this returns (Engine.classifyPixels): keep a copy.
      pixels = pixels.slice(0, n * side * side);
      await this.#poolStarting;
      net = this.#idle();
      pool = this.#inferencePool(threads, n);
    }
    if (pool === 'start' || pool === 'starting') pool = undefined;
    const tables = this.#pixelTables(net, side, preprocessing);
    if (tables === undefined) {
      // The generic kernels (or a resize the module does not do): floats prepared here.
      const floats = pixelsToFloats(pixels, side, n, preprocessing);
      markBlank(pixels, side, n, out.blank);
      scoreLogits(await this.#forwardFloats(net, floats, n, pool), n, out);
      return;
    }
    const lenet = net as WasmLeNet;
    if (pool === undefined) {
      lenet.scorePixels(pixels, side, n, out);
      return;
    }
    this.#inferring = true;
    try {
      await pool.scorePixels(net, pixels, side, n, out, tables, this.#version, (p, m, o) =>
        lenet.scorePixels(p, side, m, o),
      );
    } finally {
      this.#inferring = false;
      this.#lastInference = now();
    }
  }

  /** Logits of prepared floats, split over `pool` when there is one. */
  async #forwardFloats(
    net: WasmLeNet | WasmNet,
    floats: Float32Array,
    n: number,
    pool: WorkerPool | undefined,
  ): Promise<Float32Array> {
    if (pool === undefined) return net.forward(floats, n);
    this.#inferring = true;
    try {
      return await pool.forward(net, floats, n, this.#version);
    } finally {
      this.#inferring = false;
      this.#lastInference = now();
    }
  }

  /**
   * The pool to split a prediction of `n` digits over, or undefined to run it here: a training
   * pool while one runs, else the inference pool of `threads`; 'start' when there is none yet,
   * 'starting' while a start is under way.
   */
  #inferencePool(threads: number, n: number): WorkerPool | undefined | 'start' | 'starting' {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new FusedLeNetError(`threads must be an integer >= 1, got ${threads}.`);
    }
    if (threads < 2 || n < MIN_PARALLEL_INFERENCE || this.#inferring) return undefined;
    const pool = this.#pool;
    if (pool !== undefined) {
      if (!this.#poolForInference || pool.threads === threads) return pool;
      // Another thread count was asked: replace the idle inference pool.
      void this.#stopInferencePool();
    }
    if (this.#poolStarting === NEVER) return undefined;
    if (this.#poolStarting !== undefined) return 'starting';
    return 'start';
  }

  #startInferencePool(threads: number): void {
    const net = this.#idle();
    const starting = WorkerPool.start(
      threads,
      this.#compiled.variant,
      this.#compiled.module,
      this.#kernels,
      net.parameterBytes().byteLength,
    ).then(
      (pool) => {
        if (this.#poolStarting !== starting || this.#net === undefined || this.#pool) {
          // Disposed, or replaced (setThreads) while starting.
          return pool.stop();
        }
        this.#poolStarting = undefined;
        this.#pool = pool;
        this.#poolForInference = true;
        this.#lastInference = now();
        this.#armIdleTimer(INFERENCE_IDLE_MS);
        return undefined;
      },
      () => {
        // Workers cannot start here (e.g. a page's CSP): predictions stay on this thread.
        if (this.#poolStarting === starting) this.#poolStarting = NEVER;
      },
    );
    this.#poolStarting = starting;
  }

  /** Stops the inference pool once unused for INFERENCE_IDLE_MS; the timer keeps no process alive. */
  #armIdleTimer(ms: number): void {
    const timer = setTimeout(
      () => {
        this.#idleTimer = undefined;
        if (!this.#poolForInference || this.#pool === undefined) return;
        const idle = now() - this.#lastInference;
        if (this.#inferring || idle < INFERENCE_IDLE_MS)
          this.#armIdleTimer(INFERENCE_IDLE_MS - idle);
        else void this.#stopInferencePool();
      },
      Math.max(1, ms),
    );
    (timer as { unref?: () => void }).unref?.();
    this.#idleTimer = timer;
  }

  /** Stops an idle inference pool (not a training one), and any start under way. */
  #stopInferencePool(): Promise<void> {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#poolStarting !== NEVER) this.#poolStarting = undefined;
    if (!this.#poolForInference) return Promise.resolve();
    const pool = this.#pool;
    this.#pool = undefined;
    this.#poolForInference = false;
    return pool?.stop() ?? Promise.resolve();
  }

  /**
   * The pixel tables the default LeNet's kernels apply to `side`² digits (written into the
   * instance when they change), or undefined where the kernels cannot prepare them (other
   * kernels, other preprocessing): then the CPU prepares floats.
   */
  #pixelTables(
    net: WasmLeNet | WasmNet,
    side: number,
    preprocessing: Preprocessing,
  ): { tables: PixelTables; key: string } | undefined {
    if (!(net instanceof WasmLeNet)) return undefined;
    const { size, resize, mean, std } = preprocessing;
    // The kernels take 32x32 input: as is, or Pillow's bilinear resize of a smaller square.
    if (size !== 32 || side > 32 || (side !== 32 && resize !== 'bilinear')) return undefined;
    const key = `${mean} ${std} ${side}`;
    if (this.#tables?.key === key) return this.#tables;
    // Tables are written when they change: the normalisation's for new mean/std, the resize's
    // for a new source side (32x32 input needs none, and keeps those of another side).
    const tables: PixelTables = {
      normalization: normalizationTable(mean, std),
      resize: side !== 32 ? { side, ...precomputeCoefficients(side, 32) } : undefined,
    };
    if (!net.setPixelTables(tables)) return undefined;
    this.#tables = { tables, key };
    return this.#tables;
  }

  /**
   * Keeps `set` for {@link FusedEngine.trainStep}. The 8-bit set goes into the module (and each
   * worker's instance) once, and every step sends only its indices: the batch is gathered and
   * normalised inside the kernels. With augmentation, each step also sends every image's drawn
   * distortion (8 numbers, drawn here: {@link augmentParams}) and the kernels distort the batch
   * as `augmentBatch` does, bit for bit. Sets of another image size (or, with augmentation, not
   * square) stay with the CPU gatherer, which builds each batch's floats.
   */
  override bindTrainingSet(set: TrainingSet): void {
    this.unbindTrainingSet();
    const net = this.#idle();
    const { data, augment } = set;
    const pixels = data.width * data.height;
    if (pixels !== this.#imageFloats() || (augment !== undefined && data.width !== data.height)) {
      this.feed.bind(set);
      return;
    }
    const moduleSet: ModuleTrainingSet = {
      images: data.images,
      labels: data.labels,
      count: data.count,
      table: normalizationTable(data.mean, data.std),
      augment: augment && { elastic: augment.options.elastic, grid: augment.options.elasticGrid },
    };
    net.bindSet(moduleSet);
    this.#moduleSet = moduleSet;
    this.#augment = augment && { ...augment, slots: [], drawMs: 0 };
    this.#pool?.bindSet(moduleSet, this.#imageFloats());
  }

  /** Draws the next step's distortions ahead (while workers compute the current one). */
  override prepareStep(step: StepBatch): void {
    if (this.#moduleSet === undefined) this.feed.prepare(step);
    else if (this.#augment !== undefined) this.#distortions(this.#augment, step);
  }

  override unbindTrainingSet(): void {
    this.feed.unbind();
    if (this.#moduleSet === undefined) return;
    this.#moduleSet = undefined;
    this.#augment = undefined;
    this.#net?.unbindSet();
    this.#pool?.unbindSet();
  }

  /**
   * One Adam step on the bound set's images `step.indices`: gathered (and distorted) inside the
   * kernels (the calling thread's and each worker's share) where the set lives in the module,
   * else built by the CPU gatherer and run as {@link FusedEngine.trainBatch}.
   */
  override async trainStep(
    step: StepBatch,
    adam: AdamSettings,
    read: boolean,
  ): Promise<StepStats | undefined> {
    const set = this.#moduleSet;
    if (set === undefined) return this.trainBatch(this.feed.batch(step), adam, read);
    const net = this.#idle();
    const { indices } = step;
    const bad = indices.findIndex((j) => j >= set.count);
    if (bad >= 0) {
      throw new FusedLeNetError(
        `indices[${bad}] is ${indices[bad]}, past the set's ${set.count} images.`,
      );
    }
    const distortions = this.#augment && this.#distortions(this.#augment, step);
    let stats: StepStats;
    this.#version++;
    if (this.#pool === undefined || this.#poolForInference) {
      stats = net.trainStepIndexed(indices, adam, distortions);
    } else {
      this.#busy = true;
      try {
        stats = await this.#pool.trainStepIndexed(net, indices, adam, distortions);
      } finally {
        this.#busy = false;
      }
    }
    return this.#account(stats, indices.length, net, read);
  }

  /**
   * `step`'s distortions (drawn now unless prepareStep drew them), in the buffer of its batch's
   * parity, so the next step's can be drawn while this one's are in use.
   */
  #distortions(augment: ModuleAugment, step: StepBatch): Float64Array {
    const n = step.indices.length;
    const key = `${step.epoch}:${step.batch}:${n}`;
    const parity = step.batch & 1;
    let slot = augment.slots[parity];
    if (slot === undefined || slot.params.length < n * AUGMENT_PARAMS) {
      slot = { params: new Float64Array(n * AUGMENT_PARAMS), key: '' };
      augment.slots[parity] = slot;
    }
    if (slot.key !== key) {
      const t0 = now();
      slot.key = '';
      augmentParams(
        augment.options,
        { seed: augment.seed, epoch: step.epoch, batch: step.batch },
        n,
        slot.params,
      );
      slot.key = key;
      augment.drawMs += now() - t0;
    }
    return slot.params.subarray(0, n * AUGMENT_PARAMS);
  }

  /**
   * One Adam step on a batch of floats (the gatherer's, or a test's). The batch is copied out
   * (into the module and the workers' buffers) before the first `await`.
   */
  async trainBatch(
    batch: TrainBatch,
    adam: AdamSettings,
    read: boolean,
  ): Promise<StepStats | undefined> {
    const net = this.#idle();
    const { images, labels, n } = batch;
    let stats: StepStats;
    this.#version++;
    if (this.#pool === undefined || this.#poolForInference) {
      // The single-threaded step checks its batch itself.
      stats = net.trainStep(images, labels, n, adam);
    } else {
      const checked = net.checkBatch(images, labels, n);
      this.#busy = true;
      try {
        stats = await this.#pool.trainStep(net, images, checked, n, adam);
      } finally {
        this.#busy = false;
      }
    }
    return this.#account(stats, n, net, read);
  }

  /** Sums a step's statistics; a NaN loss (nothing applied) is a {@link StepDivergedError}. */
  #account(
    stats: StepStats,
    n: number,
    net: WasmLeNet | WasmNet,
    read: boolean,
  ): StepStats | undefined {
    if (Number.isNaN(stats.loss)) {
      // The kernels applied nothing: the weights and Adam's state are still the last finite ones.
      throw new StepDivergedError(net.adamStep + 1);
    }
    this.#lossSum += stats.loss * n;
    this.#correct += stats.correct;
    return read ? stats : undefined;
  }

  /**
   * The running sums since the last call. `augmentSeconds`: the CPU gatherer's distortion time,
   * or, for a set in the module, the calling thread's: drawing each step's distortions and
   * distorting its own share inside the module (workers distort their shares meanwhile).
   */
  async takeTotals(): Promise<StepTotals> {
    let augmentSeconds = this.feed.takeAugmentSeconds();
    augmentSeconds += (this.#net?.takeDistortMs() ?? 0) / 1000;
    if (this.#augment !== undefined) {
      augmentSeconds += this.#augment.drawMs / 1000;
      this.#augment.drawMs = 0;
    }
    const totals = { lossSum: this.#lossSum, correct: this.#correct, augmentSeconds };
    this.#lossSum = 0;
    this.#correct = 0;
    return totals;
  }

  getWeights(): Float32Array[] {
    return this.#idle().getParams();
  }

  async readWeights(): Promise<Float32Array[]> {
    return this.getWeights();
  }

  setWeights(weights: readonly Float32Array[]): void {
    this.#idle().setParams(weights);
    this.#version++;
  }

  async readOptimizerState(): Promise<OptimizerState> {
    return this.#idle().getOptimizerState();
  }

  setOptimizerState(state: OptimizerState | undefined): void {
    this.#idle().setOptimizerState(state);
  }

  /**
   * Threads for training steps (and evaluation): a pool of `threads - 1` workers, replacing any
   * inference pool; 1 stops the workers. A set bound in the module is sent to new workers.
   */
  async setThreads(threads: number): Promise<undefined> {
    const net = this.#idle();
    if (threads === this.#info.threads && !this.#poolForInference) return undefined;
    const starting = this.#poolStarting;
    await this.#stopInferencePool();
    this.#poolStarting = undefined;
    if (starting !== NEVER) await starting;
    await this.#pool?.stop();
    this.#pool = undefined;
    if (threads > 1) {
      const paramBytes = net.parameterBytes().byteLength;
      const pool = await WorkerPool.start(
        threads,
        this.#compiled.variant,
        this.#compiled.module,
        this.#kernels,
        paramBytes,
      );
      this.#pool = pool;
      if (this.#moduleSet !== undefined) pool.bindSet(this.#moduleSet, this.#imageFloats());
    }
    this.#info = { ...this.#info, threads };
    return undefined;
  }

  async dispose(): Promise<void> {
    const starting = this.#poolStarting;
    const stopping = this.#stopInferencePool();
    this.#poolStarting = undefined;
    await stopping;
    // A pool still starting stops itself once up (it sees it was replaced): wait for that.
    if (starting !== NEVER) await starting;
    const pool = this.#pool;
    this.#pool = undefined;
    this.feed.unbind();
    this.#moduleSet = undefined;
    this.#augment = undefined;
    this.#net?.dispose();
    this.#net = undefined;
    await pool?.stop();
  }

  /** Floats (and set bytes) per image of the kernels' input. */
  #imageFloats(): number {
    return this.#kernels.kind === 'lenet' ? 32 * 32 : this.#kernels.inputSize ** 2;
  }

  /** The instance, when no data-parallel step is in flight (a step reads and writes it). */
  #idle(): WasmLeNet | WasmNet {
    if (this.#net === undefined) throw new FusedLeNetError('This fused engine has been disposed.');
    if (this.#busy) {
      throw new FusedLeNetError(
        'A training step is in progress: wait for it before using the model.',
      );
    }
    return this.#net;
  }
}

/** A set's augmentation in the module: `train`'s options and seed, and the drawn distortions. */
interface ModuleAugment {
  readonly options: Required<AugmentOptions>;
  readonly seed: number;
  /** Two buffers of distortions, by batch parity, and the step (`epoch:batch:n`) each holds. */
  readonly slots: { params: Float64Array; key: string }[];
  /** Milliseconds spent drawing since the last takeTotals. */
  drawMs: number;
}

/**
 * The distortions of the images `0..n)` of the batch `key` (their positions in the whole
 * batch, as `augmentBatch` numbers them), AUGMENT_PARAMS per image into `out`: keep (1 or 0),
 * a, b, d, e, tx, ty and mulberry32's state, as `augmentTransform` draws them. The kernels
 * continue the draws for the elastic field and distort exactly as `augmentBatch`.
 */
export function augmentParams(
  options: Required<AugmentOptions>,
  key: { seed: number; epoch: number; batch: number },
  n: number,
  out: Float64Array,
): Float64Array {
  for (let s = 0; s < n; s++) {
    const t = augmentTransform(options, key, s);
    const o = s * AUGMENT_PARAMS;
    out[o] = t.keep ? 1 : 0;
    out[o + 1] = t.a;
    out[o + 2] = t.b;
    out[o + 3] = t.d;
    out[o + 4] = t.e;
    out[o + 5] = t.tx;
    out[o + 6] = t.ty;
    out[o + 7] = t.state;
  }
  return out.subarray(0, n * AUGMENT_PARAMS);
}

/** A start that failed: predictions stay on the calling thread for this engine's life. */
const NEVER: Promise<void> = new Promise<void>(() => {});

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
