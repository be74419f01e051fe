import * as tf from '@tensorflow/tfjs-core';
import { ensureBackend } from '../backend/select.js';
import { adapterLabel, liveWebGpuAdapter } from '../backend/webgpu.js';
import { buildLayers, type Layer, layerParameterShapes, summarizeLayers } from '../model/layers.js';
import type { LayerSummary, ModelSpec, ParameterInfo, Preprocessing } from '../model/types.js';
import {
  checkMetadata,
  encodeWeights,
  expectedTensors,
  WeightsFormatError,
} from '../model/weights.js';
import { chooseEngine, type EngineChoice } from './choose.js';
import { ModelDisposedError } from './errors.js';
import { FusedEngine } from './fused/engine.js';
import { busyStep, busyTraining, EngineQueue, TrainingLease } from './ownership.js';
import { TfjsEngine } from './tfjs/engine.js';
import type { Engine, EngineInfo, FastPathOption, Model, OptimizerState } from './types.js';
import { calibrate, type Workload } from './webgpu/calibrate.js';
import { WebGpuEngine } from './webgpu/engine.js';

/** What a caller needs of a model's engine. */
export interface EngineRequest {
  /** `'off'` forces tfjs ops, `'wasm'`/`'webgpu'` those fused kernels. Default `'auto'`. */
  fastPath?: FastPathOption;
  /**
   * What the engine is for, when `'auto'` on WebGPU chooses by calibration: `'training'`
   * (default; also batch evaluation) or `'inference'` (predictors: single images).
   */
  workload?: Workload;
}

/**
 * The library's {@link Model}: the architecture and preprocessing as data, and the engine that
 * owns the weights. Until an engine is needed the weights are plain arrays (so making a model
 * starts no backend); the first training, evaluation or prediction binds the engine that
 * {@link chooseEngine} picks for the active backend, and binds again if the backend changes,
 * moving weights and Adam's state across. Every read of the weights goes through the engine.
 */
export class EngineModel implements Model {
  readonly spec: ModelSpec;
  readonly preprocessing: Preprocessing;
  readonly parameters: readonly ParameterInfo[];
  readonly parameterCount: number;
  readonly classes = 10;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly #layers: readonly Layer[];
  #engine: Engine | undefined;
  /** The weights while no engine holds them. */
  #unbound: Float32Array[] | undefined;
  /** Binds are queued: two concurrent first uses must not build two engines. */
  #queue: Promise<unknown> = Promise.resolve();
  /** The trainer's lease: while held, the engine is not replaced (a step may be in flight). */
  #lease: TrainingLease | undefined;
  /** Set from the start of `beginTraining` (before its engine is bound) to the lease's end. */
  #training = false;
  /** Engine work while a trainer holds the engine: steps, validation, outside reads, in turn. */
  readonly #work = new EngineQueue();
  /** Choices by backend, fast-path option and workload: deciding reads the runtime environment. */
  #choices = new Map<string, EngineChoice>();
  /** The tfjs backend that was active when the engine was bound. */
  #boundBackend: string | undefined;
  #disposed = false;

  /** @param weights - values per parameter, in order (validated: see {@link EngineModel.setWeights}). */
  constructor(
    spec: ModelSpec,
    preprocessing: Preprocessing,
    weights: readonly Float32Array[],
    metadata: Record<string, unknown> = {},
  ) {
    this.spec = spec;
    this.preprocessing = preprocessing;
    this.metadata = metadata;
    this.#layers = buildLayers(spec);
    this.parameters = this.#layers.flatMap(layerParameterShapes).map(({ name, shape }) => ({
      name,
      shape,
      size: shape.reduce((a, b) => a * b, 1),
    }));
    this.parameterCount = this.parameters.reduce((sum, p) => sum + p.size, 0);
    this.#validate(weights);
    this.#unbound = weights.map((w) => w.slice());
  }

  get engine(): EngineInfo | undefined {
    return this.#engine?.info;
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  summary(): LayerSummary[] {
    return summarizeLayers(this.#layers, this.spec.inputSize);
  }

  formatSummary(): string {
    const rows = this.summary().map((r) => [
      r.name,
      `[${r.outputShape.join(', ')}]`,
      r.params.toLocaleString('en-US'),
    ]);
    const header = ['Layer', 'Output shape', 'Params'];
    const widths = header.map((h, c) =>
      Math.max(h.length, ...rows.map((r) => (r[c] as string).length)),
    );
    const line = (cells: string[]) =>
      cells
        .map((cell, c) =>
          c === 2 ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number),
        )
        .join('  ');
    const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
    return [
      line(header),
      rule,
      ...rows.map(line),
      rule,
      `Total params: ${this.parameterCount.toLocaleString('en-US')}`,
    ].join('\n');
  }

  async save(metadata: Record<string, unknown> = {}): Promise<Uint8Array> {
    checkMetadata('save', metadata);
    const weights = await this.readWeights();
    const header = {
      spec: this.spec,
      preprocessing: this.preprocessing,
      tensors: expectedTensors(this.spec).map((t) => ({ ...t, dtype: 'float32' as const })),
      metadata: { ...this.metadata, ...metadata },
    };
    return encodeWeights(header, weights);
  }

  getWeights(): Float32Array[] {
    this.#assertUsable();
    if (this.#lease !== undefined && this.#work.busy) throw busyStep('getWeights()');
    return this.#engine?.getWeights() ?? this.#copyUnbound();
  }

  async readWeights(): Promise<Float32Array[]> {
    this.#assertUsable();
    return this.exclusive(async () => (await this.#engine?.readWeights()) ?? this.#copyUnbound());
  }

  setWeights(weights: readonly Float32Array[]): void {
    this.#assertUsable();
    if (this.#lease !== undefined && this.#work.busy) throw busyStep('setWeights()');
    this.#validate(weights);
    if (this.#engine !== undefined) this.#engine.setWeights(weights);
    else this.#unbound = weights.map((w) => w.slice());
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const engine = this.#engine;
    this.#engine = undefined;
    this.#unbound = undefined;
    // A trainer stops at its next step and frees the engine then (never under a step in flight).
    if (this.#lease !== undefined) return;
    // Frees tensors and WebAssembly memory at once; only stopping workers is asynchronous.
    void engine?.dispose();
  }

  /**
   * The engine for the active backend, binding (or re-binding) it first when needed. While a
   * trainer holds the engine it is returned as is, so a prediction or evaluation made from a
   * training callback uses the weights being trained.
   */
  engineFor(request: EngineRequest = {}): Promise<Engine> {
    const current = this.boundEngine(request);
    if (current !== undefined) return Promise.resolve(current);
    const bound = this.#queue.then(() => this.#bind(request));
    this.#queue = bound.catch(() => undefined);
    return bound;
  }

  /**
   * The bound engine if it is the one {@link EngineModel.engineFor} would return now, without
   * waiting (a predictor's per-call fast path); `undefined` when a bind is needed.
   */
  boundEngine(request: EngineRequest = {}): Engine | undefined {
    this.#assertUsable();
    const current = this.#engine;
    return current !== undefined && (this.#lease !== undefined || this.#fits(current, request))
      ? current
      : undefined;
  }

  /**
   * Makes the caller the model's one trainer: binds the engine and keeps it bound until the
   * lease is released (see {@link TrainingLease}).
   *
   * @throws {@link ModelBusyError} while another trainer holds the model;
   *   {@link ModelDisposedError} for a disposed model.
   */
  async beginTraining(request: EngineRequest = {}): Promise<TrainingLease> {
    this.#assertUsable();
    if (this.#training) throw busyTraining();
    this.#training = true;
    try {
      const engine = await this.engineFor(request);
      this.#assertUsable();
      const lease = new TrainingLease(engine, this.#leaseOwner, this.#work);
      this.#lease = lease;
      return lease;
    } catch (err) {
      this.#training = false;
      throw err;
    }
  }

  readonly #leaseOwner = ((model: EngineModel) => ({
    get isDisposed() {
      return model.#disposed;
    },
    endLease(lease: TrainingLease) {
      if (model.#lease === lease) model.#lease = undefined;
      model.#training = false;
    },
  }))(this);

  /**
   * Runs engine work in turn with the trainer's steps (at once when no trainer holds the model),
   * so that it never overlaps a step in flight.
   */
  /** True when {@link EngineModel.exclusive} would queue its work behind a step in flight. */
  mustWait(): boolean {
    return this.#lease !== undefined && this.#work.busy;
  }

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.#lease !== undefined ? this.#work.run(work) : work();
  }

  #fits(engine: Engine, request: EngineRequest): boolean {
    const backend = tf.getBackend();
    if (this.#boundBackend !== backend) return false;
    const choice = this.#choose(backend, request);
    return choice.needsCalibration !== true && choice.kind === engine.info.kind;
  }

  #choose(backend: string, request: EngineRequest): EngineChoice {
    const fastPath = request.fastPath ?? 'auto';
    const workload = request.workload ?? 'training';
    // The adapter is part of the key: a new device after a loss may be another adapter.
    const adapter = backend === 'webgpu' ? liveWebGpuAdapter() : undefined;
    const key = [backend, adapter && adapterLabel(adapter), fastPath, workload].join('|');
    let choice = this.#choices.get(key);
    if (choice === undefined) {
      choice = chooseEngine(this.spec, backend, fastPath, { adapter });
      // A provisional choice is not kept: binding calibrates and keeps the result.
      if (choice.needsCalibration !== true) this.#choices.set(key, choice);
    }
    return choice;
  }

  /** `'auto'` on a hardware WebGPU adapter: both fused engines timed, the faster chosen. */
  async #calibrated(backend: string, request: EngineRequest): Promise<EngineChoice> {
    const adapter = liveWebGpuAdapter();
    const workload = request.workload ?? 'training';
    const weights =
      this.#engine !== undefined ? await this.#engine.readWeights() : this.#copyUnbound();
    const calibration = await calibrate(
      gpuDevice(),
      adapter !== undefined ? adapterLabel(adapter) : 'unknown adapter',
      workload,
      weights,
    );
    const choice = chooseEngine(this.spec, backend, request.fastPath ?? 'auto', {
      adapter,
      calibration,
    });
    const key = [backend, adapter && adapterLabel(adapter), request.fastPath ?? 'auto', workload];
    this.#choices.set(key.join('|'), choice);
    return choice;
  }

  async #bind(request: EngineRequest): Promise<Engine> {
    await ensureBackend();
    this.#assertUsable();
    const previous = this.#engine;
    if (previous !== undefined && (this.#lease !== undefined || this.#fits(previous, request))) {
      return previous;
    }
    const backend = tf.getBackend();
    let choice = this.#choose(backend, request);
    if (choice.needsCalibration === true) choice = await this.#calibrated(backend, request);
    if (
      previous !== undefined &&
      this.#boundBackend === backend &&
      choice.kind === previous.info.kind
    ) {
      return previous;
    }
    let weights: Float32Array[];
    let optimizer: OptimizerState | undefined;
    if (previous !== undefined) {
      [weights, optimizer] = await Promise.all([
        previous.readWeights(),
        previous.readOptimizerState(),
      ]);
    } else {
      weights = this.#unbound as Float32Array[];
    }
    const next =
      choice.kind === 'tfjs'
        ? new TfjsEngine(this.spec, this.preprocessing.size, weights, choice.reason)
        : choice.kind === 'webgpu'
          ? await WebGpuEngine.create(gpuDevice(), weights, choice.reason)
          : choice.kernels === 'generic'
            ? await FusedEngine.createGeneric(this.spec, weights, choice.reason)
            : await FusedEngine.create(weights, choice.reason);
    if (optimizer !== undefined && optimizer.step > 0) next.setOptimizerState(optimizer);
    if (this.#disposed) {
      await next.dispose();
      throw new ModelDisposedError('This model was disposed while its engine was starting');
    }
    this.#engine = next;
    this.#boundBackend = backend;
    this.#unbound = undefined;
    await previous?.dispose();
    return next;
  }

  #copyUnbound(): Float32Array[] {
    return (this.#unbound as Float32Array[]).map((w) => w.slice());
  }

  #validate(weights: readonly Float32Array[]): void {
    if (!Array.isArray(weights) || weights.length !== this.parameters.length) {
      throw new WeightsFormatError(
        `${Array.isArray(weights) ? weights.length : typeof weights} weight arrays given, the model has ${this.parameters.length} parameters`,
      );
    }
    this.parameters.forEach(({ name, shape, size }, i) => {
      const w = weights[i];
      if (!(w instanceof Float32Array)) {
        throw new WeightsFormatError(`${name}: expected a Float32Array, got ${typeof w}`);
      }
      if (w.length !== size) {
        throw new WeightsFormatError(
          `${name}: ${w.length} values given, shape [${shape}] needs ${size}`,
        );
      }
      const bad = w.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new WeightsFormatError(`${name}[${bad}] is ${w[bad]}; weights must be finite`);
      }
    });
  }

  #assertUsable(): void {
    if (this.#disposed) throw new ModelDisposedError('This model has been disposed');
  }
}

/** The device of tfjs' active WebGPU backend (the fused WebGPU engine shares it). */
function gpuDevice(): object {
  return (tf.backend() as unknown as { device: object }).device;
}

/**
 * The library's own model behind a {@link Model}: train, evaluate and predict need its engine.
 *
 * @throws `TypeError` for an object that was not made by this library.
 */
export function engineModel(model: Model): EngineModel {
  if (!(model instanceof EngineModel)) {
    throw new TypeError(
      'expected a model made by createLeNet, createMlp, loadModel or loadPretrained',
    );
  }
  return model;
}
