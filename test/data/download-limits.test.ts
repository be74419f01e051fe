import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  DEFAULT_MAX_IDX_BYTES,
  DownloadError,
  loadMnist,
  MNIST_FILES,
  type MnistFileKey,
} from '../../src/data/index.js';
import { OptionError } from '../../src/errors.js';
import { fakeSha, KEYS, srv, url } from '../helpers/download-server.js';

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
