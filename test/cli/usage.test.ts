/**
 * Bad usage exits 2 with one line on stderr before any work; runtime failures exit 1 with the
 * library's message; help, info and show. Runs the built CLI.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { encodeIdx } from '../../src/data/idx.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'lenet-cli-usage-'));
const aFile = join(dir, 'a-file');
writeFileSync(aFile, 'not a folder');
const garbage = join(dir, 'garbage.weights');
writeFileSync(garbage, 'LNMW but not really weights');

describe('bad usage exits 2 with one line, before any work', () => {
  const out = join(dir, 'never.weights');
  const cases: [string, string[], RegExp][] = [
    ['--epochs= (empty)', ['train', '--epochs='], /--epochs needs a value/],
    ["--epochs ' ' (blank)", ['train', '--epochs', ' '], /--epochs needs a value/],
    [
      '--epochs 0x2 (hex)',
      ['train', '--epochs', '0x2'],
      /--epochs needs a whole number, got '0x2'/,
    ],
    ['--epochs 0', ['train', '--epochs', '0'], /--epochs must be from 1 to 10000, got 0/],
    ['--epochs 2.5', ['train', '--epochs', '2.5'], /--epochs needs a whole number/],
    ['--epochs with no value', ['train', '--epochs'], /--epochs needs a value/],
    [
      '--lr=-0.001 (negative)',
      ['train', '--lr=-0.001'],
      /--lr must be a number above 0, got -0.001/,
    ],
    ['--lr -1 (looks like an option)', ['train', '--lr', '-1'], /--lr needs a value/],
    ['--lr 0', ['train', '--lr', '0'], /--lr must be a number above 0/],
    ['--lr abc', ['train', '--lr', 'abc'], /--lr needs a number, got 'abc'/],
    [
      'a negative rate in --schedule',
      ['train', '--schedule', '1e-3,-1e-4'],
      /--schedule rate 2 must be a number above 0/,
    ],
    [
      '--schedule nonsense',
      ['train', '--schedule', 'cosine-ish'],
      /--schedule must be decay-last, constant or a list/,
    ],
    [
      '--recipe fast',
      ['train', '--recipe', 'fast'],
      /--recipe must be reference or best, got 'fast'/,
    ],
    [
      '--recipe best with --lr',
      ['train', '--recipe', 'best', '--lr', '0.01'],
      /--recipe best sets the learning rates: leave out --lr and --schedule/,
    ],
    ['--batch-size 0', ['train', '--batch-size', '0'], /--batch-size must be from 1/],
    [
      '--backend cuda',
      ['train', '--backend', 'cuda'],
      /--backend must be auto, wasm or webgpu, got 'cuda'/,
    ],
    [
      '--fast-path gpu',
      ['train', '--fast-path', 'gpu'],
      /--fast-path must be auto, off, wasm or webgpu, got 'gpu'/,
    ],
    [
      '--dataset emnist',
      ['train', '--dataset', 'emnist'],
      /--dataset must be mnist or fashion-mnist/,
    ],
    [
      '--pooling with an MLP',
      ['train', '--model', 'mlp', '--pooling', 'avg'],
      /--pooling applies to --model lenet only/,
    ],
    [
      '--val-split not below --limit',
      ['train', '--limit', '100', '--val-split', '100'],
      /--val-split must be below --limit/,
    ],
    ['an unknown option', ['train', '--frobnicate'], /unknown option '--frobnicate'/],
    ['a flag given a value', ['train', '--json=yes'], /--json is a flag and takes no value/],
    [
      'an unwritable --out (its folder is a file)',
      ['train', '--out', join(aFile, 'x.weights')],
      /--out '.*x\.weights' cannot be created: '.*a-file' is not a folder/,
    ],
    ['--out is a folder', ['train', '--out', dir], /--out '.*' is a folder, not a file/],
    [
      '--plot and --out the same',
      ['train', '--out', out, '--plot', out],
      /--plot and --out name the same file/,
    ],
    [
      '--data that does not exist',
      ['train', '--data', join(dir, 'nope')],
      /--data '.*nope' does not exist/,
    ],
    [
      '--resume that does not exist',
      ['train', '--resume', join(dir, 'nope.ckpt')],
      /--resume '.*nope\.ckpt' does not exist/,
    ],
    [
      'eval --weights that does not exist',
      ['eval', '--weights', join(dir, 'nope.weights')],
      /--weights '.*' does not exist/,
    ],
    [
      'predict with nothing to predict',
      ['predict'],
      /give one or more PNG\/JPEG files, or --index N/,
    ],
    ['predict --top 11', ['predict', '--top', '11', aFile], /--top must be from 1 to 10/],
    ['show --index -1', ['show', '--index=-1'], /--index must be at least 0, got -1/],
    ['show --hex --ascii', ['show', '--hex', '--ascii'], /--hex and --ascii exclude each other/],
    ['an unknown command', ['fit'], /unknown command 'fit'/],
    ['an option before the command', ['--epochs', '1'], /a command comes first/],
  ];
  test.each(cases)('%s', async (_name, args, message) => {
    const before = readdirSync(dir).sort();
    const r = await runCli([
      ...args,
      ...(args[0] === 'train' && !args.includes('--out') ? ['--out', out] : []),
    ]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lenet-mnist: /);
    expect(lines[0]).toMatch(message);
    // Nothing was trained or written.
    expect(readdirSync(dir).sort()).toEqual(before);
  });
});

test('no command prints the help on stderr and exits 2; --help exits 0', async () => {
  const none = await runCli([]);
  expect(none.code).toBe(2);
  expect(none.stdout).toBe('');
  expect(none.stderr).toMatch(/Usage: lenet-mnist <command> \[options\]/);
  for (const name of ['train', 'eval', 'predict', 'show', 'info'])
    expect(none.stderr).toContain(`  ${name} `);

  const help = await runCli(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toBe(none.stderr);
});

test.each(['train', 'eval', 'predict', 'show', 'info'])(
  '%s --help lists its options',
  async (name) => {
    const r = await runCli([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Usage: lenet-mnist ${name}`));
    expect(r.stdout).toContain('--json');
    expect(r.stdout).toContain('--help');
    if (name === 'train') {
      for (const option of [
        '--epochs N',
        '--lr X',
        '--schedule',
        '--resume CHECKPOINT',
        '--limit N',
        '--threads N|auto',
        '--val-split N',
      ]) {
        expect(r.stdout).toContain(option);
      }
    }
  },
);

test('a runtime failure exits 1 with the library message', async () => {
  const r = await runCli(['eval', '--weights', garbage]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^lenet-mnist: .*garbage\.weights/);
});

test('info names the backend auto picks and why, with no native WebGPU noise, nothing ANSI when piped', async () => {
  const r = await runCli(['info'], { NO_COLOR: '' });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^version: +lenet-mnist \d+\.\d+\.\d+$/m);
  expect(r.stdout).toMatch(/^WebAssembly: +SIMD yes/m);
  expect(r.stdout).toMatch(/^backend \(auto\): +(WASM SIMD|WebGPU).* - auto: /m);
  expect(r.stdout).toMatch(/^LeNet engine: +(fused WASM kernels|tfjs ops)/m);
  expect(r.stdout).not.toContain('\x1b[');
  // Whatever the host has, the native Vulkan/Dawn warnings never reach the user here.
  expect(r.stderr).not.toMatch(/vkCreateInstance|VK_ERROR|Warning:/);
  const json = await runCli(['info', '--json']);
  const info = JSON.parse(json.stdout);
  expect(info.version).toMatch(/^\d+\.\d+\.\d+$/);
  expect(info.wasm.simd).toBe(true);
  expect(['wasm', 'webgpu']).toContain(info.backend);
  expect(typeof info.backendReason).toBe('string');
});

test('show prints the label and 28 rows of the hex matrix, or ASCII art', async () => {
  const r = await runCli(['show', '--index', '0']);
  expect(r.code).toBe(0);
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0]).toBe('MNIST test image #0: label 7');
  const rows = lines.filter((l) => /^[0-9a-f]{4}( [0-9a-f]{4}){27}$/.test(l));
  expect(rows).toHaveLength(28);
  expect(lines.filter((l) => /^=+$/.test(l))).toHaveLength(2);
  expect(r.stdout).not.toContain('\x1b[');

  const ascii = await runCli(['show', '--index', '1', '--set', 'train', '--ascii']);
  // Rows of blank pixels are rows of spaces: split without trimming.
  const art = ascii.stdout.split('\n').slice(0, -1);
  expect(art[0]).toBe('MNIST train image #1: label 0');
  expect(art.slice(1)).toHaveLength(28);
  expect(art.slice(1).every((l) => l.length === 28)).toBe(true);

  const json = JSON.parse((await runCli(['show', '--index', '0', '--json'])).stdout);
  expect(json).toMatchObject({ set: 'test', index: 0, label: 7, width: 28, height: 28 });
  expect(json.pixels).toHaveLength(784);

  const far = await runCli(['show', '--index', '10000']);
  expect(far.code).toBe(2);
  expect(far.stderr).toMatch(/--index must be below 10,000/);
});

test('show --dataset fashion-mnist names the class (a tiny Fashion-MNIST-shaped fixture)', async () => {
  const fixture = join(dir, 'fashion');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(fixture);
  const images = new Uint8Array(3 * 28 * 28).map((_, i) => (i * 7) % 256);
  const labels = new Uint8Array([9, 0, 8]);
  for (const [name, data, shape] of [
    ['train-images-idx3-ubyte', images, [3, 28, 28]],
    ['train-labels-idx1-ubyte', labels, [3]],
    ['t10k-images-idx3-ubyte', images, [3, 28, 28]],
    ['t10k-labels-idx1-ubyte', labels, [3]],
  ] as const) {
    writeFileSync(join(fixture, name), encodeIdx({ dtype: 'uint8', shape: [...shape], data }));
  }
  const r = await runCli([
    'show',
    '--dataset',
    'fashion-mnist',
    '--data',
    fixture,
    '--index',
    '0',
    '--ascii',
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.split('\n')[0]).toBe('Fashion-MNIST test image #0: label 9 (Ankle boot)');
  const json = JSON.parse(
    (
      await runCli([
        'show',
        '--dataset',
        'fashion-mnist',
        '--data',
        fixture,
        '--index',
        '2',
        '--json',
      ])
    ).stdout,
  );
  expect(json).toMatchObject({ label: 8, class: 'Bag' });
});
