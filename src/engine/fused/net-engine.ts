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
import { instantiateFusedNet, type WasmNet } from './net-kernels.js';

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
 * is one call into it. Single-threaded: `setThreads` records the request but steps run on one
 * thread, and `info.threads` says 1.
 */
export class FusedNetEngine implements Engine {
  readonly #info: EngineInfo;
  #net: WasmNet | undefined;
  #lossSum = 0;
  #correct = 0;

  private constructor(net: WasmNet, reason: string) {
    this.#net = net;
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
    const net = await instantiateFusedNet(variant, module, buildLayers(spec), spec.inputSize);
    net.setParams(weights);
    return new FusedNetEngine(net, reason);
  }

  get info(): EngineInfo {
    return this.#info;
  }

  async forward(images: Float32Array, n: number): Promise<Float32Array> {
    return this.#live().forward(images, n);
  }

  async trainStep(
    batch: TrainBatch,
    adam: AdamSettings,
    read: boolean,
  ): Promise<StepStats | undefined> {
    const net = this.#live();
    const { images, labels, n } = batch;
    const stats = net.trainStep(images, labels, n, adam);
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
    return this.#live().getParams();
  }

  async readWeights(): Promise<Float32Array[]> {
    return this.getWeights();
  }

  setWeights(weights: readonly Float32Array[]): void {
    this.#live().setParams(weights);
  }

  async readOptimizerState(): Promise<OptimizerState> {
    return this.#live().getOptimizerState();
  }

  setOptimizerState(state: OptimizerState | undefined): void {
    this.#live().setOptimizerState(state);
  }

  /** The generic kernels run single-threaded: any count is accepted and runs on one thread. */
  async setThreads(_threads: number): Promise<void> {
    this.#live();
  }

  async dispose(): Promise<void> {
    this.#net?.dispose();
    this.#net = undefined;
  }

  #live(): WasmNet {
    if (this.#net === undefined) throw new FusedLeNetError('This fused engine has been disposed.');
    return this.#net;
  }
}
