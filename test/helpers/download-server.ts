// Shared by test/data/download.test.ts and test/data/download-limits.test.ts.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { afterAll, beforeAll, expect } from 'vitest';
import { encodeIdx, type loadMnist, MNIST_FILES, type MnistFileKey } from '../../src/data/index.js';

export const gzipAsync = promisify(gzip);
export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const KEYS = Object.keys(MNIST_FILES) as MnistFileKey[];
export const NAMES = Object.values(MNIST_FILES);

/** Small fake dataset: 20 training and 10 test images of 4x4, so each test runs in milliseconds. */
export function fakeFiles(): Record<MnistFileKey, Uint8Array> {
  const pixels = (n: number) => Uint8Array.from({ length: n * 16 }, (_, i) => (i * 37) & 0xff);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
  return {
    trainImages: encodeIdx({ dtype: 'uint8', shape: [20, 4, 4], data: pixels(20) }),
    trainLabels: encodeIdx({ dtype: 'uint8', shape: [20], data: labels(20) }),
    testImages: encodeIdx({ dtype: 'uint8', shape: [10, 4, 4], data: pixels(10) }),
    testLabels: encodeIdx({ dtype: 'uint8', shape: [10], data: labels(10) }),
  };
}

export const fake = fakeFiles();
export const fakeSha = Object.fromEntries(KEYS.map((k) => [k, sha256(fake[k])])) as Record<
  MnistFileKey,
  string
>;

export interface TestServer {
  server: Server;
  base: string;
  /** Requests per path, e.g. `/good/train-images-idx3-ubyte.gz`. */
  requests: Map<string, number>;
  count(prefix: string): number;
  close(): Promise<void>;
}

/** Route → body of each `<name>.gz`, or a behaviour. */
export type Route = Record<string, Uint8Array> | 'missing' | 'hang' | 'stall';

export async function startServer(routes: Record<string, Route>): Promise<TestServer> {
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

export async function gzipAll(
  files: Record<MnistFileKey, Uint8Array>,
): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const k of KEYS)
    out[`${MNIST_FILES[k]}.gz`] = new Uint8Array(await gzipAsync(files[k], { level: 1 }));
  return out;
}

export let srv: TestServer;
export let refusedUrl: string;
export let tmp: string;
export let cacheCounter = 0;
export const freshCache = () => join(tmp, `cache-${cacheCounter++}`);
export let goodGz: Record<string, Uint8Array>;

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

export const url = (route: string) => `${srv.base}/${route}/`;

export function expectFake(mnist: Awaited<ReturnType<typeof loadMnist>>): void {
  expect([mnist.train.count, mnist.train.height, mnist.train.width]).toEqual([20, 4, 4]);
  expect(mnist.test.count).toBe(10);
  expect(Array.from(mnist.test.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

/** The sum of a snapshot's counts whose keys (paths) start with `prefix`. */
export function countIn(snapshot: Map<string, number>, prefix: string): number {
  return [...snapshot].filter(([p]) => p.startsWith(prefix)).reduce((a, [, n]) => a + n, 0);
}
