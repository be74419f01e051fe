/** `lenet-mnist show`: one digit as the reference prints it, with its label. */
import { type ImageSet, imageAt } from '../data/mnist.js';
import { formatDigitAscii, formatDigitHex } from '../data/render.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { count, DATA_OPTIONS, loadData, readDataOptions } from './shared.js';

export const showCommand: Command = {
  name: 'show',
  summary:
    'Print one image of the dataset as the reference prints it (hex matrix of int(v * 100), non-zero values highlighted on a terminal), with its label.',
  usage: 'show [--index N] [--set test|train] [--hex|--ascii] [options]',
  options: {
    index: { type: 'string', value: 'N', description: 'which image (0-based)', default: '0' },
    set: {
      type: 'string',
      value: 'test|train',
      description: 'which part of the dataset',
      default: 'test',
    },
    hex: { type: 'boolean', description: "the reference's hex matrix (the default)" },
    ascii: { type: 'boolean', description: 'ASCII art instead' },
    ...DATA_OPTIONS,
  },
  async run({ args, out, signal }) {
    const index = args.int('index', 0) ?? 0;
    const which = args.choice('set', ['test', 'train'] as const) ?? 'test';
    if (args.flag('hex') && args.flag('ascii'))
      throw new UsageError('--hex and --ascii exclude each other');
    const ascii = args.flag('ascii');
    const data = await readDataOptions(args);
    const mnist = await loadData(data, out, signal);
    const set: ImageSet = mnist[which];
    if (index >= set.count) {
      throw new UsageError(
        `--index must be below ${count(set.count)} (the ${which} set's size), got ${index}`,
      );
    }
    const pixels = imageAt(set, index);
    const label = set.labels[index] as number;
    const name = data.preset.classNames[label] ?? String(label);
    if (out.json) {
      out.record({
        set: which,
        index,
        label,
        class: name,
        width: set.width,
        height: set.height,
        pixels: Array.from(pixels),
      });
      return 0;
    }
    const title = data.preset.name === 'mnist' ? `label ${label}` : `label ${label} (${name})`;
    out.line(`${data.preset.title} ${which} image #${index}: ${out.style.bold(title)}`);
    out.line(
      ascii
        ? formatDigitAscii(pixels, set.width, set.height)
        : formatDigitHex(pixels, set.width, set.height, { color: out.color }),
    );
    return 0;
  },
};
