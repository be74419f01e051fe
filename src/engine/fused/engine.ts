import { normalizationTable, precomputeCoefficients } from '../../data/preprocess.js';
import { buildLayers } from '../../model/layers.js';
import type { ModelSpec, Preprocessing } from '../../model/types.js';
import { StepDivergedError } from '../errors.js';
import { CpuFedEngine } from '../gather.js';
import { pixelsToFloats } from '../pixels.js';
import type {
  AdamSettings,
  Engine,
  EngineInfo,
  OptimizerState,
  StepStats,
  StepTotals,
  TrainBatch,
} from '../types.js';
import { FusedLeNetError, instantiateFusedLeNet, type PixelTables, WasmLeNet } from './kernels.js';
import { type CompiledFusedModule, compileFusedModule } from './load.js';
import { instantiateFusedNet, type KernelSet, type WasmNet } from './net-kernels.js';
import { WorkerPool } from './workers.js';

/** The fewest images a forward pass splits over the workers: below it, posting costs more. */
const MIN_PARALLEL_FORWARD = 256;

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
  /** The normalisation (mean, std) and resize source side whose tables the instance holds. */
  #normKey = '';
  #resizeSide = 0;

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
      return await this.#pool.forward(net, images, n);
    } finally {
      this.#busy = false;
    }
  }

  async forwardPixels(
    pixels: Uint8Array,
    side: number,
    n: number,
    preprocessing: Preprocessing,
    out: Float32Array,
  ): Promise<void> {
    if (this.#forwardPixelsInModule(pixels, side, n, preprocessing, out)) return;
    const floats = pixelsToFloats(pixels, side, n, preprocessing);
    out.set(await this.forward(floats, n));
  }

  /**
   * The default LeNet's kernels resize and normalise raw pixels themselves (one call); false,
   * computing nothing, where they cannot (other kernels, other preprocessing).
   */
  #forwardPixelsInModule(
    pixels: Uint8Array,
    side: number,
    n: number,
    preprocessing: Preprocessing,
    out: Float32Array,
  ): boolean {
    const net = this.#idle();
    if (!(net instanceof WasmLeNet)) return false;
    const { size, resize, mean, std } = preprocessing;
    // The kernels take 32x32 input: as is, or Pillow's bilinear resize of a smaller square.
    if (size !== 32 || side > 32 || (side !== 32 && resize !== 'bilinear')) return false;
    // Tables are written when they change: the normalisation's for new mean/std, the resize's
    // for a new source side (32x32 input needs none, and keeps those of another side).
    const normKey = `${mean} ${std}`;
    const resizeNeeded = side !== 32 && side !== this.#resizeSide;
    if (normKey !== this.#normKey || resizeNeeded) {
      const tables: PixelTables = {
        normalization: normalizationTable(mean, std),
        resize: resizeNeeded ? { side, ...precomputeCoefficients(side, 32) } : undefined,
      };
      if (!net.setPixelTables(tables)) return false;
      this.#normKey = normKey;
      if (resizeNeeded) this.#resizeSide = side;
    }
    net.forwardPixels(pixels, side, n, out);
    return true;
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
    if (this.#pool === undefined) {
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
    if (Number.isNaN(stats.loss)) {
      // The kernels applied nothing: the weights and Adam's state are still the last finite ones.
      throw new StepDivergedError(net.adamStep + 1);
    }
    this.#lossSum += stats.loss * n;
    this.#correct += stats.correct;
    return read ? stats : undefined;
  }

  async takeTotals(): Promise<StepTotals> {
    const totals = {
      lossSum: this.#lossSum,
      correct: this.#correct,
      augmentSeconds: this.feed.takeAugmentSeconds(),
    };
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
  }

  async readOptimizerState(): Promise<OptimizerState> {
    return this.#idle().getOptimizerState();
  }

  setOptimizerState(state: OptimizerState | undefined): void {
    this.#idle().setOptimizerState(state);
  }

  async setThreads(threads: number): Promise<undefined> {
    const net = this.#idle();
    if (threads === this.#info.threads) return undefined;
    await this.#pool?.stop();
    this.#pool = undefined;
    if (threads > 1) {
      const paramBytes = net.parameterBytes().byteLength;
      this.#pool = await WorkerPool.start(
        threads,
        this.#compiled.variant,
        this.#compiled.module,
        this.#kernels,
        paramBytes,
      );
    }
    this.#info = { ...this.#info, threads };
    return undefined;
  }

  async dispose(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.feed.unbind();
    this.#net?.dispose();
    this.#net = undefined;
    await pool?.stop();
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
