import type { Model } from '../engine/types.js';
import { torchStateDict } from './layout.js';

// A minimal protobuf writer and the ONNX messages an exported model needs (onnx.proto, IR
// version 7, opset 13). Hand-written: a dozen fields, no dependency.

/** Protobuf bytes under construction. */
class Message {
  readonly bytes: number[] = [];

  #varint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  /** An int32/int64/enum field (non-negative values only). */
  int(field: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`protobuf int ${value}`);
    this.#tag(field, 0);
    this.#varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.#tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.bytes.push(...b);
    return this;
  }

  raw(field: number, data: Uint8Array | readonly number[]): this {
    this.#tag(field, 2);
    this.#varint(data.length);
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i] as number);
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, m: Message): this {
    return this.raw(field, m.bytes);
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2;
const ATTR_INTS = 7;

function tensor(name: string, shape: readonly number[], data: Float32Array): Message {
  const m = new Message();
  for (const d of shape) m.int(1, d); // dims
  m.int(2, FLOAT); // data_type
  m.string(8, name); // name
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
  return m.raw(9, raw); // raw_data, little-endian
}

function valueInfo(name: string, dims: readonly (number | string)[]): Message {
  const shape = new Message();
  for (const d of dims) {
    const dim = new Message();
    if (typeof d === 'number')
      dim.int(1, d); // dim_value
    else dim.string(2, d); // dim_param
    shape.message(1, dim);
  }
  const tensorType = new Message().int(1, FLOAT).message(2, shape); // elem_type, shape
  const type = new Message().message(1, tensorType); // TypeProto.tensor_type
  return new Message().string(1, name).message(2, type);
}

type Attribute = { name: string; int?: number; ints?: readonly number[] };

function node(
  op: string,
  inputs: readonly string[],
  output: string,
  attributes: readonly Attribute[] = [],
): Message {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  m.string(2, output);
  m.string(3, output); // node name: its output's
  m.string(4, op);
  for (const a of attributes) {
    const attr = new Message().string(1, a.name);
    if (a.ints !== undefined) {
      for (const v of a.ints) attr.int(8, v);
      attr.int(20, ATTR_INTS);
    } else {
      attr.int(3, a.int as number).int(20, ATTR_INT);
    }
    m.message(5, attr);
  }
  return m;
}

/**
 * Exports a model as ONNX (IR version 7, opset 13), the graph of the PyTorch module with the
 * same weights: `Conv`, `Relu`/`Tanh`, `MaxPool`/`AveragePool`, `Flatten`, `Gemm` (an MLP:
 * `Flatten` and `Gemm`s).
 *
 * Input `input`: float32 `[N, 1, S, S]` (NCHW, `N` free, `S` = `model.preprocessing.size`,
 * 32 for LeNet), already preprocessed: 28x28 digits resized as `model.preprocessing.resize`
 * says (`prepareImages` does it) and normalised to `(pixel / 255 - mean) / std` with
 * `model.preprocessing.mean` and `std` (0.1307, 0.3081). Output `logits`: float32 `[N, 10]`
 * (apply softmax for probabilities). The preprocessing is also stored in the model's
 * `metadata_props` (`lenet-mnist.preprocessing`, JSON).
 *
 * @param model - Any model of this library.
 * @returns The `.onnx` file's bytes (about 250 KB for LeNet).
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-web';
 * const session = await ort.InferenceSession.create(await exportOnnx(model));
 * const input = new ort.Tensor('float32', normalised, [1, 1, 32, 32]);
 * const { logits } = await session.run({ input });
 * ```
 */
export async function exportOnnx(model: Model): Promise<Uint8Array> {
  const { spec, preprocessing } = model;
  const weights = await torchStateDict(model);
  const graph = new Message();
  const nodes: Message[] = [];
  const activation = spec.activation === 'tanh' ? 'Tanh' : 'Relu';
  let x = 'input';
  const step = (op: string, inputs: string[], output: string, attrs: Attribute[] = []) => {
    nodes.push(node(op, [x, ...inputs], output, attrs));
    x = output;
  };
  if (spec.kind === 'lenet') {
    const pool = spec.pooling === 'avg' ? 'AveragePool' : 'MaxPool';
    const poolAttrs = [
      { name: 'kernel_shape', ints: [2, 2] },
      { name: 'strides', ints: [2, 2] },
    ];
    step('Conv', ['conv1.weight', 'conv1.bias'], 'conv1', [{ name: 'kernel_shape', ints: [5, 5] }]);
    step(activation, [], 'conv1_act');
    step(pool, [], 'pool1', poolAttrs);
    step('Conv', ['conv2.weight', 'conv2.bias'], 'conv2', [{ name: 'kernel_shape', ints: [5, 5] }]);
    if (spec.conv2Activation) step(activation, [], 'conv2_act');
    step(pool, [], 'pool2', poolAttrs);
  }
  step('Flatten', [], 'flatten', [{ name: 'axis', int: 1 }]);
  const denseLayers = weights.filter((w) => w.name.startsWith('fc') && w.name.endsWith('.weight'));
  denseLayers.forEach((w, i) => {
    const layer = w.name.slice(0, -'.weight'.length);
    const last = i === denseLayers.length - 1;
    step('Gemm', [w.name, `${layer}.bias`], last ? 'logits' : layer, [{ name: 'transB', int: 1 }]);
    if (!last) step(activation, [], `${layer}_act`);
  });
  for (const n of nodes) graph.message(1, n);
  graph.string(2, `lenet-mnist ${spec.kind}`);
  for (const w of weights) graph.message(5, tensor(w.name, w.shape, w.data));
  const size = preprocessing.size;
  graph.message(11, valueInfo('input', ['N', 1, size, size]));
  graph.message(12, valueInfo('logits', ['N', 10]));

  const onnx = new Message();
  onnx.int(1, 7); // ir_version
  onnx.string(2, 'lenet-mnist');
  onnx.message(7, graph);
  onnx.message(8, new Message().string(1, '').int(2, 13)); // opset_import: ai.onnx 13
  const meta = new Message()
    .string(1, 'lenet-mnist.preprocessing')
    .string(2, JSON.stringify(preprocessing));
  onnx.message(14, meta); // metadata_props
  return Uint8Array.from(onnx.bytes);
}
