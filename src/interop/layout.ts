import { MNIST_MEAN, MNIST_STD } from '../data/preprocess.js';
import { checkPreprocessing } from '../engine/lenet.js';
import { EngineModel } from '../engine/model.js';
import type { Model } from '../engine/types.js';
import type { Activation, ModelSpec, Preprocessing } from '../model/types.js';
import { expectedTensors, validateSpec } from '../model/weights.js';
import { StateDictError } from './errors.js';

/**
 * One tensor of a `state_dict` as read from a file, in PyTorch's layout (conv
 * `[out, in, kh, kw]`, linear `[out, in]`).
 *
 * @example
 * ```ts
 * for (const t of readPyTorchStateDict(bytes)) console.log(t.name, t.dtype, t.shape); // conv1.weight float32 [6, 1, 5, 5] ...
 * ```
 */
export interface StateDictTensor {
  /** The `state_dict` key, e.g. `conv1.weight`. */
  readonly name: string;
  /** PyTorch's dtype name: `float32`, `float64`, `float16`, `bfloat16`, `int64`, ... */
  readonly dtype: string;
  /** The shape, in PyTorch's layout. */
  readonly shape: readonly number[];
  /** The values in row-major (contiguous) order; present only for `float32` tensors. */
  readonly data: Float32Array | undefined;
}

/**
 * What a `state_dict` cannot tell about the model it belongs to: the layers without
 * parameters and the input pipeline. Every default is the reference tutorial's training
 * network and its `transforms` (resize to 32, normalise with 0.1307 / 0.3081).
 *
 * @example
 * ```ts
 * // The tutorial's first sketch: average pooling and ReLU after conv2 too.
 * const options: StateDictImportOptions = { pooling: 'avg', conv2Activation: true, source: 'sketch.pt' };
 * const model = await importPyTorchStateDict(bytes, options);
 * ```
 */
export interface StateDictImportOptions {
  /**
   * `'lenet'` (keys `conv1`, `conv2`, `fc1`-`fc3`) or `'mlp'` (keys `fc1`...`fcN` only).
   * Default: `'lenet'` if the file has `conv1.weight`, else `'mlp'`.
   */
  architecture?: 'lenet' | 'mlp';
  /** LeNet's pooling, which has no parameters: `'max'` (default, the reference's `MaxPool2d`) or `'avg'`. */
  pooling?: 'max' | 'avg';
  /** Activation after conv1 and the hidden linear layers: `'relu'` (default) or `'tanh'`. */
  activation?: Activation;
  /** Whether the module applies the activation after conv2 too. Default `false` (the reference's `forward`). */
  conv2Activation?: boolean;
  /**
   * How 28x28 digits reach the input size (read from `fc1.weight`): default `'bilinear'`
   * (`transforms.Resize`) unless the input is 28x28 (`'none'`).
   */
  resize?: 'bilinear' | 'pad' | 'none';
  /** Normalisation mean of the input pipeline. Default 0.1307 (`transforms.Normalize`). */
  mean?: number;
  /** Normalisation standard deviation. Default 0.3081. */
  std?: number;
  /** Facts stored with the model (merged over `{ importedFrom, source }`). */
  metadata?: Record<string, unknown>;
  /** A name for the file in error messages and metadata. Default: `'state_dict'`. */
  source?: string;
}

/** A parameter in both layouts. */
export interface ParameterLayout {
  name: string;
  /** The library's shape: conv HWIO, dense `[in, out]`. */
  shape: number[];
  /** PyTorch's shape: conv OIHW, linear `[out, in]`. */
  torchShape: number[];
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Every parameter of `spec` with its PyTorch shape. */
export function parameterLayouts(spec: ModelSpec): ParameterLayout[] {
  return expectedTensors(spec).map(({ name, shape }) => {
    let torchShape = shape;
    if (shape.length === 4) {
      const [kh, kw, ci, co] = shape as [number, number, number, number];
      torchShape = [co, ci, kh, kw];
    } else if (shape.length === 2) {
      torchShape = [shape[1] as number, shape[0] as number];
    }
    return { name, shape, torchShape };
  });
}

/**
 * For LeNet's fc1: the PyTorch input index of each library input index. PyTorch flattens the
 * pooled maps channels first (c, h, w); this library flattens NHWC (h, w, c).
 */
function flattenPermutation(spec: ModelSpec, name: string, inUnits: number): Int32Array | null {
  if (spec.kind !== 'lenet' || name !== 'fc1.weight') return null;
  const channels = 16;
  const side = Math.round(Math.sqrt(inUnits / channels));
  const perm = new Int32Array(inUnits);
  for (let h = 0; h < side; h++)
    for (let w = 0; w < side; w++)
      for (let c = 0; c < channels; c++)
        perm[(h * side + w) * channels + c] = c * side * side + h * side + w;
  return perm;
}

/** Converts one tensor from PyTorch's layout (contiguous) to the library's. */
export function fromTorchLayout(
  spec: ModelSpec,
  layout: ParameterLayout,
  data: Float32Array,
): Float32Array {
  return convertLayout(spec, layout, data, 'fromTorch');
}

/** Converts one tensor from the library's layout to PyTorch's (contiguous). */
export function toTorchLayout(
  spec: ModelSpec,
  layout: ParameterLayout,
  data: Float32Array,
): Float32Array {
  return convertLayout(spec, layout, data, 'toTorch');
}

/**
 * One tensor between the layouts, either way: for each element, its index in the library's
 * layout (conv HWIO, dense `[in, out]` with fc1's NHWC rows) and in PyTorch's (OIHW, `[out, in]`
 * with NCHW columns); a copy reads one and writes the other.
 */
function convertLayout(
  spec: ModelSpec,
  layout: ParameterLayout,
  data: Float32Array,
  direction: 'toTorch' | 'fromTorch',
): Float32Array {
  const out = new Float32Array(data.length);
  const copy =
    direction === 'toTorch'
      ? (lib: number, torch: number) => {
          out[torch] = data[lib] as number;
        }
      : (lib: number, torch: number) => {
          out[lib] = data[torch] as number;
        };
  const s = layout.shape;
  if (s.length === 4) {
    const [kh, kw, ci, co] = s as [number, number, number, number];
    for (let o = 0; o < co; o++)
      for (let i = 0; i < ci; i++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            copy(((y * kw + x) * ci + i) * co + o, ((o * ci + i) * kh + y) * kw + x);
  } else if (s.length === 2) {
    const [inUnits, outUnits] = s as [number, number];
    const perm = flattenPermutation(spec, layout.name, inUnits);
    for (let i = 0; i < inUnits; i++) {
      const ti = perm === null ? i : (perm[i] as number);
      for (let o = 0; o < outUnits; o++) copy(i * outUnits + o, o * inUnits + ti);
    }
  } else {
    out.set(data);
  }
  return out;
}

/** The model's parameters as PyTorch names them and lays them out. */
export async function torchStateDict(
  model: Model,
): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
  const weights = await model.readWeights();
  return parameterLayouts(model.spec).map((layout, i) => ({
    name: layout.name,
    shape: layout.torchShape,
    data: toTorchLayout(model.spec, layout, weights[i] as Float32Array),
  }));
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Infers the architecture from the tensors' names and shapes (PyTorch layout). */
function inferSpec(
  tensors: ReadonlyMap<string, StateDictTensor>,
  options: StateDictImportOptions,
  source: string,
): ModelSpec {
  const shapeOf = (key: string): readonly number[] => {
    const t = tensors.get(key);
    if (t === undefined) {
      throw new StateDictError(key, 'missing-key', `${source}: missing key '${key}'`);
    }
    return t.shape;
  };
  const badShape = (key: string, expected: string): never => {
    throw new StateDictError(
      key,
      'shape',
      `${source}: '${key}' has shape ${fmt(shapeOf(key))}, expected ${expected}`,
    );
  };
  const architecture = options.architecture ?? (tensors.has('conv1.weight') ? 'lenet' : 'mlp');
  const fail = (msg: string): never => {
    throw new RangeError(`${source}: ${msg}`);
  };
  if (architecture === 'lenet') {
    const fc1 = shapeOf('fc1.weight');
    const side = Math.sqrt((fc1[1] ?? 0) / 16);
    if (fc1.length !== 2 || fc1[0] !== 120 || !Number.isInteger(side) || side < 1) {
      badShape('fc1.weight', '[120, 16 * s * s] (e.g. [120, 400] for 32x32 input)');
    }
    return validateSpec(
      {
        kind: 'lenet',
        inputSize: 4 * side + 12,
        pooling: options.pooling ?? 'max',
        activation: options.activation ?? 'relu',
        conv2Activation: options.conv2Activation ?? false,
      },
      fail,
    );
  }
  if (architecture !== 'mlp')
    fail(`architecture ${JSON.stringify(architecture)}: expected "lenet" or "mlp"`);
  const hidden: number[] = [];
  let layers = 0;
  while (tensors.has(`fc${layers + 1}.weight`)) layers++;
  if (layers === 0) shapeOf('fc1.weight');
  for (let i = 1; i <= layers; i++) {
    const shape = shapeOf(`fc${i}.weight`);
    if (shape.length !== 2) badShape(`fc${i}.weight`, '[out, in]');
    if (i < layers) hidden.push(shape[0] as number);
  }
  const inputSize = Math.sqrt(shapeOf('fc1.weight')[1] as number);
  if (!Number.isInteger(inputSize)) badShape('fc1.weight', '[out, s * s] for a square s x s input');
  return validateSpec(
    { kind: 'mlp', inputSize, hidden, activation: options.activation ?? 'relu' },
    fail,
  );
}

/**
 * Checks a `state_dict` against the architecture it implies and builds the model: names,
 * dtypes, shapes and values are validated, layouts converted.
 */
export function modelFromStateDict(
  list: readonly StateDictTensor[],
  options: StateDictImportOptions,
  format: string,
): Model {
  const source = options.source ?? 'state_dict';
  let entries = list;
  // nn.DataParallel saves every key under `module.`.
  if (entries.length > 0 && entries.every((t) => t.name.startsWith('module.')))
    entries = entries.map((t) => ({ ...t, name: t.name.slice('module.'.length) }));
  const tensors = new Map(entries.map((t) => [t.name, t]));
  const spec = inferSpec(tensors, options, source);
  const layouts = parameterLayouts(spec);
  const expected = new Set(layouts.map((l) => l.name));
  for (const t of entries) {
    if (!expected.has(t.name)) {
      throw new StateDictError(
        t.name,
        'unknown-key',
        `${source}: unexpected key '${t.name}' (a ${describeSpec(spec)} has ${[...expected].join(', ')})`,
      );
    }
  }
  const weights = layouts.map((layout) => {
    const t = tensors.get(layout.name);
    if (t === undefined) {
      throw new StateDictError(
        layout.name,
        'missing-key',
        `${source}: missing key '${layout.name}'`,
      );
    }
    if (t.dtype !== 'float32' || t.data === undefined) {
      throw new StateDictError(
        t.name,
        'dtype',
        `${source}: '${t.name}' is ${t.dtype}, expected float32 (save the model after model.float())`,
      );
    }
    if (
      t.shape.length !== layout.torchShape.length ||
      t.shape.some((d, i) => d !== layout.torchShape[i])
    ) {
      throw new StateDictError(
        t.name,
        'shape',
        `${source}: '${t.name}' has shape ${fmt(t.shape)}, expected ${fmt(layout.torchShape)} for a ${describeSpec(spec)}`,
      );
    }
    if (t.data.length !== size(t.shape)) {
      throw new StateDictError(
        t.name,
        'shape',
        `${source}: '${t.name}' has ${t.data.length} values for shape ${fmt(t.shape)}`,
      );
    }
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new StateDictError(
        t.name,
        'value',
        `${source}: '${t.name}' has a non-finite value (${t.data[bad]}) at index ${bad}`,
      );
    }
    return fromTorchLayout(spec, layout, t.data);
  });
  const inputSize = spec.inputSize;
  const preprocessing: Preprocessing = checkPreprocessing(`import ${source}`, {
    size: inputSize,
    resize: options.resize ?? (inputSize === 28 ? 'none' : 'bilinear'),
    mean: options.mean ?? MNIST_MEAN,
    std: options.std ?? MNIST_STD,
  });
  return new EngineModel(spec, preprocessing, weights, {
    importedFrom: format,
    source,
    ...options.metadata,
  });
}

function describeSpec(spec: ModelSpec): string {
  return spec.kind === 'lenet'
    ? `LeNet (${spec.inputSize}x${spec.inputSize} input)`
    : `MLP [${spec.hidden}]`;
}
