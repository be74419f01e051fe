/**
 * The package as users get it: `npm pack`, installed into a fresh folder, then
 *
 * - the tarball: size, contents, publint, arethetypeswrong (esm-only), types without DOM lib
 *   or skipLibCheck;
 * - browser apps built with Vite (production), webpack 5 (production), esbuild (minified) and
 *   Rollup + terser, each served plain and cross-origin isolated (COOP/COEP) to headless
 *   Chromium: real MNIST test digits predicted on the fused kernels, no console error, the thread
 *   count reported (2 threads through the minified threaded build when isolated);
 * - a data-layer-only app: no tfjs, backend or asset loaded;
 * - Node 20, 22 and 24 (both fused builds agree), Deno, Bun, an esbuild server bundle (a clear
 *   error naming the missing file, then working once the files are copied), and an app with its
 *   own tfjs.
 *
 * Needs `npm run build` first (`npm test` runs it) and Chromium (see test/helpers/webgpu-env.ts).
 * The builds are cached by tarball hash (test/consumers/harness.mjs).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as harness from '../consumers/harness.mjs';
import {
  type AppBuild,
  ASSETS,
  BROWSER_ARGS,
  type Manifest,
  maxDiff,
  runApp,
  CONTENT_TYPES as TYPES,
} from '../helpers/apps.js';
import { CHROMIUM, requireChromium } from '../helpers/webgpu-env.js';

const run = promisify(execFile);

const BUNDLERS: string[] = harness.BUNDLERS;
let m: Manifest;
const digits = harness.testDigits(20) as { images: number[][]; labels: number[] };

beforeAll(async () => {
  if (!existsSync('dist/index.js')) throw new Error('dist/ is missing: run `npm run build` first');
  m = (await harness.prepareConsumers()) as Manifest;
  console.log(
    `consumer apps ${m.cached ? 'reused from cache' : 'built'} in ${m.seconds.toFixed(1)} s (${m.dir})`,
  );
}, 300_000);

describe('the packed tarball', () => {
  test('is lean: under 2.6 MB, no source maps, every asset once, LICENSE, no dependencies', () => {
    const { packed } = m;
    console.log(
      `tarball ${packed.size} B, unpacked ${packed.unpackedSize} B, ${packed.files.length} files; consumer node_modules ${m.nodeModulesBytes} B (${m.installed.join(', ')})`,
    );
    expect(packed.size).toBeLessThan(2.6e6);
    expect(packed.files).toContain('LICENSE');
    expect(packed.files).toContain('README.md');
    expect(packed.files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(packed.files.filter((f) => f.startsWith('src/'))).toEqual([]);
    for (const asset of ASSETS) {
      expect(
        packed.files.filter((f) => f.endsWith(`/${asset}`)),
        asset,
      ).toEqual([`dist/${asset}`]);
    }
    // tfjs is bundled: installing the package installs nothing else.
    expect(m.installed).toEqual(['lenet-mnist']);
  });

  test("the README's links resolve on npm: absolute URLs, anchors or shipped files", () => {
    const readme = readFileSync('README.md', 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((x) => x[1] as string);
    expect(targets.length).toBeGreaterThan(0);
    const broken = targets.filter(
      (t) => !/^(https?:|#)/.test(t) && !m.packed.files.includes(t.split('#')[0] as string),
    );
    expect(broken).toEqual([]);
  });

  test('publint reports no errors or warnings', async () => {
    const { publint } = await import('publint');
    const { messages } = await publint({
      pkgDir: join(m.consumer, 'node_modules', 'lenet-mnist'),
      level: 'warning',
    });
    expect(messages).toEqual([]);
  });

  test('arethetypeswrong (esm-only profile) reports no problems', async () => {
    // The asset subpaths are files, not modules: there are no types to resolve for them.
    const assets = ASSETS.map((a) => `./assets/${a}`);
    const { stdout } = await run(
      'node_modules/.bin/attw',
      [
        m.packed.tarball,
        '--profile',
        'esm-only',
        '--format',
        'json',
        '--exclude-entrypoints',
        ...assets,
      ],
      { maxBuffer: 1 << 24 },
    ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    const report = JSON.parse(stdout) as {
      analysis: { problems: { kind: string; entrypoint: string; resolutionKind?: string }[] };
    };
    // The esm-only profile ignores CommonJS consumers (node10, node16 from CJS): the package is ESM.
    const ignored = new Set(['node10', 'node16-cjs']);
    const problems = report.analysis.problems.filter(
      (p) => p.resolutionKind === undefined || !ignored.has(p.resolutionKind),
    );
    expect(problems).toEqual([]);
  });

  test('types check without the DOM lib and without skipLibCheck (a Node user)', async () => {
    const tsc = join(process.cwd(), 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: m.consumer,
    }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? 'tsc failed' }));
    expect(result.stdout.trim()).toBe('');
  });

  test('the asset files are package subpaths', async () => {
    const out = await runApp(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module';
         const require = createRequire(process.cwd() + '/');
         console.log(JSON.stringify(${JSON.stringify(ASSETS)}.map((a) => require.resolve('lenet-mnist/assets/' + a))));`,
      ],
      m.consumer,
    );
    expect(out).toHaveLength(ASSETS.length);
    for (const path of out as string[]) expect(statSync(path).size).toBeGreaterThan(1000);
  });
});

describe('server runtimes', () => {
  const check = (out: Record<string, unknown>, runtime: string) => {
    expect(out.error).toBeUndefined();
    expect(out).toMatchObject({
      runtime,
      backend: 'wasm',
      threads: 1,
      errorName: 'IdxFormatError',
      isIdxFormatError: true,
      trainPath: 'tfjs',
    });
    const fused = out.fused as { path: string; correct: number; probabilities: number[][] };
    const tfjs = out.tfjs as { path: string; correct: number; probabilities: number[][] };
    expect(fused.path).toBe('fused');
    expect(tfjs.path).toBe('tfjs');
    expect(fused.correct).toBeGreaterThanOrEqual(19);
    expect(maxDiff(fused.probabilities, tfjs.probabilities)).toBeLessThan(1e-4);
    expect(Number.isFinite(out.trainLoss)).toBe(true);
  };

  test('Node 20 (this process)', async () => {
    const out = await runApp(process.execPath, ['node-app.mjs', m.digitsFile], m.consumer);
    check(out, 'node');
    expect(out.node).toBe(process.versions.node);
  });

  test.each(Object.entries(harness.NODE_LINES as Record<string, string>))(
    'Node %s: relaxed SIMD on, and both fused builds agree',
    async (_line, version) => {
      const node = await harness.ensureNode(version);
      const relaxed = await runApp(node, ['node-app.mjs', m.digitsFile], m.consumer);
      check(relaxed, 'node');
      expect(relaxed.node).toBe(version);
      expect(relaxed.relaxedSimd).toBe(true);
      const plain = await runApp(
        node,
        ['--import', './no-relaxed-simd.mjs', 'node-app.mjs', m.digitsFile],
        m.consumer,
      );
      check(plain, 'node');
      expect(plain.relaxedSimd).toBe(false);
      // FMA vs separate multiply-add: the same digits, probabilities equal to float rounding.
      expect(maxDiff(relaxed.fused.probabilities, plain.fused.probabilities)).toBeLessThan(1e-5);
    },
    180_000,
  );

  test('Deno', async () => {
    const deno = join(process.cwd(), 'node_modules', '.bin', 'deno');
    const out = await runApp(deno, ['run', '-A', 'node-app.mjs', m.digitsFile], m.consumer);
    check(out, 'deno');
  });

  test('Bun', async () => {
    const bun = join(process.cwd(), 'node_modules', '.bin', 'bun');
    const out = await runApp(bun, ['node-app.mjs', m.digitsFile], m.consumer);
    check(out, 'bun');
  });

  test('an esbuild server bundle: a clear error naming the missing file, then works with the files copied', async () => {
    const { file, dir } = m.server;
    for (const asset of ASSETS) rmSync(join(dir, asset), { force: true });
    const bare = await runApp(process.execPath, [file, m.digitsFile], dir);
    expect(bare.error?.name).toBe('BackendError');
    expect(bare.error?.message).toContain(
      `tfjs-backend-wasm-simd.wasm from ${join(dir, 'tfjs-backend-wasm-simd.wasm')}`,
    );
    expect(bare.error?.message).toMatch(/setAssetBase|assetBase/);
    // The README's step for server bundles: copy the package's assets next to the bundle.
    const dist = join(m.consumer, 'node_modules', 'lenet-mnist', 'dist');
    for (const asset of ASSETS) copyFileSync(join(dist, asset), join(dir, asset));
    check(await runApp(process.execPath, [file, m.digitsFile], dir), 'node');
  });

  test("an app's own tfjs keeps its backend; lenet-mnist runs on its own engine", async () => {
    const out = await runApp(process.execPath, ['coexist.mjs'], m.consumer);
    expect(out).toMatchObject({
      appBackend: 'cpu',
      appBackends: ['cpu'],
      appSum: [2, 3, 4],
      lenetBackend: 'wasm',
      lenetInfo: 'wasm',
      predictorPath: 'fused',
    });
  });
});

describe('browser apps, production builds, in headless Chromium', () => {
  let server: Server;
  let origin: string;
  let browser: Browser;
  /** Files each page fetched, by app and variant. */
  const fetched = new Map<string, string[]>();

  beforeAll(async () => {
    requireChromium('The consumer browser tests');
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const [, app, variant, ...rest] = url.pathname.split('/');
      const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
      if (variant === 'isolated') {
        headers['Cross-Origin-Opener-Policy'] = 'same-origin';
        headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      }
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204, headers);
        res.end();
        return;
      }
      const build = app !== undefined ? m.apps[app] : undefined;
      const path = rest.join('/') || 'index.html';
      const file = build ? normalize(join(build.dir, path)) : '';
      if (!build || !file.startsWith(build.dir + sep) || !existsSync(file)) {
        res.writeHead(404, headers);
        res.end();
        return;
      }
      const key = `${app}/${variant}`;
      fetched.set(key, [...(fetched.get(key) ?? []), path]);
      res.writeHead(200, {
        ...headers,
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      });
      res.end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: BROWSER_ARGS,
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    // No server when the suite failed before starting it: do not wait for a hook timeout.
    if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  });

  /** Opens an app, runs window.lenetRun(args), returns its result and every console error. */
  async function openApp(
    app: string,
    variant: 'plain' | 'isolated',
    args: unknown[],
    blobWorkers = 0,
  ) {
    const page = await browser.newPage();
    // This machine may report 2 cores; a page that reports 8 shows threads as users get them.
    await page.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 8 });
    });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    page.on('requestfailed', (r) => errors.push(`${r.url()}: ${r.failure()?.errorText}`));
    const workers: string[] = [];
    page.on('worker', (w) => {
      workers.push(w.url());
      w.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`worker console: ${msg.text()}`);
      });
    });
    try {
      await page.goto(`${origin}/${app}/${variant}/`);
      await page.waitForFunction(
        () => (window as { lenetReady?: boolean }).lenetReady === true,
        undefined,
        {
          timeout: 30_000,
        },
      );
      const result = await page.evaluate(
        ([a]) =>
          Promise.race([
            (window as unknown as { lenetRun(...x: unknown[]): Promise<unknown> }).lenetRun(
              ...(a as unknown[]),
            ),
            new Promise((_, reject) =>
              setTimeout(() => reject(new Error('lenetRun did not settle in 60 s')), 60_000),
            ),
          ]),
        [args] as const,
      );
      // Playwright may report a worker after evaluate's answer: wait for those expected.
      const blobs = () => workers.filter((url) => url.startsWith('blob:')).length;
      for (let waited = 0; blobs() < blobWorkers && waited < 5000; waited += 50) {
        await page.waitForTimeout(50);
      }
      return { result: result as Record<string, unknown>, errors, workers };
    } catch (err) {
      throw new Error(
        `${app} ${variant}: ${(err as Error).message}; page errors: ${errors.join(' | ')}`,
      );
    } finally {
      await page.close();
    }
  }

  /** Runs window.lenetTrainInWorker on the app's plain page; resolves with it or its error. */
  async function trainInAppWorker(bundler: string, workerUrl?: string) {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    page.on('requestfailed', (r) => errors.push(`${r.url()}: ${r.failure()?.errorText}`));
    try {
      await page.goto(`${origin}/${bundler}-app/plain/`);
      await page.waitForFunction(() => (window as { lenetReady?: boolean }).lenetReady === true);
      const outcome = (await page.evaluate(
        ([images, labels, url]) =>
          (
            window as unknown as {
              lenetTrainInWorker(i: unknown, l: unknown, u?: string): Promise<unknown>;
            }
          )
            .lenetTrainInWorker(images, labels, url)
            .then(
              (result) => ({ result }),
              (err: Error) => ({ error: `${err.name}: ${err.message}` }),
            ),
        [digits.images, digits.labels, workerUrl] as const,
      )) as {
        result?: { epochs: number; batches: number[]; backend: string; labels: number[] };
        error?: string;
      };
      return { ...outcome, errors };
    } finally {
      await page.close();
    }
  }

  function expectTrained(
    result: { epochs: number; batches: number[]; backend: string; labels: number[] } | undefined,
  ) {
    expect(result?.epochs).toBe(1);
    expect(result?.batches).toEqual(new Array(digits.labels.length / 5).fill(5));
    expect(result?.backend).toBe('wasm');
    // Fine-tuned from the pretrained weights on these very digits: it still reads them.
    const right = (result?.labels ?? []).filter((l, i) => l === digits.labels[i]).length;
    expect(right).toBeGreaterThanOrEqual(19);
  }

  // Vite, webpack and Parcel emit the training worker (`new Worker(new URL(...))`), with zero
  // configuration.
  test.each(['vite', 'webpack', 'parcel'])(
    '%s: trains in the library Worker and predicts with the model it returns',
    async (bundler) => {
      const { result, error, errors } = await trainInAppWorker(bundler);
      expect(error).toBeUndefined();
      expect(errors).toEqual([]);
      expectTrained(result);
    },
  );

  // esbuild and Rollup do not: without `workerUrl` the error names the URL tried and the fix;
  // with the package's dist/ served and `workerUrl` passed (README), it trains.
  test.each(['esbuild', 'rollup'])(
    '%s: without workerUrl a TrainWorkerError names the URL tried and the fix; with it, it trains',
    async (bundler) => {
      const missing = await trainInAppWorker(bundler);
      expect(missing.result).toBeUndefined();
      expect(missing.error).toBe(
        `TrainWorkerError: the training worker could not start from ${origin}/${bundler}-app/plain/browser-fx-train-worker.js: it answers HTTP 404. Serve node_modules/lenet-mnist/dist/ (the worker loads its .wasm and .weights files from beside it) and pass its URL: trainInWorker(model, data, { workerUrl: '/lenet-mnist/browser-fx-train-worker.js' }) (Vite, webpack and Parcel bundle the worker themselves; esbuild and Rollup do not).`,
      );
      const fixed = await trainInAppWorker(bundler, './lenet-mnist/browser-fx-train-worker.js');
      expect(fixed.error).toBeUndefined();
      expect(fixed.errors).toEqual([]);
      expectTrained(fixed.result);
    },
  );

  const cases = BUNDLERS.flatMap((b) => [
    [b, 'plain'],
    [b, 'isolated'],
  ]) as [string, 'plain' | 'isolated'][];

  test.each(cases)(
    '%s, %s: predicts real digits, reports threads, no console error',
    async (bundler, variant) => {
      // Isolated pages ask for 2 threads: the minified threaded build must start; plain pages
      // take the default ('auto'), one thread, and say why.
      const threads = variant === 'isolated' ? 2 : undefined;
      const { result, errors, workers } = await openApp(
        `${bundler}-app`,
        variant,
        [digits.images, threads],
        variant === 'plain' ? 2 : 0,
      );
      expect(errors).toEqual([]);
      // 200 digits through a 3-thread predictor: split over two blob-URL workers of the fused
      // kernels (the minified bundle's worker source), bit for bit the 1-thread results.
      expect(result.threadedInference).toEqual({ images: 200, same: true, labels: result.labels });
      if (variant === 'plain') {
        // Plain pages start no tfjs threads: every worker here is the predictor's.
        expect(
          workers.filter((url) => url.startsWith('blob:')),
          workers.join(),
        ).toHaveLength(2);
      }
      const info = result.info as { backend: string; threads: number; reason: string };
      expect(result.crossOriginIsolated).toBe(variant === 'isolated');
      expect(info.backend).toBe('wasm');
      expect(info.threads).toBe(variant === 'isolated' ? 2 : 1);
      if (variant === 'plain')
        expect(info.reason).toMatch(/1 thread: WASM threads need a cross-origin isolated page/);
      expect(result.path).toBe('fused');
      expect(result.generic).toEqual({ kind: 'fused', kernels: 'generic', finite: true });
      const labels = result.labels as number[];
      expect(labels.filter((l, i) => l === digits.labels[i]).length).toBeGreaterThanOrEqual(19);
      expect(result.error).toEqual({
        name: 'IdxFormatError',
        isIdxFormatError: true,
        isLenetMnistError: true,
      });
      // The tfjs files the page fetched, recognised by content (webpack renames them to hashes).
      const dir = (m.apps[`${bundler}-app`] as AppBuild).dir;
      const files = fetched.get(`${bundler}-app/${variant}`) ?? [];
      const threadedWasm = statSync('dist/tfjs-backend-wasm-threaded-simd.wasm').size;
      const loadedThreadedWasm = files.some(
        (f) => f.endsWith('.wasm') && statSync(join(dir, f)).size === threadedWasm,
      );
      const loadedWorkerScript = files.some(
        (f) =>
          f.endsWith('.js') &&
          // The shipped script's last line, kept by every bundler (Parcel rewrites the rest).
          /\bself\.WasmBackendModuleThreadedSimd\s*=/.test(readFileSync(join(dir, f), 'utf8')),
      );
      expect(loadedThreadedWasm).toBe(variant === 'isolated');
      expect(loadedWorkerScript).toBe(variant === 'isolated');
      const loaded = (ext: string) => {
        const bytes = files.filter((f) => f.endsWith(ext)).map((f) => readFileSync(join(dir, f)));
        const raw = bytes.reduce((sum, b) => sum + b.length, 0);
        const gzip = bytes.reduce((sum, b) => sum + gzipSync(b, { level: 9 }).length, 0);
        return `${raw} B (${gzip} B gzip)`;
      };
      console.log(
        `${bundler} ${variant}: ${result.formatted as string}; loaded JS ${loaded('.js')}, wasm ${loaded('.wasm')}`,
      );
    },
  );

  test.each(BUNDLERS)(
    '%s: an app that imports only parseIdx loads no tfjs, backend or asset',
    async (bundler) => {
      const { result, errors } = await openApp(`${bundler}-idx-only`, 'plain', []);
      expect(errors).toEqual([]);
      expect(result).toEqual({ shape: [3], data: [7, 8, 9] });
      const app = m.apps[`${bundler}-idx-only`] as AppBuild;
      const files = fetched.get(`${bundler}-idx-only/plain`) ?? [];
      const js = files.filter((f) => f.endsWith('.js'));
      expect(files.filter((f) => /\.(wasm|weights)$/.test(f))).toEqual([]);
      const bytes = js.map((f) => readFileSync(join(app.dir, f)));
      const raw = bytes.reduce((s, b) => s + b.length, 0);
      const gzip = bytes.reduce((s, b) => s + gzipSync(b, { level: 9 }).length, 0);
      console.log(
        `${bundler} parseIdx-only app: loads ${js.length} JS file(s), ${raw} B (${gzip} B gzip); emitted JS ${app.size.js.raw} B, wasm ${app.size.wasm.raw} B`,
      );
      expect(raw).toBeLessThan(30_000);
    },
  );
});
