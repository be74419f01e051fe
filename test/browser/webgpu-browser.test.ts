/**
 * Backend selection in a real browser: Debian Chromium (headless, driven by playwright-core)
 * loads the built dist/browser bundle from a local server, with WebGPU on SwiftShader
 * (`--enable-unsafe-webgpu`), without it (requestAdapter() returns null), from an insecure origin
 * (no navigator.gpu at all) and cross-origin isolated (WASM threads). Needs `npm run build` first.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tfjsCore from '@tensorflow/tfjs-core';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { maxAbsDiff } from '../helpers/lenet-checks.js';
import { CHROMIUM, requireChromium, SKIP_WEBGPU } from '../helpers/webgpu-env.js';
import type * as PageModule from './page.js';
import { startServer } from './page-server.js';

type Checks = typeof PageModule;
type Args<K extends keyof Checks> = Checks[K] extends (...a: infer A) => unknown ? A : never;
type Result<K extends keyof Checks> = Checks[K] extends (...a: never[]) => infer R
  ? Awaited<R>
  : never;

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const BASE_ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
/** A hostname that is not localhost: pages from it are not a secure context, so have no WebGPU. */
const INSECURE_HOST = 'lenet-insecure.test';

/** Paths the server was asked for, to see which WASM binary a page loaded. */
const requested: string[] = [];

/** tfjs-core's export names (identifiers only), for the alias above. */
const TFJS_EXPORTS = Object.keys(tfjsCore).filter(
  (k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default',
);

async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./page.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        // The page imports the library's source for types; the browser gets the built bundle.
        name: 'use-dist',
        setup(b) {
          b.onResolve({ filter: /src\/index\.js$/ }, () => ({
            path: './dist/browser.js',
            external: true,
          }));
          b.onResolve({ filter: /src\/tfjs\.js$/ }, () => ({
            path: './dist/browser-tfjs.js',
            external: true,
          }));
          // The checks' own tfjs ops (lenet-checks.ts, the library's layer ops from src) must
          // run on lenet-mnist's tfjs instance, which keeps a private engine: alias the package
          // to that instance, export by export.
          b.onResolve({ filter: /^@tensorflow\/tfjs-core$/ }, () => ({
            path: 'tfjs-core',
            namespace: 'lenet-tfjs',
          }));
          b.onLoad({ filter: /.*/, namespace: 'lenet-tfjs' }, () => ({
            contents: `import { tf } from './dist/browser-tfjs.js';\nexport const { ${TFJS_EXPORTS.join(', ')} } = tf;`,
            loader: 'js',
          }));
          b.onResolve({ filter: /^\.\/dist\/browser-tfjs\.js$/ }, (args) => ({
            path: args.path,
            external: true,
          }));
        },
      },
    ],
  });
  return result.outputFiles[0]?.text ?? '';
}

async function openPage(
  browser: Browser,
  url: string,
  init?: (page: Page) => Promise<unknown>,
): Promise<Page> {
  const page = await browser.newPage();
  await init?.(page);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('requestfailed', (req) => errors.push(`${req.url()}: ${req.failure()?.errorText}`));
  await page.goto(url);
  await page
    .waitForFunction(() => (window as { checksReady?: boolean }).checksReady === true, undefined, {
      timeout: 45_000,
    })
    .catch((err: Error) => {
      throw new Error(`test page did not load (${err.message}); page errors: ${errors.join('; ')}`);
    });
  return page;
}

/** Calls an exported function of page.ts in the page. */
function call<K extends keyof Checks>(page: Page, name: K, ...args: Args<K>): Promise<Result<K>> {
  return page.evaluate(
    ([fn, fnArgs]) => {
      const checks = (window as unknown as { checks: Record<string, (...a: unknown[]) => unknown> })
        .checks;
      return (checks[fn] as (...a: unknown[]) => unknown)(...fnArgs);
    },
    [name as string, args as unknown[]] as const,
  ) as Promise<Result<K>>;
}

describe.skipIf(SKIP_WEBGPU)('backend selection in headless Chromium', () => {
  let server: Server;
  let origin: string;
  let webgpuBrowser: Browser;
  let noWebgpuBrowser: Browser;

  beforeAll(async () => {
    requireChromium('The browser WebGPU tests');
    if (!existsSync(join(dist, 'browser.js'))) {
      throw new Error(`${join(dist, 'browser.js')} is missing: run \`npm run build\` first`);
    }
    server = await startServer(await bundlePage(), requested);
    const { port } = server.address() as AddressInfo;
    origin = `http://127.0.0.1:${port}`;
    [webgpuBrowser, noWebgpuBrowser] = await Promise.all([
      chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [...BASE_ARGS, '--enable-unsafe-webgpu'],
      }),
      chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [...BASE_ARGS, `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`],
      }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([webgpuBrowser?.close(), noWebgpuBrowser?.close()]);
    // No server when the suite failed before starting it: do not wait for a hook timeout.
    if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  });

  describe('with --enable-unsafe-webgpu (SwiftShader adapter)', () => {
    // Runs first, on its own page: page loads can stall while SwiftShader keeps Chromium's GPU
    // process busy with the heavier tests below.
    test('auto falls back to WASM when requestDevice() fails, and says so', async () => {
      const fresh = await openPage(webgpuBrowser, `${origin}/plain/`);
      const result = await call(fresh, 'autoWithFailingDevice');
      await fresh.close();
      if (!result.ok) throw new Error(result.message);
      expect(result.info.backend).toBe('wasm');
      expect(result.info.reason).toMatch(
        /^auto: WebGPU not used: adapter .*swiftshader: requestDevice\(\) failed \(OperationError: simulated: device creation failed\); 1 thread: WASM threads need a cross-origin isolated page/,
      );
    });

    describe('on one page', () => {
      let page: Page;
      beforeAll(async () => {
        page = await openPage(webgpuBrowser, `${origin}/plain/`);
      });
      afterAll(async () => {
        await page?.close();
      });

      test('auto picks WASM over the fallback adapter and names it', async () => {
        expect(await call(page, 'environment')).toEqual({
          crossOriginIsolated: false,
          isSecureContext: true,
          hasNavigatorGpu: true,
        });
        const result = await call(page, 'init', {});
        if (!result.ok) throw new Error(result.message);
        expect(result.tfBackend).toBe('wasm');
        expect(result.info).toMatchObject({
          backend: 'wasm',
          simd: true,
          threads: 1,
          adapter: { architecture: 'swiftshader', isFallback: true },
        });
        expect(result.info.reason).toMatch(
          /^auto: WebGPU not used: the adapter WebGPU offers, .*swiftshader.*, is a software fallback adapter, far slower than WASM here; 1 thread: WASM threads need a cross-origin isolated page \(COOP\/COEP headers\)$/,
        );
        expect(result.formatted).toMatch(/^WASM SIMD, 1 thread - auto: /);
      });

      test('explicit webgpu uses the SwiftShader adapter', async () => {
        const result = await call(page, 'init', { backend: 'webgpu', snapshotIntervalMs: 0 });
        if (!result.ok) throw new Error(result.message);
        expect(result.tfBackend).toBe('webgpu');
        expect(result.info).toMatchObject({
          backend: 'webgpu',
          adapter: { architecture: 'swiftshader', isFallback: true },
        });
        expect(result.info.reason).toMatch(
          /^WebGPU requested: software fallback adapter, self-test passed in \d+ ms$/,
        );
      });

      test('LeNet forward outputs and gradients on WebGPU match WASM within 1e-4', async () => {
        const r = await call(page, 'compareForward', 2);
        expect(r.tfBackend).toBe('webgpu');
        expect(r.wasmEngine).toEqual({ kind: 'fused', backend: 'wasm' });
        expect(r.gpuEngine).toEqual({ kind: 'tfjs', backend: 'webgpu' });
        expect(r.weightsDiff).toBe(0);
        expect(r.logitsLength).toBe(20);
        expect(r.gradCount).toBe(10);
        expect(r.logitsDiff).toBeLessThan(1e-4);
        expect(r.lossDiff).toBeLessThan(1e-4);
        expect(r.gradDiff).toBeLessThan(1e-4);
        expect(r.evalLossDiff).toBeLessThan(1e-4);
      });

      test('fused WebGPU trains and predicts like fused WASM; auto keeps WASM on SwiftShader', async () => {
        const r = await call(page, 'compareFused', 2, 4);
        expect(r.gpuPath).toBe('webgpu');
        expect(r.gpuEngine).toEqual({ kind: 'webgpu', backend: 'webgpu' });
        expect(r.wasmEngine).toEqual({ kind: 'fused', backend: 'wasm' });
        expect(r.gpuLosses).toHaveLength(4);
        r.gpuLosses.forEach((loss, i) => {
          expect(Math.abs(loss - (r.wasmLosses[i] as number)), `step ${i}`).toBeLessThan(1e-4);
        });
        expect(r.paramError).toBeLessThan(1e-4);
        expect(r.evalLossDiff).toBeLessThan(1e-4);
        expect(r.sameConfusion).toBe(true);
        expect(r.autoEngine.kind).toBe('fused');
        expect(r.autoEngine.reason).toMatch(/is a software fallback adapter, far slower than WASM/);
      });

      test('Adam steps lower the loss the same way on WebGPU and WASM', async () => {
        const r = await call(page, 'compareTraining', 2, 3);
        const { wasm, webgpu } = r;
        expect(r.tfBackend).toBe('webgpu');
        expect(r.wasmRun).toEqual({ path: 'tfjs', backend: 'wasm' });
        expect(r.webgpuRun).toEqual({ path: 'tfjs', backend: 'webgpu' });
        expect(webgpu).toHaveLength(3);
        expect(webgpu[2]).toBeLessThan(webgpu[0] as number);
        expect(wasm[2]).toBeLessThan(wasm[0] as number);
        webgpu.forEach((loss, i) => {
          expect(Math.abs(loss - (wasm[i] as number))).toBeLessThan(1e-4);
        });
        expect(r.weightsDiff).toBeLessThan(1e-4);
      });

      test('device loss during training: WASM takes over with the snapshot weights', async () => {
        const r = await call(page, 'deviceLossDuringTraining');
        expect(r).toMatchObject({
          cause: 'device-lost',
          previous: 'webgpu',
          current: { backend: 'wasm' },
          recovery: { deviceLost: { reason: 'destroyed' }, lostVariables: [] },
          weightsDiff: 0,
          trainBackend: 'webgpu',
          tfBackend: 'wasm',
        });
        expect(r.current?.reason).toMatch(
          /^WebGPU device lost \(destroyed.*\); switched to WASM; restored \d+ variables from a snapshot taken \d+\.\d s earlier/,
        );
        // The tfjs engine's 10 parameters, Adam's two moments of each and its step count.
        expect(r.variables).toBe(31);
        expect(r.recovery?.restoredVariables).toBe(r.variables);
        // Training went on on WASM from the snapshot (after step 2) with Adam's state intact:
        // steps 4 and 5 redo the reference's steps 3 and 4; the lost step's epoch reports NaN.
        expect(r.losses).toHaveLength(5);
        expect(
          maxAbsDiff([...r.losses.slice(0, 2), ...r.losses.slice(3)], r.refLosses.slice(0, 4)),
        ).toBeLessThan(1e-4);
        expect(r.epochLosses).toEqual([...r.losses.slice(0, 2), Number.NaN, ...r.losses.slice(3)]);
      });
    });
  });

  describe('without --enable-unsafe-webgpu', () => {
    test('threads: 3 on a cross-origin isolated page runs the threaded WASM build', async () => {
      const before = requested.length;
      // tfjs caps its pool at the cores the page reports; this machine may have only 2.
      const isolated = await openPage(noWebgpuBrowser, `${origin}/isolated/`, (p) =>
        p.addInitScript(() => {
          Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 8 });
        }),
      );
      const env = await call(isolated, 'environment');
      const result = await call(isolated, 'init', { backend: 'wasm', threads: 3 });
      await isolated.close();
      expect(env.crossOriginIsolated).toBe(true);
      const asked = requested.slice(before);
      expect(asked).toContain('/isolated/dist/tfjs-backend-wasm-threaded-simd.wasm');
      // The workers load the shipped script, not a blob of the factory's source text.
      expect(asked).toContain('/isolated/dist/tfjs-backend-wasm-threaded-simd.worker.js');
      if (!result.ok) throw new Error(result.message);
      expect(result.info).toMatchObject({ backend: 'wasm', threads: 3, reason: 'WASM requested' });
      expect(result.formatted).toBe('WASM SIMD, 3 threads - WASM requested');
    });

    test("threads: 'auto' on 2 reported cores stays single-threaded and never loads the threaded build", async () => {
      const before = requested.length;
      const isolated = await openPage(noWebgpuBrowser, `${origin}/isolated/`, (p) =>
        p.addInitScript(() => {
          Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 2 });
        }),
      );
      const result = await call(isolated, 'init', { backend: 'wasm' });
      await isolated.close();
      if (!result.ok) throw new Error(result.message);
      expect(result.info.threads).toBe(1);
      expect(result.info.reason).toBe(
        'WASM requested; 1 thread: half of the 2 logical cores reported (at most 4)',
      );
      const asked = requested.slice(before);
      expect(asked).toContain('/isolated/dist/tfjs-backend-wasm-simd.wasm');
      expect(asked.filter((p) => p.includes('threaded'))).toEqual([]);
    });

    test("threads: 'auto' uses half of 4 reported cores", async () => {
      const isolated = await openPage(noWebgpuBrowser, `${origin}/isolated/`, (p) =>
        p.addInitScript(() => {
          Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 4 });
        }),
      );
      const result = await call(isolated, 'init', { backend: 'wasm' });
      await isolated.close();
      if (!result.ok) throw new Error(result.message);
      expect(result.info.threads).toBe(2);
      expect(result.formatted).toBe('WASM SIMD, 2 threads - WASM requested');
    });

    test('threads: 2 without cross-origin isolation rejects with BackendError, fast', async () => {
      const page = await openPage(noWebgpuBrowser, `${origin}/plain/`);
      const t0 = Date.now();
      const result = await call(page, 'init', { backend: 'wasm', threads: 2 });
      await page.close();
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(result).toMatchObject({ ok: false, name: 'BackendError', isBackendError: true });
      expect(result.ok ? '' : result.message).toMatch(
        /2 threads were asked for, but WASM threads need a cross-origin isolated page/,
      );
    });

    test('a missing .wasm file rejects with a BackendError naming its URL (no hang)', async () => {
      const page = await openPage(noWebgpuBrowser, `${origin}/plain/`);
      const result = await call(page, 'init', {
        backend: 'wasm',
        assetBase: '/plain/nowhere/',
        initTimeoutMs: 20_000,
      });
      await page.close();
      expect(result).toMatchObject({ ok: false, name: 'BackendError' });
      expect(result.ok ? '' : result.message).toMatch(
        /tfjs-backend-wasm-simd\.wasm from http:\/\/127\.0\.0\.1:\d+\/plain\/nowhere\/tfjs-backend-wasm-simd\.wasm \(GET .* failed: HTTP 404\)/,
      );
    });

    test('a .wasm download that never finishes rejects with a BackendError at initTimeoutMs', async () => {
      const page = await openPage(noWebgpuBrowser, `${origin}/plain/`);
      const t0 = Date.now();
      const result = await call(page, 'init', {
        backend: 'wasm',
        assetBase: '/plain/hang/',
        initTimeoutMs: 3000,
      });
      const elapsed = Date.now() - t0;
      await page.close();
      // 3 s for the start, then at most 5 s to find out which file stalled.
      expect(elapsed).toBeGreaterThanOrEqual(2900);
      expect(elapsed).toBeLessThan(15_000);
      expect(result).toMatchObject({ ok: false, name: 'BackendError', isBackendError: true });
      expect(result.ok ? '' : result.message).toMatch(
        /^WASM backend failed to start: tfjs-backend-wasm initialisation did not finish within 3000 ms: lenet-mnist could not load its file tfjs-backend-wasm-simd\.wasm from http:\/\/127\.0\.0\.1:\d+\/plain\/hang\/tfjs-backend-wasm-simd\.wasm \(no complete answer within 5000 ms\)/,
      );
    });

    test("threads: 'auto' falls back to one thread, with the reason, when the threaded build cannot start", async () => {
      const isolated = await openPage(noWebgpuBrowser, `${origin}/isolated/`, (p) =>
        p.addInitScript(() => {
          Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 8 });
        }),
      );
      // The workers' script cannot be loaded: the threaded build never finishes starting.
      const result = await call(isolated, 'init', {
        backend: 'wasm',
        assetBase: { 'tfjs-backend-wasm-threaded-simd.worker.js': '/isolated/missing/worker.js' },
        initTimeoutMs: 4000,
      });
      await isolated.close();
      if (!result.ok) throw new Error(result.message);
      expect(result.info.threads).toBe(1);
      expect(result.info.reason).toMatch(
        /^WASM requested; threads: auto: the threaded WASM build failed \(tfjs-backend-wasm initialisation did not finish within 4000 ms: lenet-mnist could not load its file tfjs-backend-wasm-threaded-simd\.worker\.js from http:\/\/127\.0\.0\.1:\d+\/isolated\/missing\/worker\.js \(GET .* failed: HTTP 404\)/,
      );
      expect(result.info.reason).toMatch(/; running single-threaded$/);
    });

    test('requestAdapter() returns null: auto uses WASM, explicit webgpu throws BackendError', async () => {
      const page = await openPage(noWebgpuBrowser, `${origin}/plain/`);
      const env = await call(page, 'environment');
      const auto = await call(page, 'init', {});
      const explicit = await call(page, 'init', { backend: 'webgpu' });
      await page.close();
      expect(env.hasNavigatorGpu).toBe(true);
      if (!auto.ok) throw new Error(auto.message);
      expect(auto.info.backend).toBe('wasm');
      expect(auto.info.reason).toMatch(
        /^auto: WebGPU not used: navigator\.gpu\.requestAdapter\(\) returned null: /,
      );
      expect(explicit).toMatchObject({ ok: false, name: 'BackendError', isBackendError: true });
      expect(explicit.ok ? '' : explicit.message).toMatch(
        /^WebGPU was requested but cannot be used: navigator\.gpu\.requestAdapter\(\) returned null/,
      );
    });

    test('no navigator.gpu (insecure origin): auto uses WASM and says why', async () => {
      const { port } = server.address() as AddressInfo;
      const page = await openPage(noWebgpuBrowser, `http://${INSECURE_HOST}:${port}/plain/`);
      const env = await call(page, 'environment');
      const auto = await call(page, 'init', {});
      await page.close();
      expect(env).toMatchObject({ isSecureContext: false, hasNavigatorGpu: false });
      if (!auto.ok) throw new Error(auto.message);
      expect(auto.info.backend).toBe('wasm');
      expect(auto.info.adapter).toBeUndefined();
      expect(auto.info.reason).toMatch(
        /^auto: WebGPU not used: no navigator\.gpu: WebGPU exists only in secure contexts/,
      );
    });
  });
});
