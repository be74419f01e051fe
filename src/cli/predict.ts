/** `lenet-mnist predict`: classify PNG/JPEG files, or a test-set digit. */
import { imageAt } from '../data/mnist.js';
import { formatDigitAscii } from '../data/render.js';
import { createPredictor, type Prediction, type Predictor } from '../predict/predictor.js';
import { checkReadable, UsageError } from './args.js';
import type { Command } from './command.js';
import { readImageFile } from './images.js';
import type { Output } from './output.js';
import {
  BACKEND_OPTION,
  count,
  DATA_OPTIONS,
  type DataChoice,
  loadData,
  loadWeights,
  readBackendOption,
  readDataOptions,
  readWeightsOption,
  startBackend,
  WEIGHTS_OPTION,
} from './shared.js';

export const predictCommand: Command = {
  name: 'predict',
  summary:
    'Classify PNG or JPEG files of any size (dark ink on light paper or light on dark, detected), or a test-set digit with --index.',
  usage: 'predict [--weights FILE|pretrained] [--top K] IMAGE... | predict --index N',
  positionals: true,
  options: {
    ...WEIGHTS_OPTION,
    top: {
      type: 'string',
      value: 'K',
      description: 'print the K most likely classes',
      default: '1',
    },
    invert: {
      type: 'string',
      value: 'auto|yes|no',
      description:
        'the digit is dark on light (yes), light on dark (no), or decide from the border',
      default: 'auto',
    },
    index: { type: 'string', value: 'N', description: 'predict test-set image N and draw it' },
    ...DATA_OPTIONS,
    ...BACKEND_OPTION,
  },
  details:
    'Images are framed like MNIST (cropped to the ink, scaled to 20 pixels, centred by mass in 28x28).\nWith --json: one object per file with file, label, probability (and top with --top).',
  async run({ args, positionals, out, signal }) {
    const weights = await readWeightsOption(args);
    const top = args.int('top', 1, 10) ?? 1;
    const invertChoice = args.choice('invert', ['auto', 'yes', 'no'] as const) ?? 'auto';
    const index = args.int('index', 0);
    const backend = readBackendOption(args);
    // --dataset also names the classes of files (Fashion-MNIST weights: 'Ankle boot', ...).
    const data = await readDataOptions(args);
    if (positionals.length === 0 && index === undefined) {
      throw new UsageError('give one or more PNG/JPEG files, or --index N for a test-set digit');
    }
    for (const file of positionals) await checkReadable(file, 'image');

    await startBackend(backend, out);
    const model = await loadWeights(weights);
    const invert = invertChoice === 'auto' ? 'auto' : invertChoice === 'yes';
    const predictor = await createPredictor(model, { invert });
    const report = reporter(out, top, data.preset.classNames);
    try {
      const failed = await predictFiles(positionals, predictor, out, signal, report);
      if (index !== undefined) await predictTestDigit(index, data, predictor, out, signal, report);
      return failed > 0 ? 1 : 0;
    } finally {
      predictor.dispose();
      model.dispose();
    }
  },
};

type Report = (file: string, p: Prediction, actual?: number) => void;

/** Each file's prediction; a file that cannot be read or classified is reported and counted. */
async function predictFiles(
  files: readonly string[],
  predictor: Predictor,
  out: Output,
  signal: AbortSignal,
  report: Report,
): Promise<number> {
  let failed = 0;
  for (const file of files) {
    signal.throwIfAborted();
    let prediction: Prediction;
    try {
      prediction = await predictor.predict(await readImageFile(file));
    } catch (err) {
      failed++;
      const message = (err as Error).message;
      out.record({ file, error: message });
      out.note(`lenet-mnist: ${message}`);
      continue;
    }
    report(file, prediction);
  }
  return failed;
}

/** `--index N`: test-set digit N, drawn, predicted and checked. */
async function predictTestDigit(
  index: number,
  data: DataChoice,
  predictor: Predictor,
  out: Output,
  signal: AbortSignal,
  report: Report,
): Promise<void> {
  const mnist = await loadData(data, out, signal);
  if (index >= mnist.test.count) {
    throw new UsageError(`--index must be below ${count(mnist.test.count)}, got ${index}`);
  }
  const digit = imageAt(mnist.test, index);
  const actual = mnist.test.labels[index] as number;
  const prediction = await predictor.predict(digit);
  if (!out.json) {
    out.line(`Test image #${index}:`);
    out.line(formatDigitAscii(digit, mnist.test.width, mnist.test.height));
  }
  report(`test#${index}`, prediction, actual);
}

/** Writes one prediction: a JSON record, or a line with the top classes and the verdict. */
function reporter(out: Output, top: number, names: readonly string[]): Report {
  const name = (l: number) => (names[l] !== String(l) ? ` (${names[l]})` : '');
  return (file, p, actual) => {
    const ranked = Array.from(p.probabilities, (probability, label) => ({ label, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, top);
    if (out.json) {
      const record: Record<string, unknown> = {
        file,
        label: p.label,
        probability: p.probabilities[p.label],
      };
      if (names[p.label] !== String(p.label)) record.class = names[p.label];
      if (top > 1) record.top = ranked;
      if (actual !== undefined) record.actual = actual;
      out.record(record);
      return;
    }
    const s = out.style;
    const best = `${s.bold(String(p.label))}${name(p.label)} (p = ${(p.probabilities[p.label] as number).toFixed(4)})`;
    const more =
      top > 1
        ? `  [${ranked.map((r) => `${r.label}${name(r.label)}: ${r.probability.toFixed(4)}`).join(', ')}]`
        : '';
    const truth =
      actual === undefined
        ? ''
        : `, actual ${actual}${name(actual)} ${actual === p.label ? s.green('right') : s.red('wrong')}`;
    out.line(`${file}: ${best}${truth}${more}`);
  };
}
