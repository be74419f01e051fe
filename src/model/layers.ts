import type { Activation, LayerSummary, ModelSpec } from './types.js';

/** A layer of a sequential model, as data; {@link buildLayers} derives them from a spec. */
export type Layer =
  | {
      type: 'conv';
      name: string;
      kernel: number;
      inChannels: number;
      outChannels: number;
      activation: Activation | null;
    }
  | { type: 'pool'; name: string; mode: 'max' | 'avg' }
  | { type: 'flatten'; name: string }
  | {
      type: 'dense';
      name: string;
      inUnits: number;
      outUnits: number;
      activation: Activation | null;
    };

/** The parameter shapes a layer owns, in weights-file order (tfjs layouts: HWIO, [in, out]). */
export function layerParameterShapes(
  layer: Layer,
): { name: string; shape: number[]; fanIn: number }[] {
  if (layer.type === 'conv') {
    const fanIn = layer.kernel * layer.kernel * layer.inChannels;
    return [
      {
        name: `${layer.name}.weight`,
        shape: [layer.kernel, layer.kernel, layer.inChannels, layer.outChannels],
        fanIn,
      },
      { name: `${layer.name}.bias`, shape: [layer.outChannels], fanIn },
    ];
  }
  if (layer.type === 'dense') {
    return [
      {
        name: `${layer.name}.weight`,
        shape: [layer.inUnits, layer.outUnits],
        fanIn: layer.inUnits,
      },
      { name: `${layer.name}.bias`, shape: [layer.outUnits], fanIn: layer.inUnits },
    ];
  }
  return [];
}

/** Expands an architecture into its layers; throws on sizes that do not fit together. */
export function buildLayers(spec: ModelSpec): Layer[] {
  if (spec.kind === 'mlp') {
    const layers: Layer[] = [{ type: 'flatten', name: 'flatten' }];
    let inUnits = spec.inputSize * spec.inputSize;
    spec.hidden.forEach((units, i) => {
      layers.push({
        type: 'dense',
        name: `fc${i + 1}`,
        inUnits,
        outUnits: units,
        activation: spec.activation,
      });
      inUnits = units;
    });
    layers.push({
      type: 'dense',
      name: `fc${spec.hidden.length + 1}`,
      inUnits,
      outUnits: 10,
      activation: null,
    });
    return layers;
  }
  // Two valid 5x5 convolutions, each followed by a 2x2 pool.
  const afterConv1 = spec.inputSize - 4;
  const afterConv2 = afterConv1 / 2 - 4;
  const side = afterConv2 / 2;
  return [
    {
      type: 'conv',
      name: 'conv1',
      kernel: 5,
      inChannels: 1,
      outChannels: 6,
      activation: spec.activation,
    },
    { type: 'pool', name: 'pool1', mode: spec.pooling },
    {
      type: 'conv',
      name: 'conv2',
      kernel: 5,
      inChannels: 6,
      outChannels: 16,
      activation: spec.conv2Activation ? spec.activation : null,
    },
    { type: 'pool', name: 'pool2', mode: spec.pooling },
    { type: 'flatten', name: 'flatten' },
    {
      type: 'dense',
      name: 'fc1',
      inUnits: 16 * side * side,
      outUnits: 120,
      activation: spec.activation,
    },
    { type: 'dense', name: 'fc2', inUnits: 120, outUnits: 84, activation: spec.activation },
    { type: 'dense', name: 'fc3', inUnits: 84, outUnits: 10, activation: null },
  ];
}

/** Output shapes for a batch of one, channels first (PyTorch's convention, as the reference prints). */
export function summarizeLayers(layers: readonly Layer[], inputSize: number): LayerSummary[] {
  let shape: number[] = [1, 1, inputSize, inputSize];
  return layers.map((layer) => {
    const [n, c, h, w] = shape as [number, number, number, number];
    if (layer.type === 'conv')
      shape = [n, layer.outChannels, h - layer.kernel + 1, w - layer.kernel + 1];
    else if (layer.type === 'pool') shape = [n, c, Math.floor(h / 2), Math.floor(w / 2)];
    else if (layer.type === 'flatten') shape = [1, shape.slice(1).reduce((a, b) => a * b, 1)];
    else shape = [1, layer.outUnits];
    const params = layerParameterShapes(layer).reduce(
      (sum, p) => sum + p.shape.reduce((a, b) => a * b, 1),
      0,
    );
    return { name: layer.name, outputShape: [...shape], params };
  });
}
