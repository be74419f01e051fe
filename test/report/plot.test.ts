/** plotHistory: a standalone SVG with round ticks, faint per-batch loss, a title, escaping. */
import { expect, test } from 'vitest';
import { niceTicks, plotHistory } from '../../src/report/plot.js';
import { parseXmlElements } from '../helpers/xml.js';

const epochs = [
  { epoch: 1, loss: 0.2192, accuracy: 0.9315, valLoss: 0.0646, valAccuracy: 0.979 },
  { epoch: 2, loss: 0.0638, accuracy: 0.9799, valLoss: 0.0552, valAccuracy: 0.983 },
  { epoch: 3, loss: 0.0453, accuracy: 0.9856, valLoss: 0.0488, valAccuracy: 0.9837 },
];
const batches = Array.from({ length: 30 }, (_, i) => ({
  epoch: Math.floor(i / 10) + 1,
  batch: i % 10,
  batchesPerEpoch: 10,
  loss: 2.3 * 0.8 ** i,
}));

test('round tick values: 1, 2 or 5 times a power of ten', () => {
  expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  expect(niceTicks(93.15, 98.37)).toEqual([94, 96, 98]);
  expect(niceTicks(0, 3, 3)).toEqual([0, 1, 2, 3]);
  expect(niceTicks(0.0271, 0.2192)).toEqual([0.05, 0.1, 0.15, 0.2]);
});

test('the SVG parses, has an accessible title and description, labels every tick with a round value', () => {
  const svg = plotHistory({ epochs }, { title: 'LeNet-5 <MNIST> & co', batches });
  const elements = parseXmlElements(svg);
  expect(elements.slice(0, 3)).toEqual(['svg', 'title', 'desc']);
  expect(svg).toMatch(
    /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" [^>]*role="img" aria-labelledby="plot-title plot-desc"/,
  );
  expect(svg).toContain('<title id="plot-title">LeNet-5 &#60;MNIST&#62; &#38; co</title>');
  expect(svg).toContain(
    'after epoch 3: train loss 0.0453, train accuracy 98.56%; test loss 0.0488, test accuracy 98.37%.',
  );
  // Per-batch losses from 2.3 down to 0.003 span decades: the loss axis is logarithmic.
  expect(svg).toContain('Loss (log scale)');
  const tickLabels = [...svg.matchAll(/font-size="10">([^<]+)</g)].map((m) => m[1] as string);
  for (const label of tickLabels) {
    expect(label).toMatch(/^(0|[125](0*|\.?\d?)?|0\.0*[125]|[1-9]\d*)%?$|^\de-\d$/);
  }
  expect(tickLabels).toContain('1');
  expect(tickLabels).toContain('0.01');
  expect(tickLabels).toContain('98%');
  // One faint per-batch line under the per-epoch points (3 epochs x 2 curves x 2 panels).
  expect(svg.match(/stroke-opacity="0\.3"/g)).toHaveLength(1);
  expect(elements.filter((e) => e === 'circle')).toHaveLength(12);
});

test('without batches or validation the plot still works; sizes are checked', () => {
  const svg = plotHistory({ epochs: [{ epoch: 1, loss: 0.5, accuracy: 0.8 }] });
  expect(parseXmlElements(svg)[0]).toBe('svg');
  expect(svg).toContain('<title id="plot-title">Training curves</title>');
  expect(svg).not.toContain('stroke-opacity');
  expect(svg).not.toContain('(log scale)');
  expect(svg.match(/<circle/g)).toHaveLength(2);
  expect(parseXmlElements(plotHistory({ epochs: [] }))[0]).toBe('svg');
  expect(() => plotHistory({ epochs }, { width: 10 })).toThrow(RangeError);
});

test('thousands of batches are averaged down to at most 500 points', () => {
  const many = Array.from({ length: 4690 }, (_, i) => ({
    epoch: Math.floor(i / 938) + 1,
    batch: i % 938,
    batchesPerEpoch: 938,
    loss: 0.1 + (i % 2) * 0.1,
  }));
  const svg = plotHistory({ epochs }, { batches: many });
  const faint = /<polyline points="([^"]+)"[^>]*stroke-opacity="0\.3"/.exec(svg);
  const points = faint?.[1]?.split(' ') ?? [];
  expect(points.length).toBeGreaterThan(400);
  expect(points.length).toBeLessThanOrEqual(500);
  expect(svg.length).toBeLessThan(25_000);
});

test('the log axis spans the data to the nearest half decade, not decades beyond it', () => {
  const svg = plotHistory({ epochs }, { batches });
  const labels = [...svg.matchAll(/text-anchor="end" font-size="10">([^<%]+)</g)].map((m) => m[1]);
  // Losses from 0.0036 (2.3 * 0.8^29) to 2.3: the axis runs from 10^-2.5 to 10^0.5.
  expect(labels).toEqual(['0.01', '0.1', '1']);
  expect(svg).not.toContain('1e-');
});
