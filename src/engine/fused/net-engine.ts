import { detectEnvironment } from '../../backend/env.js';
import { buildLayers } from '../../model/layers.js';
import type { ModelSpec } from '../../model/types.js';
import { readAsset } from '../../platform/assets.js';
import { StepDivergedError } from '../errors.js';
import type {
  AdamSettings,
  Engine,
  EngineInfo,
  OptimizerState,
  StepStats,
  TrainBatch,
} from '../types.js';
import { FusedLeNetError, type FusedVariant } from './kernels.js';
import { instantiateFusedNet, type KernelSet, type WasmNet } from './net-kernels.js';
import { WorkerPool } from './workers.js';

/** The fewest images a forward pass splits over the workers: below it, posting costs more. */
const MIN_PARALLEL_FORWARD = 256;

const compiled = new Map<FusedVariant, Promise<WebAssembly.Module>>();

/**
 * Compiles the generic kernels' build for this runtime (relaxed SIMD where it has it), once per
 * process. A file that cannot be read is an `AssetError`; one that does not compile, a
 * {@link FusedLeNetError}. Callers check SIMD support first (choose.ts).
 */
function compileNet(): Promise<{ variant: FusedVariant; module: WebAssembly.Module }> {
  const variant: FusedVariant = detectEnvironment().wasm.relaxedSimd ? 'relaxed-simd' : 'simd';
  let pending = compiled.get(variant);
  if (pending === undefined) {
    pending = compile(variant);
    compiled.set(variant, pending);
    // A failure must not stick: the next model tries again.
    pending.catch(() => compiled.delete(variant));
  }
  return pending.then((module) => ({ variant, module }));
}

async function compile(variant: FusedVariant): Promise<WebAssembly.Module> {
  // Literal `new URL` calls, so bundlers that understand them emit the assets (see load.ts).
  const name = variant === 'relaxed-simd' ? 'net-relaxed-simd.wasm' : 'net-simd.wasm';
  const bytes =
    variant === 'relaxed-simd'
      ? await readAsset(name, new URL('./net-relaxed-simd.wasm', import.meta.url))
      : await readAsset(name, new URL('./net-simd.wasm', import.meta.url));
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (err) {
    throw new FusedLeNetError(
      `Cannot compile the generic fused kernels (${name}): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Every model the factories build other than the default LeNet (whose kernels are
 * hand-tuned, engine.ts), on the generic fused WASM SIMD kernels (asm/net.ts): the weights and
 * Adam's state live in one WebAssembly instance's memory, and a training step or forward pass
 * is one call into it. With more than one thread, workers share each training step and large
 * forward passes exactly as for the default LeNet (workers.ts, engine.ts), each with its own
 * instance configured with the same layers.
 */
export class FusedNetEngine implements Engine {
  #info: EngineInfo;
  readonly #module: WebAssembly.Module;
  readonly #kernels: KernelSet;
  #net: WasmNet | undefined;
  #pool: WorkerPool | undefined;
  /** A step waiting for workers: nothing else may touch the instance until it settles. */
  #busy = false;
  #lossSum = 0;
  #correct = 0;

  private constructor(
    net: WasmNet,
    module: WebAssembly.Module,
    kernels: KernelSet,
    reason: string,
  ) {
    this.#net = net;
    this.#module = module;
    this.#kernels = kernels;
    this.#info = {
      kind: 'fused',
      backend: 'wasm',
      reason,
      variant: net.variant,
      kernels: 'generic',
      threads: 1,
    };
  }

  /** Compiles (once per process) and instantiates the kernels for `spec`, holding `weights`. */
  static async create(
    spec: ModelSpec,
    weights: readonly Float32Array[],
    reason: string,
  ): Promise<FusedNetEngine> {
    const { variant, module } = await compileNet();
    const kernels: KernelSet = {
      kind: 'generic',
      layers: buildLayers(spec),
      inputSize: spec.inputSize,
    };
    const net = await instantiateFusedNet(variant, module, kernels.layers, kernels.inputSize);
    net.setParams(weights);
    return new FusedNetEngine(net, module, kernels, reason);
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

  async trainStep(
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

  async takeTotals(): Promise<{ lossSum: number; correct: number }> {
    const totals = { lossSum: this.#lossSum, correct: this.#correct };
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

  async setThreads(threads: number): Promise<void> {
    const net = this.#idle();
    if (threads === this.#info.threads) return;
    await this.#pool?.stop();
    this.#pool = undefined;
    if (threads > 1) {
      const paramBytes = net.parameterBytes().byteLength;
      const { variant } = net;
      this.#pool = await WorkerPool.start(
        threads,
        variant,
        this.#module,
        this.#kernels,
        paramBytes,
      );
    }
    this.#info = { ...this.#info, threads };
  }

  async dispose(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#net?.dispose();
    this.#net = undefined;
    await pool?.stop();
  }

  /** The instance, when no data-parallel step is in flight (a step reads and writes it). */
  #idle(): WasmNet {
    if (this.#net === undefined) throw new FusedLeNetError('This fused engine has been disposed.');
    if (this.#busy) {
      throw new FusedLeNetError(
        'A training step is in progress: wait for it before using the model.',
      );
    }
    return this.#net;
  }
}
