/**
 * `lenet-mnist import` and `lenet-mnist export`: PyTorch state_dicts and safetensors in, PyTorch,
 * safetensors and ONNX out.
 */
import { loadModelFile } from '../engine/io.js';
import { loadPretrained } from '../engine/pretrained.js';
import type { Model } from '../engine/types.js';
import { InteropFormatError } from '../interop/errors.js';
import { exportOnnx } from '../interop/onnx.js';
import { exportPyTorchStateDict, importPyTorchStateDict } from '../interop/pytorch.js';
import {
  exportSafetensors,
  importSafetensors,
  looksLikeSafetensors,
} from '../interop/safetensors.js';
import { looksLikeZip } from '../interop/zip.js';
import { platform } from '../platform/index.js';
import { checkReadable, checkWritable, UsageError } from './args.js';
import type { Command } from './command.js';

export const importCommand: Command = {
  name: 'import',
  summary:
    "Convert a PyTorch state_dict (torch.save(model.state_dict(), path): the reference tutorial's LeNet or an MLP) or a safetensors file into a lenet-mnist weights file.",
  usage: 'import FILE.pt|FILE.safetensors [--out FILE] [options]',
  details:
    'The pickle is read by a restricted reader: anything but tensors is refused, nothing is executed.',
  positionals: true,
  options: {
    out: {
      type: 'string',
      value: 'FILE',
      description: 'where to write the weights',
      default: 'model.weights',
    },
    format: {
      type: 'string',
      value: 'auto|pytorch|safetensors',
      description: 'the file format',
      default: 'auto',
    },
    architecture: {
      type: 'string',
      value: 'lenet|mlp',
      description: 'default: lenet if the file has conv1.weight',
    },
    pooling: { type: 'string', value: 'max|avg', description: "LeNet's pooling", default: 'max' },
    activation: {
      type: 'string',
      value: 'relu|tanh',
      description: 'the activation',
      default: 'relu',
    },
    'conv2-activation': {
      type: 'boolean',
      description: 'the module applies the activation after conv2 too',
    },
    resize: {
      type: 'string',
      value: 'bilinear|pad|none',
      description: 'default: bilinear, none for 28x28 input',
    },
    mean: { type: 'string', value: 'X', description: 'normalisation mean', default: '0.1307' },
    std: {
      type: 'string',
      value: 'X',
      description: 'normalisation standard deviation',
      default: '0.3081',
    },
  },
  async run({ args, positionals, out }) {
    if (positionals.length !== 1) {
      throw new UsageError(
        `import takes one file (a .pt/.pth or .safetensors), got ${positionals.length}`,
      );
    }
    const path = positionals[0] as string;
    const format = args.choice('format', ['auto', 'pytorch', 'safetensors'] as const) ?? 'auto';
    const options = {
      source: path,
      architecture: args.choice('architecture', ['lenet', 'mlp'] as const),
      pooling: args.choice('pooling', ['max', 'avg'] as const) ?? 'max',
      activation: args.choice('activation', ['relu', 'tanh'] as const) ?? 'relu',
      conv2Activation: args.flag('conv2-activation'),
      resize: args.choice('resize', ['bilinear', 'pad', 'none'] as const),
      mean: args.positiveNumber('mean') ?? 0.1307,
      std: args.positiveNumber('std') ?? 0.3081,
    };
    const target = args.string('out') ?? 'model.weights';
    await checkReadable(path, 'the file to import');
    await checkWritable(target, '--out');
    const bytes = await platform.readFile(path);
    const pytorch =
      format === 'pytorch' || (format === 'auto' && (looksLikeZip(bytes) || bytes[0] === 0x80));
    if (format === 'auto' && !pytorch && !looksLikeSafetensors(bytes)) {
      throw new InteropFormatError(
        `${path}: neither a PyTorch file (a zip archive or a pickle) nor a safetensors file (an 8-byte header length, then a JSON header)`,
      );
    }
    const model = pytorch
      ? await importPyTorchStateDict(bytes, options)
      : await importSafetensors(bytes, options);
    await platform.writeFile(target, await model.save());
    const kind = pytorch ? 'PyTorch state_dict' : 'safetensors';
    if (out.json) out.record({ file: path, format: kind, out: target, model: describe(model) });
    else out.line(`Imported ${path} (${kind}): ${describe(model)} -> ${target}`);
    model.dispose();
    return 0;
  },
};

export const exportCommand: Command = {
  name: 'export',
  summary:
    "Write a lenet-mnist model as a PyTorch state_dict (load_state_dict into the README's LeNet class), safetensors, or ONNX (input float32 [N, 1, 32, 32] normalised with 0.1307 / 0.3081; output logits [N, 10]).",
  usage: 'export [MODEL.weights] --format pytorch|safetensors|onnx [--out FILE] [--pretrained]',
  positionals: true,
  options: {
    format: {
      type: 'string',
      value: 'pytorch|safetensors|onnx',
      description: 'the output format',
      default: 'pytorch',
    },
    out: {
      type: 'string',
      value: 'FILE',
      description: 'output file (default: lenet-mnist.pt / .safetensors / .onnx)',
    },
    pretrained: { type: 'boolean', description: 'export the shipped pretrained LeNet' },
  },
  async run({ args, positionals, out }) {
    const format = args.choice('format', ['pytorch', 'safetensors', 'onnx'] as const) ?? 'pytorch';
    if (positionals.length > 1) throw new UsageError('export takes at most one weights file');
    if (positionals.length === 1 && args.flag('pretrained')) {
      throw new UsageError('give a weights file or --pretrained, not both');
    }
    const extension = { pytorch: 'pt', safetensors: 'safetensors', onnx: 'onnx' }[format];
    const target = args.string('out') ?? `lenet-mnist.${extension}`;
    const source = args.flag('pretrained')
      ? 'the pretrained LeNet'
      : (positionals[0] ?? 'lenet-mnist.weights');
    if (!args.flag('pretrained')) await checkReadable(source, 'the weights file');
    await checkWritable(target, '--out');
    const model: Model = args.flag('pretrained')
      ? await loadPretrained()
      : await loadModelFile(source);
    const bytes =
      format === 'pytorch'
        ? await exportPyTorchStateDict(model)
        : format === 'safetensors'
          ? await exportSafetensors(model)
          : await exportOnnx(model);
    await platform.writeFile(target, bytes);
    if (out.json) out.record({ source, format, out: target, model: describe(model) });
    else out.line(`Exported ${source} (${describe(model)}) as ${format} -> ${target}`);
    model.dispose();
    return 0;
  },
};

function describe(model: Model): string {
  const { spec } = model;
  const arch =
    spec.kind === 'lenet'
      ? `LeNet ${spec.inputSize}x${spec.inputSize}, ${spec.pooling} pooling, ${spec.activation}`
      : `MLP ${spec.inputSize * spec.inputSize}-${spec.hidden.join('-')}-10, ${spec.activation}`;
  return `${arch}, ${model.parameterCount.toLocaleString('en-US')} parameters`;
}
