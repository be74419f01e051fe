/**
 * What an app pays for what it imports: a minified production bundle (esbuild, the package
 * resolved through its `exports` as `lenet-mnist`) of data-only imports carries no tfjs, from
 * the root entry as from `lenet-mnist/data`; the workflow's first import (`createLeNet`) does.
 * Runs on the built dist/ (`npm run build` first).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, describe, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const app = mkdtempSync(join(tmpdir(), 'lenet-bundle-'));
mkdirSync(join(app, 'node_modules'));
symlinkSync(root, join(app, 'node_modules', 'lenet-mnist'), 'dir');

afterAll(() => rmSync(app, { recursive: true, force: true }));

/** The minified browser bundle of `source` (an app's module), as text. */
async function bundle(name: string, source: string): Promise<string> {
  const entry = join(app, `${name}.mjs`);
  writeFileSync(entry, source);
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: app,
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    outfile: join(app, 'out', `${name}.js`),
    logLevel: 'silent',
  });
  return result.outputFiles.map((f) => f.text).join('\n');
}

/** Marks of tfjs code in a bundle: its kernel registry and its engine's global. */
const TFJS = /registerKernel|_lenetMnistTfEngine|tfjs-core/;

describe('bundle sizes of data-only imports (minified, esbuild, browser)', () => {
  test('the built package is there', () => {
    expect(existsSync(join(root, 'dist', 'browser.js')), 'run `npm run build` first').toBe(true);
  });

  test.each([
    ['root entry', "import { VERSION, parseIdx, formatDigitAscii } from 'lenet-mnist';"],
    ['lenet-mnist/data', "import { VERSION, parseIdx, formatDigitAscii } from 'lenet-mnist/data';"],
  ])('%s: VERSION, parseIdx and formatDigitAscii bundle without tfjs', async (name, imports) => {
    const js = await bundle(
      name.replace(/\W/g, '-'),
      `${imports}\nconsole.log(VERSION, parseIdx, formatDigitAscii);\n`,
    );
    console.log(`${name}: data-only bundle ${js.length} B`);
    expect(js).not.toMatch(TFJS);
    // The whole package with tfjs was 324 KB: a data-only app gets a small fraction of it.
    expect(js.length).toBeLessThan(32 * 1024);
  });

  test('a model import does bring tfjs (the check above can fail)', async () => {
    const js = await bundle(
      'model',
      "import { createLeNet } from 'lenet-mnist';\nconsole.log(createLeNet);\n",
    );
    expect(js).toMatch(TFJS);
    expect(js.length).toBeGreaterThan(200 * 1024);
  });
});
