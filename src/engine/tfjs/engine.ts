// tfjs-core registers no gradients by itself; training needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { buildLayers, layerParameterShapes } from '../../model/layers.js';
import type { ModelSpec } from '../../model/types.js';
import { StepDivergedError } from '../errors.js';
import { CpuFedEngine } from '../gather.js';
import { classifyPixelsOnCpu } from '../pixels.js';
import type {
  AdamSettings,
  Engine,
  EngineInfo,
  OptimizerState,
  StepStats,
  StepTotals,
  TrainBatch,
} from '../types.js';
import { applyLayers } from './layers.js';

/** Variable names are global in tfjs' engine; a per-engine prefix lets many models coexist. */
let nextEngineId = 0;

/**
 * The generic engine: the model's weights as tfjs variables on the active backend, tfjs ops
 * forward and backward, and Adam written with tfjs ops over moment variables it owns (so its
 * state can be read, restored and carried to another engine exactly).
 */
export class TfjsEngine extends CpuFedEngine implements Engine {
  readonly info: EngineInfo;
  readonly #size: number;
  readonly #classes: number;
  readonly #layers: ReturnType<typeof buildLayers>;
  /** Per layer, its parameters' variables (weight, bias). */
  readonly #layerVars: tf.Variable[][];
  readonly #vars: tf.Variable[];
  readonly #m: tf.Variable[];
  readonly #v: tf.Variable[];
  #step = 0;
  /**
   * Adam's step count as a variable too, so that WebGPU snapshots (which copy every variable)
   * restore it with the moments after a device loss; `#step` (used for the bias corrections) is
   * read back from it when the backend changes.
   */
  readonly #stepVar: tf.Variable;
  /** The backend `#step` was last known to match `#stepVar` on. */
  #stepBackend: tf.KernelBackend | undefined;
  #lossSum: tf.Scalar | undefined;
  #correct: tf.Scalar | undefined;
  /** The backend object the running totals live on (see {@link TfjsEngine.#dropLostTotals}). */
  #totalsOwner: tf.KernelBackend | undefined;
  /** Some of the totals since the last {@link TfjsEngine.takeTotals} were lost with a device. */
  #totalsLost = false;
  #disposed = false;

  constructor(spec: ModelSpec, size: number, weights: readonly Float32Array[], reason: string) {
    super();
    this.info = { kind: 'tfjs', backend: tf.getBackend(), reason, threads: 1 };
    this.#size = size;
    this.#classes = 10;
    this.#layers = buildLayers(spec);
    const prefix = `lenet_mnist_${nextEngineId++}/`;
    let i = 0;
    this.#layerVars = this.#layers.map((layer) =>
      layerParameterShapes(layer).map(({ name, shape }) =>
        tf.tidy(() =>
          tf.variable(
            tf.tensor(weights[i++] as Float32Array, shape, 'float32'),
            true,
            prefix + name,
          ),
        ),
      ),
    );
    this.#vars = this.#layerVars.flat();
    const moment = (suffix: string) =>
      this.#vars.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false, v.name + suffix)));
    this.#m = moment('/adam_m');
    this.#v = moment('/adam_v');
    this.#stepVar = tf.tidy(() => tf.variable(tf.scalar(0, 'int32'), false, `${prefix}adam_step`));
  }

  /** The weights as variables (tests compare them across backends). */
  get variables(): readonly tf.Variable[] {
    return this.#vars;
  }

  /** Logits as a tensor, from tfjs ops on the current weights (differentiable in the input). */
  apply(x: tf.Tensor4D): tf.Tensor2D {
    return applyLayers(this.#layers, x, this.#layerVars);
  }

  async forward(images: Float32Array, n: number): Promise<Float32Array> {
    const s = this.#size;
    const out = tf.tidy(() => this.apply(tf.tensor4d(images.subarray(0, n * s * s), [n, s, s, 1])));
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  /** Digits prepared on the CPU, then {@link TfjsEngine.forward}. */
  readonly classifyPixels = classifyPixelsOnCpu;

  /** One Adam step on a batch of floats (the gatherer's, or a test's). */
  async trainBatch(
    batch: TrainBatch,
    adam: AdamSettings,
    read: boolean,
  ): Promise<StepStats | undefined> {
    const s = this.#size;
    const { n } = batch;
    await this.#syncStep();
    const step = this.#step + 1;
    this.#dropLostTotals();
    const { loss, hits, next, probe } = tf.tidy(() => {
      const x = tf.tensor4d(batch.images.subarray(0, n * s * s), [n, s, s, 1]);
      const labels = tf.tensor1d(Int32Array.from(batch.labels.subarray(0, n)), 'int32');
      const onehot = tf.oneHot(labels, this.#classes);
      let logits: tf.Tensor2D | undefined;
      const { value, grads } = tf.variableGrads(() => {
        logits = tf.keep(this.apply(x));
        return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
      }, this.#vars);
      const next = this.#adamUpdates(grads, adam, step);
      const hits = tf.sum(
        tf.cast(tf.equal(tf.argMax(logits as tf.Tensor2D, 1), labels), 'float32'),
      ) as tf.Scalar;
      (logits as tf.Tensor2D).dispose();
      // The divergence guard: one sum over the loss and every new moment and parameter is
      // finite exactly when they all are (overflow of the sum itself means values near 1e34:
      // divergence too). It is judged on the CPU, because GPU shader compilers may assume no
      // NaN and fold isnan-style tests away.
      const probe = sumScalars([
        value,
        ...[...next.m, ...next.v, ...next.p].map((t) => tf.sum(tf.abs(t))),
      ]);
      return { loss: value, hits, next, probe };
    });
    const made = [loss, hits, probe, ...next.m, ...next.v, ...next.p];
    try {
      if (!Number.isFinite((await probe.data())[0])) throw new StepDivergedError(step);
      tf.tidy(() => {
        this.#vars.forEach((v, i) => {
          (this.#m[i] as tf.Variable).assign(next.m[i] as tf.Tensor);
          (this.#v[i] as tf.Variable).assign(next.v[i] as tf.Tensor);
          v.assign(next.p[i] as tf.Tensor);
        });
        this.#stepVar.assign(tf.scalar(step, 'int32'));
        const lossSum = tf.add(this.#lossSum ?? 0, tf.mul(loss, n)) as tf.Scalar;
        const correctSum = tf.add(this.#correct ?? 0, hits) as tf.Scalar;
        tf.dispose([this.#lossSum, this.#correct]);
        this.#lossSum = tf.keep(lossSum);
        this.#correct = tf.keep(correctSum);
      });
      this.#step = step;
      this.#stepBackend = tf.backend();
      this.#totalsOwner = tf.backend();
      if (!read) return undefined;
      const [l, c] = await Promise.all([loss.data(), hits.data()]);
      return { loss: l[0] as number, correct: c[0] as number };
    } finally {
      tf.dispose(made);
    }
  }

  /**
   * PyTorch's Adam: m, v moving averages; step = lr * m̂ / (sqrt(v̂) + eps). With weight decay,
   * PyTorch's AdamW: p * (1 - lr * wd) - step (decoupled from the gradient). New values only.
   */
  #adamUpdates(
    grads: tf.NamedTensorMap,
    adam: AdamSettings,
    step: number,
  ): { m: tf.Tensor[]; v: tf.Tensor[]; p: tf.Tensor[] } {
    const { learningRate, beta1, beta2, epsilon } = adam;
    const weightDecay = adam.weightDecay ?? 0;
    const decay = weightDecay > 0 ? 1 - learningRate * weightDecay : 1;
    const bc1 = 1 - beta1 ** step;
    const bc2 = 1 - beta2 ** step;
    const out = { m: [] as tf.Tensor[], v: [] as tf.Tensor[], p: [] as tf.Tensor[] };
    this.#vars.forEach((param, i) => {
      const g = grads[param.name] as tf.Tensor;
      const m = tf.add(tf.mul(this.#m[i] as tf.Variable, beta1), tf.mul(g, 1 - beta1));
      const v = tf.add(tf.mul(this.#v[i] as tf.Variable, beta2), tf.mul(tf.square(g), 1 - beta2));
      const update = tf.div(
        tf.mul(m, learningRate / bc1),
        tf.add(tf.sqrt(tf.div(v, bc2)), epsilon),
      );
      out.m.push(m);
      out.v.push(v);
      out.p.push(tf.sub(decay === 1 ? param : tf.mul(param, decay), update));
    });
    return out;
  }

  async takeTotals(): Promise<StepTotals> {
    const augmentSeconds = this.feed.takeAugmentSeconds();
    return { ...(await this.#takeSums()), augmentSeconds };
  }

  async #takeSums(): Promise<{ lossSum: number; correct: number }> {
    this.#dropLostTotals();
    const lossSum = this.#lossSum;
    const correct = this.#correct;
    this.#lossSum = undefined;
    this.#correct = undefined;
    if (this.#totalsLost) {
      // Part of the period ran on a lost device: its sums are gone, the rest would mislead.
      this.#totalsLost = false;
      tf.dispose([lossSum, correct]);
      return { lossSum: Number.NaN, correct: Number.NaN };
    }
    if (lossSum === undefined || correct === undefined) return { lossSum: 0, correct: 0 };
    try {
      const [l, c] = await Promise.all([lossSum.data(), correct.data()]);
      return { lossSum: l[0] as number, correct: c[0] as number };
    } finally {
      tf.dispose([lossSum, correct]);
    }
  }

  getWeights(): Float32Array[] {
    return this.#vars.map((v) => (v.dataSync() as Float32Array).slice());
  }

  async readWeights(): Promise<Float32Array[]> {
    return readAll(this.#vars);
  }

  setWeights(weights: readonly Float32Array[]): void {
    assignAll(this.#vars, weights);
  }

  async readOptimizerState(): Promise<OptimizerState> {
    const [firstMoment, secondMoment] = await Promise.all([readAll(this.#m), readAll(this.#v)]);
    await this.#syncStep();
    return { step: this.#step, firstMoment, secondMoment };
  }

  setOptimizerState(state: OptimizerState | undefined): void {
    if (state === undefined) {
      for (const m of [...this.#m, ...this.#v]) tf.tidy(() => m.assign(tf.zerosLike(m)));
      this.#setStep(0);
      return;
    }
    assignAll(this.#m, state.firstMoment);
    assignAll(this.#v, state.secondMoment);
    this.#setStep(state.step);
  }

  async setThreads(): Promise<string> {
    return 'the tfjs path trains on one thread';
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.feed.unbind();
    tf.dispose([...this.#vars, ...this.#m, ...this.#v, this.#stepVar]);
    this.#dropLostTotals();
    tf.dispose([this.#lossSum, this.#correct]);
  }

  #setStep(step: number): void {
    this.#step = step;
    tf.tidy(() => this.#stepVar.assign(tf.scalar(step, 'int32')));
    this.#stepBackend = tf.backend();
  }

  /** After a backend change (a device-loss recovery restores variables), re-reads the step. */
  async #syncStep(): Promise<void> {
    const backend = tf.backend();
    if (this.#stepBackend === backend) return;
    if (this.#stepBackend !== undefined) {
      this.#step = ((await this.#stepVar.data()) as Int32Array)[0] as number;
    }
    this.#stepBackend = backend;
  }

  /**
   * Running totals on a backend that tfjs no longer has (a lost WebGPU device, retired by the
   * recovery): they can be neither read nor moved, and disposing them throws in the dead backend.
   * Forget them; {@link TfjsEngine.takeTotals} then reports NaN for the period.
   */
  #dropLostTotals(): void {
    const owner = this.#totalsOwner;
    if (this.#lossSum === undefined || owner === undefined) return;
    // Still registered (active, or left voluntarily): tfjs reads or moves them as usual.
    if (Object.values(tf.engine().registry).includes(owner)) return;
    for (const t of [this.#lossSum, this.#correct]) {
      try {
        t?.dispose();
      } catch {
        // The dead backend's buffer manager is gone; the tensor is unusable either way.
      }
    }
    this.#lossSum = undefined;
    this.#correct = undefined;
    this.#totalsLost = true;
  }
}

async function readAll(vars: readonly tf.Variable[]): Promise<Float32Array[]> {
  const values = await Promise.all(vars.map((v) => v.data()));
  return values.map((v) => (v as Float32Array).slice());
}

function assignAll(vars: readonly tf.Variable[], values: readonly Float32Array[]): void {
  vars.forEach((v, i) => {
    tf.tidy(() => v.assign(tf.tensor(values[i] as Float32Array, v.shape, 'float32')));
  });
}

/**
 * The sum of scalars, added at most 7 at a time: WebGPU's AddN shader binds one storage buffer
 * per input plus its output, and a device may allow only 8 (Dawn's default limit), where one
 * `addN` over all of a LeNet's 31 terms fails to build and the guard would check nothing.
 */
function sumScalars(terms: tf.Tensor[]): tf.Tensor {
  let level = terms;
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += 7) {
      const group = level.slice(i, i + 7);
      next.push(group.length === 1 ? (group[0] as tf.Tensor) : tf.addN(group));
    }
    level = next;
  }
  return level[0] as tf.Tensor;
}
