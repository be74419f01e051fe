import * as tf from '@tensorflow/tfjs-core';
import {
  applyLayer,
  buildLayers,
  type Layer,
  layerParameterShapes,
  summarizeLayers,
} from './layers.js';
import type { LayerSummary, Model, ModelSpec, Parameter, Preprocessing } from './types.js';
import { encodeWeights, expectedTensors, WeightsFormatError } from './weights.js';

let nextModelId = 0;

/**
 * A stack of layers over tfjs variables: the one implementation behind LeNet and the MLP.
 * Construct it through {@link createLeNet}, {@link createMlp} or {@link loadModel}.
 */
export class SequentialModel implements Model {
  readonly spec: ModelSpec;
  readonly preprocessing: Preprocessing;
  readonly parameters: readonly Parameter[];
  readonly parameterCount: number;
  readonly classes = 10;
  private readonly layers: readonly Layer[];
  private readonly layerParams: readonly tf.Variable[][];
  private disposed = false;
  private version = 0;
  readonly metadata: Readonly<Record<string, unknown>>;

  /** @param init - initial values per parameter, in order; see {@link pytorchDefaultInit}. */
  constructor(
    spec: ModelSpec,
    preprocessing: Preprocessing,
    init: readonly Float32Array[],
    metadata: Record<string, unknown> = {},
  ) {
    this.spec = spec;
    this.preprocessing = preprocessing;
    this.metadata = metadata;
    this.layers = buildLayers(spec);
    // Variable names are global in tfjs' engine; a per-model prefix lets many models coexist.
    const prefix = `lenet_mnist_${nextModelId++}/`;
    const params: Parameter[] = [];
    let i = 0;
    this.layerParams = this.layers.map((layer) =>
      layerParameterShapes(layer).map(({ name, shape }) => {
        const values = init[i++];
        if (values === undefined)
          throw new WeightsFormatError(`missing initial values for ${name}`);
        const variable = tf.variable(tf.tensor(values, shape, 'float32'), true, prefix + name);
        params.push({ name, variable });
        return variable;
      }),
    );
    this.parameters = params;
    this.parameterCount = params.reduce((sum, p) => sum + p.variable.size, 0);
  }

  get weightsVersion(): number {
    return this.version;
  }

  notifyWeightsChanged(): void {
    this.version++;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  apply(images: tf.Tensor4D): tf.Tensor2D {
    this.assertUsable();
    return tf.tidy(() => {
      let x: tf.Tensor = images;
      this.layers.forEach((layer, i) => {
        x = applyLayer(layer, x, this.layerParams[i] as tf.Variable[]);
      });
      return x as tf.Tensor2D;
    });
  }

  summary(): LayerSummary[] {
    return summarizeLayers(this.layers, this.spec.inputSize);
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
    const weights = await this.readWeights();
    const header = {
      spec: this.spec,
      preprocessing: this.preprocessing,
      tensors: expectedTensors(this.spec).map((t) => ({ ...t, dtype: 'float32' as const })),
      metadata: { ...this.metadata, ...metadata },
    };
    return encodeWeights(header, weights);
  }

  async readWeights(): Promise<Float32Array[]> {
    this.assertUsable();
    const values = await Promise.all(this.parameters.map((p) => p.variable.data()));
    return values.map((v) => (v as Float32Array).slice());
  }

  getWeights(): Float32Array[] {
    this.assertUsable();
    return this.parameters.map((p) => p.variable.dataSync() as Float32Array).map((a) => a.slice());
  }

  setWeights(weights: readonly Float32Array[]): void {
    this.assertUsable();
    if (weights.length !== this.parameters.length) {
      throw new WeightsFormatError(
        `${weights.length} weight arrays given, the model has ${this.parameters.length} parameters`,
      );
    }
    this.parameters.forEach(({ name, variable }, i) => {
      const w = weights[i] as Float32Array;
      if (w.length !== variable.size) {
        throw new WeightsFormatError(
          `${name}: ${w.length} values given, shape [${variable.shape}] needs ${variable.size}`,
        );
      }
      const bad = w.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0)
        throw new WeightsFormatError(`${name}[${bad}] is ${w[bad]}; weights must be finite`);
    });
    this.parameters.forEach(({ variable }, i) => {
      tf.tidy(() =>
        variable.assign(tf.tensor(weights[i] as Float32Array, variable.shape, 'float32')),
      );
    });
    this.version++;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.parameters) p.variable.dispose();
  }

  private assertUsable(): void {
    if (this.disposed) throw new Error('This model has been disposed');
  }
}

/**
 * PyTorch's default initialisation of `nn.Conv2d` and `nn.Linear` (Kaiming-uniform with
 * a = sqrt(5)): weights and biases uniform in ±1/sqrt(fan_in). Seeded for reproducibility.
 */
export function pytorchDefaultInit(spec: ModelSpec, seed?: number): Float32Array[] {
  const shapes = buildLayers(spec).flatMap(layerParameterShapes);
  return shapes.map(({ shape, fanIn }, i) =>
    tf.tidy(() => {
      const bound = 1 / Math.sqrt(fanIn);
      return tf
        .randomUniform(
          shape,
          -bound,
          bound,
          'float32',
          seed === undefined ? undefined : seed * 131 + i,
        )
        .dataSync() as Float32Array;
    }),
  );
}
