/**
 * `lenet-mnist import` and `lenet-mnist export`: PyTorch state_dicts and safetensors in, PyTorch,
 * safetensors and ONNX out. The subcommand dispatcher (`main.ts`) calls {@link runImport} and
 * {@link runExport} with the arguments after the subcommand's name.
 */
import { loadModelFile } from '../engine/io.js';
import { loadPretrained } from '../engine/pretrained.js';
import type { Model } from '../engine/types.js';
import { exportOnnx } from '../interop/onnx.js';
import { exportPyTorchStateDict, importPyTorchStateDict } from '../interop/pytorch.js';
import { exportSafetensors, importSafetensors } from '../interop/safetensors.js';
import { looksLikeZip } from '../interop/zip.js';
import { platform } from '../platform/index.js';
import { formatUsage, type OptionSpec, parseArgs, UsageError } from './args.js';

const IMPORT_OPTIONS: Record<string, OptionSpec> = {
  out: { type: 'string', description: 'where to write the weights', default: 'model.weights' },
  format: { type: 'string', description: 'auto | pytorch | safetensors', default: 'auto' },
  architecture: {
    type: 'string',
    description: 'lenet | mlp (default: lenet if the file has conv1.weight)',
  },
  pooling: { type: 'string', description: "LeNet's pooling: max | avg", default: 'max' },
  activation: { type: 'string', description: 'relu | tanh', default: 'relu' },
  'conv2-activation': {
    type: 'boolean',
    description: 'the module applies the activation after conv2 too',
  },
  resize: {
    type: 'string',
    description: 'bilinear | pad | none (default: bilinear, none for 28x28 input)',
  },
  mean: { type: 'number', description: 'normalisation mean', default: 0.1307 },
  std: { type: 'number', description: 'normalisation standard deviation', default: 0.3081 },
  help: { type: 'boolean', description: 'show this help' },
};

const EXPORT_OPTIONS: Record<string, OptionSpec> = {
  format: { type: 'string', description: 'pytorch | safetensors | onnx', default: 'pytorch' },
  out: {
    type: 'string',
    description: 'output file (default: lenet-mnist.pt / .safetensors / .onnx)',
  },
  pretrained: { type: 'boolean', description: 'export the shipped pretrained LeNet' },
  help: { type: 'boolean', description: 'show this help' },
};

const IMPORT_USAGE = `Usage: lenet-mnist import <model.pt|model.safetensors> [options]

Converts a PyTorch state_dict (torch.save(model.state_dict(), path): the reference tutorial's
LeNet or an MLP) or a safetensors file into a lenet-mnist weights file. The pickle is read by a
restricted reader: anything but tensors is refused, nothing is executed.

${formatUsage(IMPORT_OPTIONS)}`;

const EXPORT_USAGE = `Usage: lenet-mnist export [model.weights] --format pytorch|safetensors|onnx [options]

Writes a lenet-mnist model (default: lenet-mnist.weights, as the main command saves it) as a
PyTorch state_dict (load with model.load_state_dict(torch.load(path)) into the README's LeNet
class), safetensors, or ONNX (input 'input': float32 [N, 1, 32, 32] normalised with 0.1307 /
0.3081; output 'logits': [N, 10]).

${formatUsage(EXPORT_OPTIONS)}`;

/** Splits positional arguments from options (values of value options stay with them). */
function splitArgs(
  argv: readonly string[],
  spec: Record<string, OptionSpec>,
): { positional: string[]; options: string[] } {
  const positional: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    options.push(arg);
    const opt = spec[arg.slice(2)];
    if (opt !== undefined && opt.type !== 'boolean' && !arg.includes('=') && i + 1 < argv.length)
      options.push(argv[++i] as string);
  }
  return { positional, options };
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T))
    throw new UsageError(`--${name} must be ${allowed.join(', ')}; got '${String(value)}'`);
  return value as T;
}

/**
 * `lenet-mnist import <file> [--out model.weights] [--format auto|pytorch|safetensors]
 * [--architecture lenet|mlp] [--pooling max|avg] [--activation relu|tanh] [--conv2-activation]
 * [--resize bilinear|pad|none] [--mean m] [--std s]`.
 *
 * @param argv - The arguments after `import`.
 * @throws `UsageError` for a bad command line; the importer's typed errors for a bad file.
 */
export async function runImport(argv: readonly string[]): Promise<void> {
  const { positional, options } = splitArgs(argv, IMPORT_OPTIONS);
  const args = parseArgs(options, IMPORT_OPTIONS);
  if (args.help) {
    console.log(IMPORT_USAGE);
    return;
  }
  if (positional.length !== 1)
    throw new UsageError(
      `import takes one file (a .pt/.pth or .safetensors), got ${positional.length}`,
    );
  const path = positional[0] as string;
  const format = oneOf('format', args.format, ['auto', 'pytorch', 'safetensors'] as const);
  const bytes = await platform.readFile(path);
  const pytorch =
    format === 'pytorch' || (format === 'auto' && (looksLikeZip(bytes) || bytes[0] === 0x80));
  const importOptions = {
    source: path,
    architecture:
      args.architecture === undefined
        ? undefined
        : oneOf('architecture', args.architecture, ['lenet', 'mlp'] as const),
    pooling: oneOf('pooling', args.pooling, ['max', 'avg'] as const),
    activation: oneOf('activation', args.activation, ['relu', 'tanh'] as const),
    conv2Activation: args['conv2-activation'] === true,
    resize:
      args.resize === undefined
        ? undefined
        : oneOf('resize', args.resize, ['bilinear', 'pad', 'none'] as const),
    mean: args.mean as number,
    std: args.std as number,
  };
  const model = pytorch
    ? await importPyTorchStateDict(bytes, importOptions)
    : await importSafetensors(bytes, importOptions);
  const out = String(args.out);
  await platform.writeFile(out, await model.save());
  console.log(
    `Imported ${path} (${pytorch ? 'PyTorch state_dict' : 'safetensors'}): ${describe(model)} -> ${out}`,
  );
  model.dispose();
}

/**
 * `lenet-mnist export [model.weights] [--format pytorch|safetensors|onnx] [--out file]
 * [--pretrained]`.
 *
 * @param argv - The arguments after `export`.
 * @throws `UsageError` for a bad command line; `WeightsFormatError` for a bad weights file.
 */
export async function runExport(argv: readonly string[]): Promise<void> {
  const { positional, options } = splitArgs(argv, EXPORT_OPTIONS);
  const args = parseArgs(options, EXPORT_OPTIONS);
  if (args.help) {
    console.log(EXPORT_USAGE);
    return;
  }
  const format = oneOf('format', args.format, ['pytorch', 'safetensors', 'onnx'] as const);
  if (positional.length > 1) throw new UsageError(`export takes at most one weights file`);
  if (positional.length === 1 && args.pretrained)
    throw new UsageError('give a weights file or --pretrained, not both');
  const source = args.pretrained
    ? 'the pretrained LeNet'
    : (positional[0] ?? 'lenet-mnist.weights');
  const model: Model = args.pretrained ? await loadPretrained() : await loadModelFile(source);
  const extension = { pytorch: 'pt', safetensors: 'safetensors', onnx: 'onnx' }[format];
  const out = typeof args.out === 'string' ? args.out : `lenet-mnist.${extension}`;
  const bytes =
    format === 'pytorch'
      ? await exportPyTorchStateDict(model)
      : format === 'safetensors'
        ? await exportSafetensors(model)
        : await exportOnnx(model);
  await platform.writeFile(out, bytes);
  console.log(`Exported ${source} (${describe(model)}) as ${format} -> ${out}`);
  model.dispose();
}

function describe(model: Model): string {
  const { spec } = model;
  const arch =
    spec.kind === 'lenet'
      ? `LeNet ${spec.inputSize}x${spec.inputSize}, ${spec.pooling} pooling, ${spec.activation}`
      : `MLP ${spec.inputSize * spec.inputSize}-${spec.hidden.join('-')}-10, ${spec.activation}`;
  return `${arch}, ${model.parameterCount.toLocaleString('en-US')} parameters`;
}
