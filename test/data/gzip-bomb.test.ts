// A file of its own: it runs in a fresh process, so the peak RSS it measures is its own.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_MAX_IDX_BYTES,
  decodeIdx,
  encodeIdx,
  IdxFormatError,
  loadImageSet,
  loadMnist,
  MNIST_FILES,
} from '../../src/data/index.js';
import { OptionError } from '../../src/errors.js';
import { gzipBomb, peakRssGrowth } from '../helpers/gzip-bomb.js';

// Both platforms' gunzip: zlib (Node) and DecompressionStream (browsers; Node 20 has it too).
const impl = vi.hoisted(() => ({ gunzip: 'node' as 'node' | 'browser' }));
vi.mock('../../src/platform/index.js', async () => {
  const node = (await import('../../src/platform/node.js')).platform;
  const browser = (await import('../../src/platform/browser.js')).platform;
  return {
    platform: new Proxy(node, {
      get: (target, key, receiver) =>
        key === 'gunzipChunks'
          ? (impl.gunzip === 'node' ? node : browser).gunzipChunks
          : Reflect.get(target, key, receiver),
    }),
  };
});

const MB = 2 ** 20;
let bomb: Uint8Array;
let tmp: string;

beforeAll(async () => {
  bomb = gzipBomb(2 ** 31);
  tmp = await mkdtemp(join(tmpdir(), 'lenet-mnist-bomb-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe.each(['node', 'browser'] as const)('gzip bombs (%s gunzip)', (which) => {
  beforeAll(() => {
    impl.gunzip = which;
  });

  it('refuses a 2 GiB bomb behind a 10-image header with under 100 MB of RSS growth', async () => {
    expect(bomb.length).toBeLessThan(3 * MB);
    let err: unknown;
    const growth = await peakRssGrowth(async () => {
      err = await decodeIdx(bomb, { source: 'bomb.gz' }).catch((e: unknown) => e);
    });
    console.log(
      `${which}: 2 GiB gzip bomb refused, peak RSS growth ${(growth / MB).toFixed(1)} MB`,
    );
    expect(err).toBeInstanceOf(IdxFormatError);
    expect((err as IdxFormatError).message).toMatch(
      /IDX file 'bomb\.gz': trailing data at byte 16: the header declares 7840 payload bytes/,
    );
    expect((err as IdxFormatError).source).toBe('bomb.gz');
    expect(growth).toBeLessThan(100 * MB);
  });

  it('refuses a header that declares more than maxBytes before allocating it', async () => {
    // 60000 x 1000 x 1000 uint8 = 60 GB declared by a 30-byte file.
    const header = new Uint8Array(16);
    header.set([0, 0, 8, 3]);
    const view = new DataView(header.buffer);
    view.setUint32(4, 60000);
    view.setUint32(8, 1000);
    view.setUint32(12, 1000);
    const err = await decodeIdx(gzipSync(header)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdxFormatError);
    expect((err as Error).message).toContain(
      `declares 60000000016 bytes (shape [60000, 1000, 1000]), more than the ${DEFAULT_MAX_IDX_BYTES}-byte limit (maxBytes)`,
    );
    // Under maxBytes but more than deflate could ever expand 30 bytes to: refused unallocated.
    view.setUint32(4, 100);
    const growth = await peakRssGrowth(async () => {
      await expect(decodeIdx(gzipSync(header), { maxBytes: Infinity })).rejects.toThrow(
        /declares 100000016 bytes .* inflate to at most \d+/,
      );
    });
    expect(growth).toBeLessThan(50 * MB);
    // A lower limit applies to honest files too; a higher one lets them through.
    const file = encodeIdx({ dtype: 'uint8', shape: [100, 10], data: new Uint8Array(1000) });
    const gz = gzipSync(file);
    await expect(decodeIdx(gz, { maxBytes: 500 })).rejects.toThrow(/more than the 500-byte/);
    expect((await decodeIdx(gz, { maxBytes: 1012 })).shape).toEqual([100, 10]);
    await expect(decodeIdx(gz, { maxBytes: 0 })).rejects.toThrow(OptionError);
    await expect(decodeIdx(gz, { maxBytes: Number.NaN })).rejects.toThrow(OptionError);
  });

  it('still decodes honest files, multi-member ones included, and reports short ones', async () => {
    const data = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const file = encodeIdx({ dtype: 'uint8', shape: [3, 1000], data });
    const twoMembers = new Uint8Array(
      Buffer.concat([gzipSync(file.subarray(0, 1500)), gzipSync(file.subarray(1500))]),
    );
    const decoded = await decodeIdx(twoMembers);
    expect(Buffer.compare(decoded.data as Uint8Array, data)).toBe(0);
    const short = await decodeIdx(gzipSync(file.subarray(0, 2000))).catch((e: unknown) => e);
    expect(short).toBeInstanceOf(IdxFormatError);
    expect((short as Error).message).toMatch(/truncated payload/);
    const corrupt = gzipSync(file);
    corrupt[corrupt.length - 6] = (corrupt[corrupt.length - 6] as number) ^ 0xff; // damage the CRC
    await expect(decodeIdx(corrupt)).rejects.toThrow(/corrupt gzip data/);
  });
});

describe('loadMnist with gzip bombs', () => {
  it('refuses two bombs in a folder with under 100 MB of RSS growth', async () => {
    impl.gunzip = 'node';
    const dir = join(tmp, 'bombs');
    const labels = (n: number) =>
      encodeIdx({ dtype: 'uint8', shape: [n], data: new Uint8Array(n) });
    await mkdir(dir);
    await writeFile(join(dir, `${MNIST_FILES.trainImages}.gz`), bomb);
    await writeFile(join(dir, `${MNIST_FILES.testImages}.gz`), bomb);
    await writeFile(join(dir, MNIST_FILES.trainLabels), labels(10));
    await writeFile(join(dir, MNIST_FILES.testLabels), labels(10));
    let err: unknown;
    const growth = await peakRssGrowth(async () => {
      err = await loadMnist({ dir }).catch((e: unknown) => e);
    });
    console.log(
      `loadMnist, two 2 GiB bombs refused, peak RSS growth ${(growth / MB).toFixed(1)} MB`,
    );
    expect(err).toBeInstanceOf(IdxFormatError);
    expect((err as IdxFormatError).source).toMatch(/images-idx3-ubyte\.gz$/);
    expect(growth).toBeLessThan(100 * MB);

    const viaImageSet = await loadImageSet(bomb, labels(10)).catch((e: unknown) => e);
    expect(viaImageSet).toBeInstanceOf(IdxFormatError);
  });
});
