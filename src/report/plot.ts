/**
 * Training curves as a self-contained SVG string: no DOM, no plotting library, so the same call
 * works in Node (write it to a file) and in browsers (put it in the page).
 *
 * @module
 */
import { checkNumber, checkOptionKeys, checkString, optionKeys } from '../options.js';
import type { EpochLogs } from '../train/train.js';

/**
 * The loss of one training batch, for the faint per-batch line of {@link plotHistory}: collect
 * them in `train`'s `onBatchEnd` (every batch, or every `logEvery`-th).
 *
 * @example
 * ```ts
 * const batches: BatchPoint[] = [];
 * await train(model, data, {
 *   onTrainBegin: (info) => (perEpoch = info.batchesPerEpoch),
 *   onEpochBegin: (e) => (epoch = e),
 *   onBatchEnd: (batch, { loss }) => batches.push({ epoch, batch, batchesPerEpoch: perEpoch, loss }),
 * });
 * ```
 */
export interface BatchPoint {
  /** 1-based epoch, as in {@link EpochLogs.epoch}. */
  readonly epoch: number;
  /** 0-based batch within the epoch, as `onBatchEnd` gets it. */
  readonly batch: number;
  /** Batches in an epoch (`onTrainBegin`'s `batchesPerEpoch`): places the batch on the x axis. */
  readonly batchesPerEpoch: number;
  /** The batch's mean loss. */
  readonly loss: number;
}

/**
 * Options of {@link plotHistory}.
 *
 * @example
 * ```ts
 * const options: PlotHistoryOptions = { title: 'LeNet-5 on Fashion-MNIST', batches, width: 1000 };
 * ```
 */
export interface PlotHistoryOptions {
  /** The figure's title, shown on top and as its accessible `<title>`. Default: `'Training curves'`. */
  title?: string;
  /**
   * Per-batch losses, drawn as a faint line under the per-epoch points (beyond 500, consecutive
   * batches are averaged in runs). Default: none.
   */
  batches?: readonly BatchPoint[];
  /** Width of the whole figure in pixels (two panels side by side). Default: 840. */
  width?: number;
  /** Height in pixels. Default: 360. */
  height?: number;
}

const PLOT_KEYS = optionKeys<PlotHistoryOptions>()(['title', 'batches', 'width', 'height']);

const TRAIN = '#1f77b4';
/** More batch points than this are averaged in runs (a line finer than a pixel adds only bytes). */
const MAX_BATCH_POINTS = 500;
const TEST = '#ff7f0e';

/**
 * Draws training curves the way the reference plots them (loss and accuracy per epoch, training
 * and test), as an SVG document string: two panels with round tick values, per-epoch points
 * joined by lines, per-batch loss (if given) as a faint line under them, a legend, a visible
 * title and an accessible `<title>`/`<desc>` (the final values). Loss uses a logarithmic axis
 * when its values span more than a factor of 20 (per-batch losses fall from 2.3 to below 0.01),
 * else a linear one; accuracy is in percent.
 *
 * @param history - What `train` resolved with (only `epochs` is read), or any object with the
 *   epochs' logs: `epoch`, `loss`, `accuracy` and optional `valLoss`/`valAccuracy`.
 * @param options - `title`, per-batch `batches`, `width`, `height`; see {@link PlotHistoryOptions}.
 * @returns A standalone SVG document (`<svg xmlns=...>...</svg>` and a newline).
 * @throws `RangeError` when `width` or `height` is not a number from 200 to 10,000.
 *
 * @example
 * ```ts
 * import { plotHistory, train } from 'lenet-mnist';
 * const history = await train(model, trainSet, { validationData: testSet });
 * const svg = plotHistory(history, { title: 'LeNet-5, 5 epochs' });
 * document.querySelector('#curves')!.innerHTML = svg; // or: await writeFile('curves.svg', svg)
 * ```
 */
export function plotHistory(
  history: {
    readonly epochs: readonly Pick<
      EpochLogs,
      'epoch' | 'loss' | 'accuracy' | 'valLoss' | 'valAccuracy'
    >[];
  },
  options: PlotHistoryOptions = {},
): string {
  checkOptionKeys('plotHistory', options, PLOT_KEYS);
  checkString('plotHistory', 'title', options.title);
  const width = checkSize(options.width ?? 840, 'width');
  const height = checkSize(options.height ?? 360, 'height');
  const title = options.title ?? 'Training curves';
  const epochs = history.epochs;
  const batches = (options.batches ?? []).filter(
    (b) => Number.isFinite(b.loss) && b.loss > 0 && b.batchesPerEpoch > 0,
  );
  const lastEpoch = Math.max(
    1,
    ...epochs.map((e) => e.epoch),
    ...batches.map((b) => b.epoch - 1 + (b.batch + 1) / b.batchesPerEpoch),
  );
  const xAt = (b: BatchPoint) => b.epoch - 1 + (b.batch + 1) / b.batchesPerEpoch;
  const series = (pick: (e: (typeof epochs)[number]) => number | undefined, scale = 1) =>
    epochs
      .map((e) => [e.epoch, (pick(e) ?? Number.NaN) * scale] as const)
      .filter(([, v]) => Number.isFinite(v));

  const panelW = width / 2;
  const loss: Panel = {
    heading: 'Loss',
    unit: '',
    lines: [
      {
        label: 'train (batches)',
        color: TRAIN,
        faint: true,
        points: thin(
          batches.map((b) => [xAt(b), b.loss] as const),
          MAX_BATCH_POINTS,
        ),
      },
      { label: 'train', color: TRAIN, points: series((e) => e.loss) },
      { label: 'test', color: TEST, points: series((e) => e.valLoss) },
    ],
  };
  const accuracy: Panel = {
    heading: 'Accuracy',
    unit: '%',
    lines: [
      { label: 'train', color: TRAIN, points: series((e) => e.accuracy, 100) },
      { label: 'test', color: TEST, points: series((e) => e.valAccuracy, 100) },
    ],
  };
  const desc = describe(epochs);
  const body = [
    drawPanel(loss, 0, panelW, height, lastEpoch, 'loss'),
    drawPanel(accuracy, panelW, panelW, height, lastEpoch, 'accuracy'),
  ].join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="plot-title plot-desc" font-family="sans-serif" font-size="12">` +
    `<title id="plot-title">${escapeXml(title)}</title><desc id="plot-desc">${escapeXml(desc)}</desc>` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>` +
    `${body}</svg>\n`
  );
}

interface Line {
  label: string;
  color: string;
  faint?: boolean;
  points: (readonly [number, number])[];
}
interface Panel {
  heading: string;
  unit: string;
  lines: Line[];
}

/** At most `max` points: consecutive runs of points averaged (position and value). */
function thin(points: (readonly [number, number])[], max: number): (readonly [number, number])[] {
  if (points.length <= max) return points;
  const run = Math.ceil(points.length / max);
  const out: (readonly [number, number])[] = [];
  for (let i = 0; i < points.length; i += run) {
    const group = points.slice(i, i + run);
    const x = group.reduce((a, [px]) => a + px, 0) / group.length;
    const y = group.reduce((a, [, py]) => a + py, 0) / group.length;
    out.push([x, y]);
  }
  return out;
}

function checkSize(v: number, name: string): number {
  checkNumber('plotHistory', name, v, { min: 200, max: 10_000 });
  return v;
}

function describe(
  epochs: readonly Pick<EpochLogs, 'epoch' | 'loss' | 'accuracy' | 'valLoss' | 'valAccuracy'>[],
): string {
  const last = epochs.at(-1);
  if (last === undefined) return 'No epochs trained.';
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const parts = [
    `${epochs.length} epoch${epochs.length === 1 ? '' : 's'}`,
    `after epoch ${last.epoch}: train loss ${last.loss.toFixed(4)}, train accuracy ${pct(last.accuracy)}`,
  ];
  if (last.valLoss !== undefined && last.valAccuracy !== undefined) {
    parts.push(`test loss ${last.valLoss.toFixed(4)}, test accuracy ${pct(last.valAccuracy)}`);
  }
  return `${parts.join('; ')}.`;
}

/** Round tick values: steps of 1, 2 or 5 times a power of ten, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

/** Ticks of a log axis: powers of ten, with 2x and 5x when the range spans under 3 decades. */
function logTicks(lo: number, hi: number): number[] {
  const first = Math.floor(Math.log10(lo));
  const last = Math.ceil(Math.log10(hi));
  const mults = last - first < 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let p = first; p <= last; p++) {
    for (const m of mults) {
      const t = Number((m * 10 ** p).toPrecision(6));
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
    }
  }
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e4 || abs < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(6)));
}

function drawPanel(
  panel: Panel,
  ox: number,
  w: number,
  h: number,
  lastEpoch: number,
  id: string,
): string {
  const m = { left: 58, right: 14, top: 74, bottom: 42 };
  const plotW = w - m.left - m.right;
  const plotH = h - m.top - m.bottom;
  const values = panel.lines.flatMap((l) => l.points.map(([, v]) => v));
  const positive = values.filter((v) => v > 0);
  const log =
    panel.unit === '' &&
    positive.length === values.length &&
    positive.length > 1 &&
    Math.max(...positive) / Math.min(...positive) > 20;

  let lo: number;
  let hi: number;
  let ticks: number[];
  if (values.length === 0) {
    lo = 0;
    hi = panel.unit === '%' ? 100 : 1;
    ticks = niceTicks(lo, hi);
  } else if (log) {
    // Bounds on a half-decade grid: 10^(k/2).
    lo = 10 ** (Math.floor(Math.log10(Math.min(...positive)) * 2) / 2);
    hi = 10 ** (Math.ceil(Math.log10(Math.max(...positive)) * 2) / 2);
    lo = Number(lo.toPrecision(6));
    hi = Number(hi.toPrecision(6));
    ticks = logTicks(lo, hi);
  } else {
    let min = Math.min(...values);
    let max = Math.max(...values);
    if (!(max > min)) {
      min -= panel.unit === '%' ? 1 : Math.abs(min) * 0.1 || 0.1;
      max += panel.unit === '%' ? 1 : Math.abs(max) * 0.1 || 0.1;
    }
    const first = niceTicks(min, max);
    const step = first.length > 1 ? (first[1] as number) - (first[0] as number) : 1;
    lo = Math.floor(min / step) * step;
    hi = Math.ceil(max / step) * step;
    if (panel.unit === '%') hi = Math.min(hi, 100);
    if (lo < 0 && min >= 0) lo = 0;
    ticks = niceTicks(lo, hi);
  }
  const x = (e: number) => ox + m.left + (e / lastEpoch) * plotW;
  const y = log
    ? (v: number) =>
        m.top + (1 - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH
    : (v: number) => m.top + (1 - (v - lo) / (hi - lo || 1)) * plotH;
  const f = (n: number) => n.toFixed(1);

  const parts: string[] = [];
  parts.push(
    `<g aria-label="${panel.heading}">`,
    `<text x="${f(ox + w / 2)}" y="${m.top - 28}" text-anchor="middle" font-weight="bold">${panel.heading}${log ? ' (log scale)' : ''}</text>`,
    `<clipPath id="clip-${id}"><rect x="${f(ox + m.left)}" y="${m.top}" width="${f(plotW)}" height="${plotH}"/></clipPath>`,
  );
  for (const t of ticks) {
    const ty = y(t);
    parts.push(
      `<line x1="${f(ox + m.left)}" x2="${f(ox + m.left + plotW)}" y1="${f(ty)}" y2="${f(ty)}" stroke="#e5e5e5"/>`,
      `<text x="${f(ox + m.left - 6)}" y="${f(ty + 4)}" text-anchor="end" font-size="10">${formatTick(t)}${panel.unit}</text>`,
    );
  }
  const epochTicks = niceTicks(0, lastEpoch, Math.min(10, Math.ceil(lastEpoch))).filter(
    (t) => Number.isInteger(t) || lastEpoch < 2,
  );
  for (const t of epochTicks) {
    parts.push(
      `<text x="${f(x(t))}" y="${h - m.bottom + 14}" text-anchor="middle" font-size="10">${formatTick(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${f(ox + m.left)}" y="${m.top}" width="${f(plotW)}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${f(ox + m.left + plotW / 2)}" y="${h - 8}" text-anchor="middle">Epoch</text>`,
  );
  let legendX = ox + m.left;
  for (const line of panel.lines) {
    if (line.points.length === 0) continue;
    const pts = line.points.map(([e, v]) => `${f(x(e))},${f(y(v))}`).join(' ');
    if (line.faint) {
      parts.push(
        `<polyline points="${pts}" fill="none" stroke="${line.color}" stroke-opacity="0.3" stroke-width="1" clip-path="url(#clip-${id})"/>`,
      );
    } else {
      parts.push(
        `<polyline points="${pts}" fill="none" stroke="${line.color}" stroke-width="2" clip-path="url(#clip-${id})"/>`,
      );
      for (const [e, v] of line.points) {
        parts.push(
          `<circle cx="${f(x(e))}" cy="${f(y(v))}" r="3.5" fill="${line.color}"><title>${line.label}, epoch ${e}: ${formatValue(v, panel.unit)}</title></circle>`,
        );
      }
    }
    // Legend between the heading and the frame, so it never covers a point.
    parts.push(
      `<line x1="${f(legendX)}" x2="${f(legendX + 16)}" y1="${m.top - 10}" y2="${m.top - 10}" stroke="${line.color}" stroke-width="${line.faint ? 1 : 2}"${line.faint ? ' stroke-opacity="0.4"' : ''}/>`,
      `<text x="${f(legendX + 20)}" y="${m.top - 6}" font-size="11">${line.label}</text>`,
    );
    legendX += 28 + line.label.length * 6.5;
  }
  parts.push('</g>');
  return parts.join('');
}

function formatValue(v: number, unit: string): string {
  return unit === '%' ? `${v.toFixed(2)}%` : v.toFixed(4);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
