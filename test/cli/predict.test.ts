/**
 * `eval` and `predict` as subprocesses: the pretrained weights on the real MNIST test set, and
 * PNG/JPEG files made from real test digits (white on black and black on white, 28x28 and
 * 200x200 with margins).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { beforeAll, expect, test } from 'vitest';
import { imageAt, loadMnist, type Mnist } from '../../src/data/mnist.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'lenet-cli-predict-'));
let mnist: Mnist;

beforeAll(async () => {
  mnist = await loadMnist();
});

test('eval --weights pretrained prints >= 99.0% on the real test set, with the per-class table', async () => {
  const r = await runCli(['eval', '--weights', 'pretrained']);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const accuracy =
    /^Test - Average Loss: \d\.\d{6}, Accuracy: (\d+\.\d\d)% \(([\d,]+) of 10,000\)$/m.exec(
      r.stdout,
    );
  expect(accuracy).not.toBeNull();
  expect(Number(accuracy?.[1])).toBeGreaterThanOrEqual(99.0);
  // Header, then one row per class with 13 aligned columns.
  const table = r.stdout.split('\n').filter((l) => /^\d\s/.test(l));
  expect(table).toHaveLength(10);
  for (const row of table) expect(row.trim().split(/\s+/)).toHaveLength(13);
  expect(new Set(table.map((row) => row.length)).size).toBe(1);

  const json = await runCli(['eval', '--weights', 'pretrained', '--json']);
  const lines = json.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  const result = JSON.parse(lines[0] as string);
  expect(result.count).toBe(10_000);
  expect(result.accuracy).toBeGreaterThanOrEqual(0.99);
  expect(result.accuracy).toBeLessThanOrEqual(1);
  expect(result.accuracy).toBeCloseTo(Number(accuracy?.[1]) / 100, 4);
  expect(result.perClass).toHaveLength(10);
  expect(result.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(10_000);
});

/** RGBA of a 28x28 digit, optionally inverted, scaled (nearest) and placed on a larger canvas. */
function rgba(pixels: Uint8Array, invert: boolean, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 4);
  const scale = size === 28 ? 1 : 5; // 140x140 digit inside 200x200
  const top = size === 28 ? 0 : 18;
  const left = size === 28 ? 0 : 41; // off-centre margins: the predictor frames it
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sy = Math.floor((y - top) / scale);
      const sx = Math.floor((x - left) / scale);
      const inside = sy >= 0 && sy < 28 && sx >= 0 && sx < 28;
      const v = inside ? (pixels[sy * 28 + sx] as number) : 0;
      const g = invert ? 255 - v : v;
      out.set([g, g, g, 255], (y * size + x) * 4);
    }
  }
  return out;
}

test('predict reads PNG and JPEG files of real test digits in four styles and gets >= 95% of 40 right', async () => {
  const files: { file: string; label: number }[] = [];
  let index = 0;
  for (const format of ['png', 'jpg'] as const) {
    for (const invert of [false, true]) {
      for (const size of [28, 200]) {
        for (let k = 0; k < 5; k++, index++) {
          const data = rgba(imageAt(mnist.test, index), invert, size);
          const file = join(
            dir,
            `digit${index}-${invert ? 'black-on-white' : 'white-on-black'}-${size}.${format}`,
          );
          const bytes =
            format === 'png'
              ? pngjs.PNG.sync.write(
                  Object.assign(new pngjs.PNG({ width: size, height: size }), {
                    data: Buffer.from(data),
                  }),
                )
              : jpeg.encode({ data, width: size, height: size }, 90).data;
          writeFileSync(file, bytes);
          files.push({ file, label: mnist.test.labels[index] as number });
        }
      }
    }
  }
  expect(files).toHaveLength(40);
  const r = await runCli(['predict', '--json', ...files.map((f) => f.file)]);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const records = r.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(records.map((x) => x.file)).toEqual(files.map((f) => f.file));
  for (const x of records) {
    expect(x.probability).toBeGreaterThan(0);
    expect(x.probability).toBeLessThanOrEqual(1);
  }
  const right = records.filter((x, i) => x.label === files[i]?.label).length;
  expect(right).toBeGreaterThanOrEqual(38);

  // The human output: one line per file with the label and its probability; --top adds more.
  const text = await runCli(['predict', '--top', '3', files[0]?.file as string]);
  expect(text.stdout.trimEnd()).toMatch(
    new RegExp(
      `^${files[0]?.file}: ${files[0]?.label} \\(p = [01]\\.\\d{4}\\)  \\[(\\d: [01]\\.\\d{4}(, )?){3}\\]$`,
    ),
  );
});

test('predict --index draws a test digit and names the actual label; a file that is no image fails alone with exit 1', async () => {
  const r = await runCli(['predict', '--index', '0']);
  expect(r.code).toBe(0);
  const lines = r.stdout.split('\n');
  expect(lines[0]).toBe('Test image #0:');
  expect(lines.slice(1, 29).every((l) => l.length === 28)).toBe(true);
  expect(lines[29]).toMatch(/^test#0: 7 \(p = [01]\.\d{4}\), actual 7 right$/);

  const notImage = join(dir, 'notes.png');
  writeFileSync(notImage, 'hello');
  const good = join(dir, 'digit0-white-on-black-28.png');
  const mixed = await runCli(['predict', '--json', notImage, good]);
  expect(mixed.code).toBe(1);
  expect(mixed.stderr).toBe(`lenet-mnist: ${notImage}: not a PNG or JPEG file\n`);
  const records = mixed.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(records[0]).toEqual({ file: notImage, error: `${notImage}: not a PNG or JPEG file` });
  expect(records[1]).toMatchObject({ file: good, label: 7 });
});
