/** `lenet-mnist eval`: loss, accuracy, per-class accuracy and the confusion matrix. */
import { prepareImages } from '../data/preprocess.js';
import { firstImages } from '../data/presets.js';
import { evaluate } from '../train/evaluate.js';
import type { Command } from './command.js';
import { describeModel } from './models.js';
import type { Styles } from './output.js';
import {
  BACKEND_OPTION,
  count,
  DATA_OPTIONS,
  loadData,
  loadWeights,
  pct,
  readBackendOption,
  readDataOptions,
  readWeightsOption,
  startBackend,
  WEIGHTS_OPTION,
} from './shared.js';

export const evalCommand: Command = {
  name: 'eval',
  summary:
    'Evaluate weights on the test set: loss, accuracy, per-class accuracy and the confusion matrix.',
  usage: 'eval [--weights FILE|pretrained] [--data DIR] [--dataset NAME] [options]',
  options: {
    ...WEIGHTS_OPTION,
    ...DATA_OPTIONS,
    limit: { type: 'string', value: 'N', description: 'evaluate only the first N test images' },
    ...BACKEND_OPTION,
  },
  details:
    'With --json: one object with loss, accuracy (a fraction), count, perClass and confusion.',
  async run({ args, out, signal }) {
    const weights = await readWeightsOption(args);
    const data = await readDataOptions(args);
    const max = args.int('limit', 1);
    const backend = readBackendOption(args);

    await startBackend(backend, out);
    const model = await loadWeights(weights);
    const mnist = await loadData(data, out, signal);
    const testSet = max === undefined ? mnist.test : firstImages(mnist.test, max);
    const result = await evaluate(model, prepareImages(testSet, model.preprocessing), {
      batchSize: 500,
      signal,
    });
    out.detail(`engine: ${model.engine?.kind} (${model.engine?.reason})`);
    const names = data.preset.classNames;
    const perClass = result.confusion.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0);
      return {
        class: names[i] ?? String(i),
        count: total,
        accuracy: total ? (row[i] as number) / total : null,
      };
    });
    if (out.json) {
      out.record({
        weights,
        dataset: data.preset.name,
        count: result.count,
        loss: result.loss,
        accuracy: result.accuracy,
        perClass,
        confusion: result.confusion,
      });
      model.dispose();
      return 0;
    }
    const s = out.style;
    out.line(
      `${describeModel(model.spec)} from ${weights === 'pretrained' ? 'the pretrained weights' : weights}, on ${count(result.count)} ${data.preset.title} test images`,
    );
    out.line(
      `Test - Average Loss: ${result.loss.toFixed(6)}, Accuracy: ${s.bold(pct(result.accuracy))} (${count(Math.round(result.accuracy * result.count))} of ${count(result.count)})`,
    );
    out.line('');
    out.line(confusionTable(result.confusion, names, s));
    model.dispose();
    return 0;
  },
};

/** Rows: actual class, its count and accuracy, then how often it was predicted as each class. */
export function confusionTable(confusion: number[][], names: readonly string[], s: Styles): string {
  const head = ['class', 'images', 'accuracy', ...names.map((_, i) => String(i))];
  const rows = confusion.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    return [
      names.length > 0 && names[i] !== String(i) ? `${i} ${names[i]}` : String(i),
      count(total),
      total ? pct((row[i] as number) / total) : '-',
      ...row.map((v) => String(v)),
    ];
  });
  const widths = head.map((h, c) =>
    Math.max(h.length, ...rows.map((r) => (r[c] as string).length)),
  );
  const fmt = (cells: string[], style?: (c: number, text: string) => string) =>
    cells
      .map((cell, c) => {
        const padded =
          c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number);
        return style ? style(c, padded) : padded;
      })
      .join('  ');
  const lines = [
    'Per class (rows: actual class; columns 0-9: predicted class)',
    s.bold(fmt(head)),
    ...rows.map((r, i) =>
      fmt(r, (c, text) => {
        if (c < 3) return text;
        const v = Number(r[c]);
        if (c - 3 === i) return s.green(text);
        return v > 0 ? s.red(text) : s.dim(text);
      }),
    ),
  ];
  return lines.join('\n');
}
