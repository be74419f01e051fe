/**
 * End to end: the browser demo (examples/browser/, served by examples/serve.mjs from the built
 * dist/) in headless Chromium. Draws digits with mouse events, trains in the Worker on a few
 * thousand MNIST images, checks the main thread stayed responsive, stops a run, switches models,
 * and reloads to load weights from IndexedDB. Any console error or failed request fails it.
 * Screenshots go to $LENET_DEMO_SHOTS (default /tmp/lenet-demo-shots).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blankSample, photoSample } from '../../scripts/photo-set.mjs';
import { loadMnist, type Mnist } from '../../src/data/mnist.js';
import { CHROMIUM, requireChromium } from '../helpers/webgpu-env.js';

const SHOTS = process.env.LENET_DEMO_SHOTS ?? '/tmp/lenet-demo-shots';
const CAMERA_DIGIT = 0; // MNIST test digit 0, a 7, is what Chromium's fake camera films
const ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

let server: ChildProcess;
let browser: Browser;
let url: string;
let mnist: Mnist;

/**
 * A Y4M video (Chromium's fake camera file) of a test digit written dark on grey paper, a little
 * off centre, with a gradient: 640x480, two frames, 4:2:0 with neutral chroma.
 */
function cameraFile(digit: Uint8Array): string {
  const w = 640;
  const h = 480;
  const frame = Buffer.alloc((w * h * 3) / 2, 128);
  const scale = 9;
  const left = 260;
  const top = 100;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const paper = 150 + (70 * x) / w;
      const sx = Math.floor((x - left) / scale);
      const sy = Math.floor((y - top) / scale);
      const ink =
        sx >= 0 && sy >= 0 && sx < 28 && sy < 28 ? (digit[sy * 28 + sx] as number) / 255 : 0;
      frame[y * w + x] = Math.round(paper * (1 - ink) + 25 * ink);
    }
  }
  const header = Buffer.from(`YUV4MPEG2 W${w} H${h} F30:1 Ip A1:1 C420jpeg\n`);
  const marker = Buffer.from('FRAME\n');
  const file = join(mkdtempSync(join(tmpdir(), 'lenet-demo-camera-')), 'digit.y4m');
  writeFileSync(file, Buffer.concat([header, marker, frame, marker, frame]));
  return file;
}
const problems: string[] = [];

function watch(page: Page): void {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('worker', (w) => {
    w.on('console', (m) => {
      if (m.type() === 'error') problems.push(`worker console error: ${m.text()}`);
    });
  });
  page.on('requestfailed', (r) => {
    // A download link's blob: navigation is no failure.
    if (!r.url().startsWith('blob:'))
      problems.push(`failed request: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
}

async function open(page: Page): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
}

/** Draws strokes (lists of points in a 0..1 box) at `scale` of the pad, offset by (dx, dy). */
async function draw(
  page: Page,
  strokes: [number, number][][],
  { scale = 0.6, dx = 0.2, dy = 0.2 } = {},
): Promise<string> {
  await page.click('#clear');
  // The mouse works in viewport coordinates: the pad must be on screen (the page is long).
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#pad').boundingBox();
  if (!box) throw new Error('no pad');
  for (const stroke of strokes) {
    const at = ([x, y]: [number, number]) =>
      [box.x + (dx + x * scale) * box.width, box.y + (dy + y * scale) * box.height] as const;
    const [first, ...rest] = stroke;
    await page.mouse.move(...at(first as [number, number]));
    await page.mouse.down();
    for (const p of rest) await page.mouse.move(...at(p), { steps: 4 });
    await page.mouse.up();
  }
  await page.waitForFunction(
    () =>
      (window as unknown as { lenetDemo: { lastPrediction?: unknown } }).lenetDemo.lastPrediction,
  );
  await page.waitForTimeout(100); // the last stroke's classification
  return (await page.textContent('#label')) ?? '';
}

const ONE: [number, number][][] = [
  [
    [0.5, 0.05],
    [0.5, 0.5],
    [0.5, 0.95],
  ],
];
const SEVEN: [number, number][][] = [
  [
    [0.15, 0.1],
    [0.85, 0.1],
    [0.6, 0.5],
    [0.4, 0.95],
  ],
];
const ZERO: [number, number][][] = [
  Array.from({ length: 25 }, (_, k) => {
    const a = (k / 24) * 2 * Math.PI;
    return [0.5 + 0.32 * Math.sin(a), 0.5 - 0.45 * Math.cos(a)] as [number, number];
  }),
];

describe('the browser demo in Chromium', () => {
  beforeAll(async () => {
    requireChromium('The demo tests');
    mkdirSync(SHOTS, { recursive: true });
    mnist = await loadMnist();
    // Port 0: any free port; the server prints the URL it got.
    server = spawn(process.execPath, ['examples/serve.mjs', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    url = await new Promise<string>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`demo server exited (${code})`)));
      server.stdout?.on('data', (chunk: Buffer) => {
        const found = /http:\/\/\S+/.exec(String(chunk));
        if (found) resolve(found[0]);
      });
    });
    const camera = cameraFile(
      mnist.test.images.subarray(CAMERA_DIGIT * 784, (CAMERA_DIGIT + 1) * 784),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        ...ARGS,
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        `--use-file-for-fake-video-capture=${camera}`,
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    server?.kill();
  });

  it('serves the page on a free port (0 given), prints its URL, and sends COOP/COEP', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/examples\/browser\/$/);
    const response = await fetch(url);
    expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(response.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });

  it("trainInWorker: epoch checkpoints, no batch checkpoints, the caller's model untouched, a clear error for a missing worker", async () => {
    const page = await browser.newPage();
    await open(page);
    const out = await page.evaluate(async () => {
      // (a Function: vitest would rewrite a literal import())
      const lib = await new Function('u', 'return import(u)')('/dist/browser.js');
      const mnist = await lib.loadMnist({
        files: {
          trainImages: '/mnist/train-images-idx3-ubyte?count=200',
          trainLabels: '/mnist/train-labels-idx1-ubyte?count=200',
          testImages: '/mnist/t10k-images-idx3-ubyte?count=100',
          testLabels: '/mnist/t10k-labels-idx1-ubyte?count=100',
        },
      });
      const model = await lib.createLeNet({ seed: 2 });
      const before = Array.from(model.getWeights()[0].slice(0, 8));
      const checkpoints: unknown[] = [];
      let batchCheckpoint = '';
      const {
        model: trained,
        history,
        test,
      } = await lib.trainInWorker(model, lib.prepareImages(mnist.train), {
        epochs: 2,
        batchSize: 50,
        testData: mnist.test,
        onBatchEnd: async (_b: number, _l: unknown, ctx: { checkpoint(): Promise<unknown> }) => {
          if (batchCheckpoint === '')
            batchCheckpoint = await ctx.checkpoint().then(
              () => 'resolved',
              (e: Error) => e.name,
            );
        },
        onEpochEnd: async (
          _e: number,
          _l: unknown,
          ctx: { checkpoint(): Promise<{ next: unknown }> },
        ) => {
          checkpoints.push((await ctx.checkpoint()).next);
        },
      });
      let missing = '';
      try {
        await lib.trainInWorker(model, lib.prepareImages(mnist.train), {
          workerUrl: '/nowhere/worker.js',
        });
      } catch (err) {
        missing = `${(err as Error).name}: ${(err as Error).message}`;
      }
      return {
        unchanged: Array.from(model.getWeights()[0].slice(0, 8)).every((v, i) => v === before[i]),
        changed: Array.from(trained.getWeights()[0].slice(0, 8)).some((v, i) => v !== before[i]),
        epochs: history.epochs.length,
        checkpoints,
        batchCheckpoint,
        testCount: test.count,
        predictions: test.predictions.length,
        missing,
      };
    });
    await page.close();
    expect(out.unchanged).toBe(true);
    expect(out.changed).toBe(true);
    expect(out.epochs).toBe(2);
    expect(out.checkpoints).toEqual([
      { epoch: 2, batch: 0 },
      { epoch: 3, batch: 0 },
    ]);
    expect(out.batchCheckpoint).toBe('TrainWorkerError');
    expect(out.testCount).toBe(100);
    expect(out.predictions).toBe(100);
    // The URL tried, what it answered, and the fix.
    expect(out.missing).toMatch(
      /^TrainWorkerError: the training worker could not start from http:\/\/127\.0\.0\.1:\d+\/nowhere\/worker\.js: it answers HTTP 404\. Point workerUrl at browser-fx-train-worker\.js in a served copy of node_modules\/lenet-mnist\/dist\//,
    );
  });

  it('draws, trains in the Worker, stops, switches models and reloads saved weights', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    watch(page);
    await open(page);
    expect(await page.textContent('#backend')).toMatch(/^Runs on the (CPU|GPU) with /);

    // Clear digits at different sizes and places, with the pretrained model.
    expect(await draw(page, ONE)).toBe('1');
    expect(await draw(page, ONE, { scale: 0.4, dx: 0.1, dy: 0.35 })).toBe('1');
    expect(await draw(page, SEVEN)).toBe('7');
    expect(await draw(page, SEVEN, { scale: 0.8, dx: 0.1, dy: 0.1 })).toBe('7');
    expect(await draw(page, ZERO)).toBe('0');
    expect(await draw(page, ZERO, { scale: 0.45, dx: 0.4, dy: 0.3 })).toBe('0');
    await page.locator('#pad').screenshot({ path: join(SHOTS, 'pad.png') });
    await page
      .locator('section')
      .first()
      .screenshot({ path: join(SHOTS, 'draw-section.png') });

    // Stop: a long run stops after a few batches.
    await page.selectOption('#train-size', '3000');
    await page.fill('#epochs', '20');
    await page.click('#train');
    await page.waitForFunction(
      () => Number((document.getElementById('progress') as HTMLProgressElement).value) >= 3,
      undefined,
      { timeout: 30_000 },
    );
    await page.click('#stop');
    await page.waitForFunction(
      () => document.getElementById('test-accuracy')?.textContent === 'stopped',
      undefined,
      { timeout: 30_000 },
    );
    const stoppedAt = await page.$eval('#progress', (p) => [
      (p as HTMLProgressElement).value,
      (p as HTMLProgressElement).max,
    ]);
    expect(stoppedAt[0]).toBeLessThan((stoppedAt[1] as number) / 2);
    expect(await page.isEnabled('#train')).toBe(true);

    // A real run, with long tasks recorded on the main thread.
    await page.evaluate(() => {
      const w = window as unknown as { longTasks: { start: number; duration: number }[] };
      w.longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries())
          w.longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask', buffered: false });
    });
    await page.fill('#epochs', '2');
    await page.click('#train');
    await page.waitForFunction(
      () => /%$/.test(document.getElementById('test-accuracy')?.textContent ?? ''),
      undefined,
      { timeout: 60_000 },
    );
    const accuracy = Number.parseFloat((await page.textContent('#test-accuracy')) ?? '');
    expect(accuracy).toBeGreaterThan(90);
    // The accuracy shows before the trained model's predictor is on the page: wait for that too.
    await page.waitForFunction(
      () =>
        (window as unknown as { lenetDemo: { trainingSpan: { modelReady?: number } } }).lenetDemo
          .trainingSpan.modelReady !== undefined,
      undefined,
      { timeout: 30_000 },
    );
    const { longTasks, span } = await page.evaluate(() => {
      const w = window as unknown as {
        longTasks: { start: number; duration: number }[];
        lenetDemo: {
          trainingSpan: {
            clicked: number;
            start: number;
            end: number;
            lastBatch: number;
            modelReady: number;
            trainEnd?: number;
            shown?: number;
          };
        };
      };
      return { longTasks: w.longTasks, span: w.lenetDemo.trainingSpan };
    });
    // From the click on Train (data loaded and prepared in a Worker) to the trained model on the
    // page.
    expect(span.modelReady).toBeGreaterThan(span.end);
    const during = longTasks.filter(
      (t) => t.start + t.duration > span.clicked && t.start < span.modelReady,
    );
    expect(span.end - span.start).toBeGreaterThan(100);
    console.log(
      `click to trained model ${Math.round(span.modelReady - span.clicked)} ms (training from +${Math.round(span.start - span.clicked)} for ${Math.round(span.end - span.start)} ms, last batch at +${Math.round(span.lastBatch - span.clicked)}, worker done at +${Math.round((span.trainEnd ?? 0) - span.clicked)}, results shown at +${Math.round((span.shown ?? 0) - span.clicked)}), long tasks in it at [start, ms]: ${JSON.stringify(during.map((t) => [Math.round(t.start - span.clicked), t.duration]))}, on the page overall: ${longTasks.length}`,
    );
    expect(during, `long tasks while training: ${JSON.stringify(during)}`).toEqual([]);
    expect(await page.$$eval('#confusion td', (tds) => tds.length)).toBe(100);
    // The MNIST files fetched for the runs are in Cache Storage for the next visit.
    const cached = await page.evaluate(async () =>
      (await (await caches.open('lenet-mnist-demo')).keys()).map((r) => r.url),
    );
    expect(cached).toHaveLength(4);
    expect(await page.$$eval('#mistakes figure', (f) => f.length)).toBeGreaterThan(0);
    await page.locator('.charts').screenshot({ path: join(SHOTS, 'charts.png') });
    await page.locator('.results').screenshot({ path: join(SHOTS, 'mistakes.png') });

    // Phone width, with the results shown: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300); // let the new layout paint
    await page.screenshot({ path: join(SHOTS, 'phone.png'), fullPage: true });
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1100, height: 1400 });

    // The trained model is on the pad; switching back and forth predicts with each.
    expect(await page.isChecked('#use-trained')).toBe(true);
    expect(await draw(page, ONE)).toBe('1');
    await page.uncheck('#use-trained');
    expect(await page.textContent('#model-name')).toBe('Model: pretrained');
    await page.check('#use-trained');
    expect(await draw(page, SEVEN)).toBe('7');
    const trainedProbs = await page.evaluate(
      () =>
        (window as unknown as { lenetDemo: { lastPrediction: { probabilities: number[] } } })
          .lenetDemo.lastPrediction.probabilities,
    );

    // Save in IndexedDB, reload, load: the same model predicts the same.
    await page.click('#save-idb');
    await page.waitForFunction(() =>
      /Saved/.test(document.getElementById('weights-status')?.textContent ?? ''),
    );
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.isDisabled('#use-trained')).toBe(true);
    await page.click('#load-idb');
    await page.waitForFunction(() =>
      /Loaded/.test(document.getElementById('weights-status')?.textContent ?? ''),
    );
    expect(await page.isChecked('#use-trained')).toBe(true);
    expect(await draw(page, SEVEN)).toBe('7');
    const reloadedProbs = await page.evaluate(
      () =>
        (window as unknown as { lenetDemo: { lastPrediction: { probabilities: number[] } } })
          .lenetDemo.lastPrediction.probabilities,
    );
    for (const [d, p] of reloadedProbs.entries()) {
      expect(p).toBeCloseTo(trainedProbs[d] as number, 5);
    }

    await page.close();
    expect(problems).toEqual([]);
  });
  it('reads a photo file and a camera frame, showing the 28x28 digit it read; a blank photo is "no digit found"', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    watch(page);
    await open(page);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const png = (image: { data: Uint8ClampedArray; width: number; height: number }) =>
      pngjs.PNG.sync.write(
        Object.assign(new pngjs.PNG({ width: image.width, height: image.height }), {
          data: Buffer.from(image.data),
        }),
      );
    const readFile = async (name: string, buffer: Buffer) => {
      await page.evaluate(() => {
        (window as unknown as { lenetDemo: { lastPhoto?: unknown } }).lenetDemo.lastPhoto =
          undefined;
      });
      await page.setInputFiles('#photo-file', { name, mimeType: 'image/png', buffer });
      await page.waitForFunction(
        () => (window as unknown as { lenetDemo: { lastPhoto?: unknown } }).lenetDemo.lastPhoto,
      );
      return (await page.textContent('#photo-label')) ?? '';
    };
    for (const [style, i] of [
      ['grey-paper', 3],
      ['chalkboard', 4],
      ['shadow', 5],
    ] as const) {
      const sample = photoSample(mnist.test, style, i);
      expect(await readFile(`${style}.png`, png(sample.image)), style).toBe(String(sample.label));
    }
    // The extracted digit is on the page: white strokes on black, framed in 28x28.
    const ink = await page.$eval('#photo-digit', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')?.getImageData(0, 0, 28, 28).data;
      let n = 0;
      for (let k = 0; d && k < d.length; k += 4) if ((d[k] as number) > 128) n++;
      return n;
    });
    expect(ink).toBeGreaterThan(20);
    await page.locator('.photo').screenshot({ path: join(SHOTS, 'photo.png') });
    expect(await readFile('blank.png', png(blankSample(3).image))).toBe('no digit found');

    // The camera (Chromium's fake device films a test digit on grey paper).
    await page.click('#camera');
    await page.waitForFunction(
      () => !(document.getElementById('snap') as HTMLButtonElement).disabled,
    );
    await page.evaluate(() => {
      (window as unknown as { lenetDemo: { lastPhoto?: unknown } }).lenetDemo.lastPhoto = undefined;
    });
    await page.click('#snap');
    await page.waitForFunction(
      () => (window as unknown as { lenetDemo: { lastPhoto?: unknown } }).lenetDemo.lastPhoto,
    );
    expect(await page.textContent('#photo-label')).toBe(String(mnist.test.labels[CAMERA_DIGIT]));
    await page.locator('.photo').screenshot({ path: join(SHOTS, 'camera.png') });
    await page.click('#camera'); // stops it
    expect(await page.isDisabled('#snap')).toBe(true);
    await page.close();
    expect(problems).toEqual([]);
  });
});
