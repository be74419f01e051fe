import { addSnapshotSource } from '../../backend/snapshot.js';
import { normalizationTable, type PreparedSet } from '../../data/preprocess.js';
import { StepDivergedError } from '../errors.js';
import { FusedEngine } from '../fused/engine.js';
import { FusedLeNetError } from '../fused/kernels.js';
import { CpuTrainingFeed } from '../gather.js';
import { classifyPixelsOnCpu } from '../pixels.js';
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
import {
  ACTS_STRIDE,
  HEADER,
  IDX_STRIDE,
  IMAGE,
  LENET_WGSL,
  PARAM_COUNT,
  PARAM_OFFSETS,
  PARAM_SIZES,
  PARAM_WORKGROUP,
  SET_PIXELS_PER_WORD,
  SET_TABLE,
} from './shaders.js';

// Structural views of the WebGPU objects used here (no ambient GPU types in the declarations).
// biome-ignore lint/suspicious/noExplicitAny: WebGPU objects from Dawn or a browser
type Gpu = any;

/** Buffer usage flags (WebGPU's GPUBufferUsage; Node has no global for them before Dawn loads). */
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, STORAGE: 0x80 } as const;
const MAP_MODE_READ = 0x1;
/** Images per inference dispatch: bounds the input buffer (4 MB) and the workgroup count. */
const FORWARD_CHUNK = 1024;
/** Floats of the state buffer (see the `check` shader). */
const STATE = 8;
/** Header slot of a resident set's first pixel word (see the `gather` shader). */
const SET_PIXELS_SLOT = 12;
/** Set indices reach the GPU as f32 (in the label slots): exact below 2^24. */
const MAX_SET_COUNT = 2 ** 24;

/** The compiled pipelines of one device (compiling is slow on software adapters: once each). */
interface Pipelines {
  layout: Gpu;
  forward: Gpu;
  trainSample: Gpu;
  gradients: Gpu;
  check: Gpu;
  adam: Gpu;
  /** Group 1 of `gather`: the resident training set. */
  setLayout: Gpu;
  gather: Gpu;
}
const pipelinesByDevice = new WeakMap<object, Promise<Pipelines>>();

function pipelines(device: Gpu): Promise<Pipelines> {
  let made = pipelinesByDevice.get(device);
  if (made === undefined) {
    made = (async () => {
      const module = device.createShaderModule({ code: LENET_WGSL });
      const entries = Array.from({ length: 7 }, (_, binding) => ({
        binding,
        visibility: 4, // GPUShaderStage.COMPUTE
        buffer: { type: 'storage' },
      }));
      const layout = device.createBindGroupLayout({ entries });
      const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
      const make = (entryPoint: string) =>
        device.createComputePipelineAsync({
          layout: pipelineLayout,
          compute: { module, entryPoint },
        });
      const setLayout = device.createBindGroupLayout({
        entries: [{ binding: 0, visibility: 4, buffer: { type: 'read-only-storage' } }],
      });
      const [forward, trainSample, gradients, check, adam, gather] = await Promise.all([
        ...['forward', 'trainSample', 'gradients', 'check', 'adam'].map(make),
        device.createComputePipelineAsync({
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout, setLayout] }),
          compute: { module, entryPoint: 'gather' },
        }),
      ]);
      return { layout, forward, trainSample, gradients, check, adam, setLayout, gather };
    })();
    pipelinesByDevice.set(device, made);
    made.catch(() => pipelinesByDevice.delete(device));
  }
  return made;
}

/** A training set kept on the GPU by {@link WebGpuEngine.bindTrainingSet}. */
interface BoundSet {
  /** The caller's set (not copied). */
  host: PreparedSet;
  /** The trainer's normalisation, uploaded with the set so the GPU's floats are the CPU's. */
  table: Float32Array;
  /** On the GPU: table, labels and pixels (u32-packed); undefined if bound on a lost device. */
  buffer: Gpu;
  bindGroup: Gpu;
  /** The word where the pixels start. */
  pixelsAt: number;
}

/** A host copy of the engine's state, kept so that a lost device does not take it along. */
interface HostCopy {
  weights: Float32Array[];
  optimizer: OptimizerState;
}

/**
 * The default LeNet as WGSL compute shaders on the device of tfjs' WebGPU backend. Weights and
 * Adam's moments live in GPU buffers; a training step is one `writeBuffer` (settings, labels and
 * images together), one submit of four dispatches, and no read unless asked. On a training set
 * bound with {@link WebGpuEngine.bindTrainingSet} (uploaded once) a step uploads only settings
 * and image indices (`16 + n` floats) and gathers and normalises its images on the GPU, a fifth
 * dispatch. Inference is one dispatch and one upload of the normalised images per 1,024 images
 * (a predictor's images are new each time: nothing to keep resident) and one read of the
 * logits. A non-finite step applies nothing, and neither does any later step until the
 * divergence is reported (by the next read: the step's own when asked for, else
 * {@link WebGpuEngine.takeTotals}), naming the step that failed. On a lost device it carries on
 * as the fused WASM engine, from its last host copy (taken at each read, `setWeights`, and every
 * backend snapshot: end of epoch and the periodic timer).
 */
export class WebGpuEngine implements Engine {
  #info: EngineInfo;
  readonly #device: Gpu;
  readonly #pipes: Pipelines;
  readonly #params: Gpu;
  readonly #grads: Gpu;
  readonly #moments: Gpu;
  readonly #state: Gpu;
  #input: Gpu;
  #acts: Gpu;
  #idx: Gpu;
  #bindGroup: Gpu;
  /** Images the activation buffers hold. */
  #capacity = 0;
  #inputFloats = 0;
  #staging: Gpu;
  #stagingBytes = 0;
  /** The shared staging buffer is being mapped. */
  #mapping = false;
  /** Adam steps queued (the GPU skips them after a divergence, see {@link WebGpuEngine.#settle}). */
  #step = 0;
  #host: HostCopy;
  /** The host copy matches the GPU (nothing ran since it was taken or set). */
  #hostCurrent = true;
  #lost = false;
  /** Steps since the last {@link WebGpuEngine.takeTotals}: their totals die with a lost device. */
  #stepsSinceTotals = 0;
  #totalsLost = false;
  /** The bound set on the GPU: steps gather their images there. */
  #set: BoundSet | undefined;
  /** The bound set on the CPU: batches for augmentation, a set too large, or a lost device. */
  readonly #feed = new CpuTrainingFeed();
  #fallback: FusedEngine | undefined;
  #fallbackStarting: Promise<FusedEngine> | undefined;
  readonly #removeSnapshotSource: () => void;
  #disposed = false;

  private constructor(
    device: Gpu,
    pipes: Pipelines,
    weights: readonly Float32Array[],
    reason: string,
  ) {
    this.#device = device;
    this.#pipes = pipes;
    this.#info = { kind: 'webgpu', backend: 'webgpu', reason, variant: 'wgsl', threads: 1 };
    const buffer = (bytes: number, usage: number) => device.createBuffer({ size: bytes, usage });
    const storage = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
    this.#params = buffer(PARAM_COUNT * 4, storage);
    this.#grads = buffer(PARAM_COUNT * 4, storage);
    this.#moments = buffer(PARAM_COUNT * 8, storage);
    this.#state = buffer(STATE * 4, storage);
    this.#host = {
      weights: weights.map((w) => w.slice()),
      optimizer: zeroOptimizer(),
    };
    this.#writeParams(weights);
    this.#writeMoments(this.#host.optimizer);
    device.queue.writeBuffer(this.#state, 0, new Float32Array(STATE));
    this.#ensureCapacity(1, HEADER + 1 + IMAGE);
    device.lost.then(() => {
      this.#lost = true;
    });
    this.#removeSnapshotSource = addSnapshotSource(() => this.#snapshot());
  }

  /** Builds the shaders on `device` (once per device) and uploads `weights`. */
  static async create(
    device: Gpu,
    weights: readonly Float32Array[],
    reason: string,
  ): Promise<WebGpuEngine> {
    return new WebGpuEngine(device, await pipelines(device), weights, reason);
  }

  get info(): EngineInfo {
    return this.#fallback?.info ?? this.#info;
  }

  async forward(images: Float32Array, n: number): Promise<Float32Array> {
    const fallback = await this.#fallbackIfLost();
    if (fallback !== undefined) return fallback.forward(images, n);
    checkImages(images, n);
    const out = new Float32Array(n * 10);
    for (let start = 0; start < n; start += FORWARD_CHUNK) {
      const m = Math.min(FORWARD_CHUNK, n - start);
      const data = new Float32Array(HEADER + m + m * IMAGE);
      data[0] = m;
      data[9] = HEADER + m;
      data.set(images.subarray(start * IMAGE, (start + m) * IMAGE), HEADER + m);
      this.#ensureCapacity(m, data.length);
      this.#device.queue.writeBuffer(this.#input, 0, data);
      const encoder = this.#device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setBindGroup(0, this.#bindGroup);
      pass.setPipeline(this.#pipes.forward);
      pass.dispatchWorkgroups(m);
      pass.end();
      out.set(await this.#read(encoder, this.#acts, m * 10), start * 10);
    }
    return out;
  }

  /** Digits prepared on the CPU, then {@link WebGpuEngine.forward}. */
  readonly classifyPixels = classifyPixelsOnCpu;

  /** One Adam step on a batch of floats, uploaded with the settings (four dispatches). */
  async trainBatch(
    batch: TrainBatch,
    adam: AdamSettings,
    read: boolean,
  ): Promise<StepStats | undefined> {
    const fallback = await this.#fallbackIfLost();
    if (fallback !== undefined) return fallback.trainBatch(batch, adam, read);
    const { images, labels, n } = batch;
    checkImages(images, n);
    if (labels.length < n)
      throw new FusedLeNetError(`labels holds ${labels.length} labels, fewer than n = ${n}.`);
    checkLabels(labels, n);
    const data = new Float32Array(HEADER + n + n * IMAGE);
    this.#writeHeader(data, n, adam);
    for (let i = 0; i < n; i++) data[HEADER + i] = labels[i] as number;
    data.set(images.subarray(0, n * IMAGE), HEADER + n);
    return this.#run(data, n, read, undefined);
  }

  /**
   * Keeps `set` for {@link WebGpuEngine.trainStep}: without augmentation, on the GPU (one upload
   * of its 8-bit pixels, 4 per u32, labels and the CPU's normalisation table), where steps then
   * gather their images; with augmentation, or when the set exceeds the device's
   * `maxStorageBufferBindingSize` or `maxBufferSize` (or 2^24 images), on the CPU, whose gatherer
   * builds each batch's floats. Replaces any set bound before. True when the set is on the GPU.
   *
   * @throws {@link FusedLeNetError} when the arrays are shorter than `count` images or a label
   *   is not 0..9; `OptionError` for a non-finite `mean` or a `std` not above 0.
   */
  bindTrainingSet(set: TrainingSet): boolean {
    const { images, labels, count } = set.data;
    if (!Number.isInteger(count) || count < 1)
      throw new FusedLeNetError(`count must be an integer >= 1, got ${count}.`);
    if (images.length < count * IMAGE || labels.length < count) {
      throw new FusedLeNetError(
        `the set holds ${Math.floor(images.length / IMAGE)} images and ${labels.length} labels, fewer than count = ${count}.`,
      );
    }
    // Declined on the sizes alone, before the pixels are read.
    const onDevice = set.augment === undefined && this.#fitsDevice(count);
    if (onDevice) checkLabels(labels, count);
    this.unbindTrainingSet();
    this.#feed.bind(set);
    if (onDevice) this.#set = this.#upload(set.data);
    return onDevice;
  }

  /** The bytes of a set of `count` images on the GPU: table, labels, packed pixels. */
  #setLayout(count: number) {
    const labelWords = Math.ceil(count / SET_PIXELS_PER_WORD);
    const pixelsAt = SET_TABLE + labelWords;
    return { labelWords, pixelsAt, bytes: (pixelsAt + (count * IMAGE) / SET_PIXELS_PER_WORD) * 4 };
  }

  #fitsDevice(count: number): boolean {
    const { bytes } = this.#setLayout(count);
    const limits = this.#device.limits;
    return (
      count <= MAX_SET_COUNT &&
      bytes <= limits.maxStorageBufferBindingSize &&
      bytes <= limits.maxBufferSize
    );
  }

  /** One upload of the set (none on a lost device: the fallback gathers on the CPU). */
  #upload(set: PreparedSet): BoundSet {
    const { images, labels, count, mean, std } = set;
    const { labelWords, pixelsAt, bytes } = this.#setLayout(count);
    const table = normalizationTable(mean, std);
    let buffer: Gpu;
    let bindGroup: Gpu;
    if (this.#fallback === undefined && !this.#lost) {
      buffer = this.#device.createBuffer({ size: bytes, usage: USAGE.STORAGE | USAGE.COPY_DST });
      const queue = this.#device.queue;
      queue.writeBuffer(buffer, 0, table);
      const paddedLabels = new Uint8Array(labelWords * 4);
      paddedLabels.set(labels.subarray(0, count));
      queue.writeBuffer(buffer, SET_TABLE * 4, paddedLabels);
      queue.writeBuffer(buffer, pixelsAt * 4, images, 0, count * IMAGE);
      bindGroup = this.#device.createBindGroup({
        layout: this.#pipes.setLayout,
        entries: [{ binding: 0, resource: { buffer } }],
      });
    }
    return { host: set, table, buffer, bindGroup, pixelsAt };
  }

  /** Builds `step`'s batch on the CPU ahead, where the set is not on the GPU. */
  prepareStep(step: StepBatch): void {
    if (this.#set === undefined) this.#feed.prepare(step);
  }

  /**
   * One Adam step on images `step.indices` of the bound set: on the GPU set, an upload of the
   * settings and indices only; otherwise (or after a device loss) on the batch the CPU gatherer
   * builds.
   *
   * @throws {@link FusedLeNetError} when no set is bound, `indices` is empty or names an image
   *   past the set.
   */
  async trainStep(
    step: StepBatch,
    adam: AdamSettings,
    read: boolean,
  ): Promise<StepStats | undefined> {
    const set = this.#set;
    if (set === undefined) return this.trainBatch(this.#feed.batch(step), adam, read);
    const { indices } = step;
    const n = indices.length;
    if (n < 1) throw new FusedLeNetError(`n must be an integer >= 1, got ${n}.`);
    for (let i = 0; i < n; i++) {
      if ((indices[i] as number) >= set.host.count) {
        throw new FusedLeNetError(
          `indices[${i}] is ${indices[i]}, past the set's ${set.host.count} images.`,
        );
      }
    }
    const fallback = await this.#fallbackIfLost();
    if (fallback !== undefined || set.buffer === undefined) {
      return (fallback ?? this).trainBatch(this.#feed.batch(step), adam, read);
    }
    const data = new Float32Array(HEADER + n);
    this.#writeHeader(data, n, adam);
    data[SET_PIXELS_SLOT] = set.pixelsAt;
    for (let i = 0; i < n; i++) data[HEADER + i] = indices[i] as number;
    return this.#run(data, n, read, set);
  }

  /** Frees the bound training set's GPU buffer (no-op when none is bound). */
  unbindTrainingSet(): void {
    this.#set?.buffer?.destroy();
    this.#set = undefined;
    this.#feed.unbind();
  }

  /** The step settings of the input header; `data` then takes labels or indices from `HEADER`. */
  #writeHeader(data: Float32Array, n: number, adam: AdamSettings): void {
    const step = this.#step + 1;
    const { learningRate: lr, beta1, beta2, epsilon } = adam;
    const weightDecay = adam.weightDecay ?? 0;
    data.set([
      n,
      lr,
      beta1,
      beta2,
      epsilon,
      weightDecay > 0 ? 1 - lr * weightDecay : 1,
      step,
      lr / (1 - beta1 ** step),
      1 - beta2 ** step,
      HEADER + n,
      1 - beta1,
      1 - beta2,
    ]);
  }

  /**
   * Uploads `data` (header, then labels and images, or set indices) and queues a step's
   * dispatches (`set`: gathering its images first); `#writeHeader` numbered it `#step + 1`.
   */
  async #run(
    data: Float32Array,
    n: number,
    read: boolean,
    set: BoundSet | undefined,
  ): Promise<StepStats | undefined> {
    this.#ensureCapacity(n, HEADER + n + n * IMAGE);
    this.#device.queue.writeBuffer(this.#input, 0, data);
    const encoder = this.#device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, this.#bindGroup);
    if (set !== undefined) {
      pass.setBindGroup(1, set.bindGroup);
      pass.setPipeline(this.#pipes.gather);
      pass.dispatchWorkgroups(n);
    }
    const perParam = Math.ceil(PARAM_COUNT / PARAM_WORKGROUP);
    for (const [pipeline, groups] of [
      [this.#pipes.trainSample, n],
      [this.#pipes.gradients, perParam],
      [this.#pipes.check, 1],
      [this.#pipes.adam, perParam],
    ] as const) {
      pass.setPipeline(pipeline);
      pass.dispatchWorkgroups(groups);
    }
    pass.end();
    this.#step++;
    this.#stepsSinceTotals++;
    this.#hostCurrent = false;
    if (!read) {
      this.#device.queue.submit([encoder.finish()]);
      return undefined;
    }
    const state = await this.#read(encoder, this.#state, STATE);
    this.#settle(state);
    return { loss: state[3] as number, correct: state[4] as number };
  }

  async takeTotals(): Promise<StepTotals> {
    const augmentSeconds = this.#feed.takeAugmentSeconds();
    const fallback = await this.#fallbackIfLost();
    if (fallback !== undefined) {
      const totals = await fallback.takeTotals();
      if (!this.#totalsLost) return { ...totals, augmentSeconds };
      // Part of the period ran on the lost device: its sums are gone, the rest would mislead.
      this.#totalsLost = false;
      return { lossSum: Number.NaN, correct: Number.NaN, augmentSeconds };
    }
    this.#stepsSinceTotals = 0;
    const state = await this.#read(this.#device.createCommandEncoder(), this.#state, STATE);
    this.#device.queue.writeBuffer(this.#state, 0, new Float32Array(STATE));
    this.#settle(state);
    return { lossSum: state[0] as number, correct: state[1] as number, augmentSeconds };
  }

  /**
   * The host copy, when nothing has run on the GPU since it was taken (after a read, a snapshot
   * or `setWeights`); otherwise throws, as tfjs' WebGPU backend does in Node: use `readWeights`.
   */
  getWeights(): Float32Array[] {
    if (this.#fallback !== undefined) return this.#fallback.getWeights();
    if (this.#hostCurrent || this.#lost) return this.#host.weights.map((w) => w.slice());
    throw new FusedLeNetError(
      'The weights are on the GPU and a synchronous read would block it: use await model.readWeights().',
    );
  }

  async readWeights(): Promise<Float32Array[]> {
    const fallback = await this.#fallbackIfLost();
    if (fallback !== undefined) return fallback.readWeights();
    await this.#snapshot();
    return this.#host.weights.map((w) => w.slice());
  }

  setWeights(weights: readonly Float32Array[]): void {
    if (this.#fallback !== undefined) {
      this.#fallback.setWeights(weights);
      return;
    }
    this.#writeParams(weights);
    this.#host.weights = weights.map((w) => w.slice());
  }

  async readOptimizerState(): Promise<OptimizerState> {
    const fallback = await this.#fallbackIfLost();
    if (fallback !== undefined) return fallback.readOptimizerState();
    await this.#snapshot();
    return copyOptimizer(this.#host.optimizer);
  }

  setOptimizerState(state: OptimizerState | undefined): void {
    if (this.#fallback !== undefined) {
      this.#fallback.setOptimizerState(state);
      return;
    }
    const next = state === undefined ? zeroOptimizer() : copyOptimizer(state);
    this.#writeMoments(next);
    this.#step = next.step;
    this.#host.optimizer = next;
  }

  /** The shaders split no step over threads (nor does the fallback it may carry on as). */
  async setThreads(): Promise<string> {
    return 'the fused WebGPU engine trains on one thread';
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#removeSnapshotSource();
    this.unbindTrainingSet();
    for (const b of [
      this.#params,
      this.#grads,
      this.#moments,
      this.#state,
      this.#input,
      this.#acts,
      this.#idx,
      this.#staging,
    ]) {
      b?.destroy();
    }
    await this.#fallback?.dispose();
  }

  /**
   * After a read of the state: a step that failed on the GPU is reported (once; the guard is
   * cleared so training can go on from the last finite weights) and the step count corrected.
   */
  #settle(state: Float32Array): void {
    const failed = state[2] as number;
    if (failed === 0) return;
    this.#step = failed - 1;
    this.#device.queue.writeBuffer(this.#state, 0, new Float32Array(STATE));
    throw new StepDivergedError(failed);
  }

  /** Copies `floats` floats of `source` into the staging buffer (with `encoder`'s work first) and maps it. */
  async #read(encoder: Gpu, source: Gpu, floats: number): Promise<Float32Array> {
    const bytes = floats * 4;
    // A read already mapping the shared staging buffer (a prediction during a step's read, say):
    // this one gets a buffer of its own.
    const shared = !this.#mapping;
    if (shared && this.#stagingBytes < bytes) {
      this.#staging?.destroy();
      this.#stagingBytes = Math.max(bytes, 4096);
      this.#staging = this.#device.createBuffer({
        size: this.#stagingBytes,
        usage: USAGE.MAP_READ | USAGE.COPY_DST,
      });
    }
    const staging = shared
      ? this.#staging
      : this.#device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    if (shared) this.#mapping = true;
    try {
      encoder.copyBufferToBuffer(source, 0, staging, 0, bytes);
      this.#device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MAP_MODE_READ, 0, bytes);
      const values = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      return values;
    } finally {
      if (shared) this.#mapping = false;
      else staging.destroy();
    }
  }

  /** Reads parameters, moments and the guard's state into the host copy in one submission. */
  async #snapshot(): Promise<void> {
    if (this.#lost || this.#disposed || this.#hostCurrent) return;
    const encoder = this.#device.createCommandEncoder();
    const bytes = (PARAM_COUNT * 3 + STATE) * 4;
    const staging = this.#device.createBuffer({
      size: bytes,
      usage: USAGE.MAP_READ | USAGE.COPY_DST,
    });
    encoder.copyBufferToBuffer(this.#params, 0, staging, 0, PARAM_COUNT * 4);
    encoder.copyBufferToBuffer(this.#moments, 0, staging, PARAM_COUNT * 4, PARAM_COUNT * 8);
    encoder.copyBufferToBuffer(this.#state, 0, staging, PARAM_COUNT * 12, STATE * 4);
    // Steps queued up to here are what this copy holds.
    const step = this.#step;
    this.#device.queue.submit([encoder.finish()]);
    try {
      await staging.mapAsync(MAP_MODE_READ);
      const all = new Float32Array(staging.getMappedRange().slice(0));
      const failed = all[PARAM_COUNT * 3 + 2] as number;
      this.#host = {
        weights: split(all.subarray(0, PARAM_COUNT)),
        optimizer: {
          // Steps after a failed one were not applied.
          step: failed > 0 ? failed - 1 : step,
          firstMoment: split(all.subarray(PARAM_COUNT, PARAM_COUNT * 2)),
          secondMoment: split(all.subarray(PARAM_COUNT * 2, PARAM_COUNT * 3)),
        },
      };
      if (step === this.#step) this.#hostCurrent = true;
    } finally {
      staging.destroy();
    }
  }

  /** On a lost device, the fused WASM engine holding the last host copy (started once). */
  async #fallbackIfLost(): Promise<FusedEngine | undefined> {
    if (this.#fallback !== undefined) return this.#fallback;
    if (!this.#lost) return undefined;
    this.#fallbackStarting ??= (async () => {
      const { weights, optimizer } = this.#host;
      const engine = await FusedEngine.create(
        weights,
        `WebGPU device lost; continued on the fused WASM kernels from the last host copy (Adam step ${optimizer.step})`,
      );
      if (optimizer.step > 0) engine.setOptimizerState(optimizer);
      this.#totalsLost = this.#stepsSinceTotals > 0;
      this.#fallback = engine;
      this.#removeSnapshotSource();
      return engine;
    })();
    return this.#fallbackStarting;
  }

  #ensureCapacity(n: number, inputFloats: number): void {
    if (n <= this.#capacity && inputFloats <= this.#inputFloats) return;
    const storage = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
    if (n > this.#capacity) {
      this.#acts?.destroy();
      this.#idx?.destroy();
      this.#capacity = n;
      this.#acts = this.#device.createBuffer({ size: n * ACTS_STRIDE * 4, usage: storage });
      this.#idx = this.#device.createBuffer({ size: n * IDX_STRIDE * 4, usage: storage });
    }
    if (inputFloats > this.#inputFloats) {
      this.#input?.destroy();
      this.#inputFloats = inputFloats;
      this.#input = this.#device.createBuffer({ size: inputFloats * 4, usage: storage });
    }
    this.#bindGroup = this.#device.createBindGroup({
      layout: this.#pipes.layout,
      entries: [
        this.#params,
        this.#grads,
        this.#moments,
        this.#input,
        this.#acts,
        this.#idx,
        this.#state,
      ].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  #writeParams(weights: readonly Float32Array[]): void {
    const flat = new Float32Array(PARAM_COUNT);
    weights.forEach((w, i) => {
      flat.set(w, PARAM_OFFSETS[i]);
    });
    this.#device.queue.writeBuffer(this.#params, 0, flat);
  }

  #writeMoments(state: OptimizerState): void {
    const flat = new Float32Array(PARAM_COUNT * 2);
    state.firstMoment.forEach((m, i) => {
      flat.set(m, PARAM_OFFSETS[i]);
    });
    state.secondMoment.forEach((v, i) => {
      flat.set(v, PARAM_COUNT + (PARAM_OFFSETS[i] as number));
    });
    this.#device.queue.writeBuffer(this.#moments, 0, flat);
  }
}

function checkImages(images: Float32Array, n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new FusedLeNetError(`n must be an integer >= 1, got ${n}.`);
  if (images.length < n * IMAGE) {
    throw new FusedLeNetError(
      `images holds ${Math.floor(images.length / IMAGE)} images, fewer than n = ${n}.`,
    );
  }
}

function checkLabels(labels: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) {
    if ((labels[i] as number) > 9) {
      throw new FusedLeNetError(`labels[${i}] is ${labels[i]}; labels must be 0..9.`);
    }
  }
}

/** The batch of `indices[0..n)` built on the CPU as the trainer's batches are (for a fallback). */
function split(flat: Float32Array): Float32Array[] {
  return PARAM_OFFSETS.map((offset, i) => flat.slice(offset, offset + (PARAM_SIZES[i] as number)));
}

function zeroOptimizer(): OptimizerState {
  return {
    step: 0,
    firstMoment: PARAM_SIZES.map((s) => new Float32Array(s)),
    secondMoment: PARAM_SIZES.map((s) => new Float32Array(s)),
  };
}

function copyOptimizer(state: OptimizerState): OptimizerState {
  return {
    step: state.step,
    firstMoment: state.firstMoment.map((m) => m.slice()),
    secondMoment: state.secondMoment.map((v) => v.slice()),
  };
}
