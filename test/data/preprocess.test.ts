import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  imageAt,
  loadMnist,
  MNIST_MEAN,
  MNIST_STD,
  normalizationTable,
  normalizeInto,
  prepareImages,
  preprocessImage,
  resizeBilinearU8,
} from '../../src/data/index.js';
import type { ImageSet } from '../../src/data/mnist.js';

const sha256 = (b: Uint8Array | Float32Array) =>
  createHash('sha256')
    .update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
    .digest('hex');

/** Pillow's fixed-point weight for a real weight w (22 fractional bits, rounded half away). */
const fixed = (w: number) => Math.trunc(0.5 + w * 2 ** 22);
/** Pillow's rounding of one output pixel from taps (value, real weight). */
const pixel = (...taps: [number, number][]) =>
  (2 ** 21 + taps.reduce((s, [v, w]) => s + v * fixed(w), 0)) >> 22;

describe('resizeBilinearU8 (Pillow BILINEAR, bit-exact)', () => {
  it('upsamples 2 → 4 pixels as computed by hand', () => {
    // scale 0.5, support 1: centres 0.25, 0.75, 1.25, 1.75; taps outside the image are
    // dropped and the weights renormalised (so the ends copy the edge pixels).
    expect(Array.from(resizeBilinearU8(new Uint8Array([0, 255]), 1, 2, 1, 4))).toEqual([
      0,
      pixel([0, 0.75], [255, 0.25]), // 64 (63.75 + 0.5 rounded down by the fixed point)
      pixel([0, 0.25], [255, 0.75]), // 191
      255,
    ]);
    expect(pixel([0, 0.75], [255, 0.25])).toBe(64);
    expect(Array.from(resizeBilinearU8(new Uint8Array([0, 255]), 2, 1, 4, 1))).toEqual([
      0, 64, 191, 255,
    ]);
  });

  it('downsamples 3 → 2 pixels with the widened filter, as computed by hand', () => {
    // scale 1.5: support 1.5, weights (0.625, 0.375) and (0.375, 0.625) after renormalising.
    const out = resizeBilinearU8(new Uint8Array([10, 200, 30]), 1, 3, 1, 2);
    expect(Array.from(out)).toEqual([
      pixel([10, 0.625], [200, 0.375]),
      pixel([200, 0.375], [30, 0.625]),
    ]);
    expect(Array.from(out)).toEqual([81, 94]);
  });

  it('rounds after each pass (horizontal, then vertical), as Pillow does', () => {
    const out = resizeBilinearU8(new Uint8Array([0, 255, 255, 0]), 2, 2, 4, 4);
    // Pillow 9.4 gives exactly this; 96 is round(0.75 * 64 + 0.25 * 191), not the 2-D formula.
    expect(Array.from(out)).toEqual([
      0, 64, 191, 255, 64, 96, 159, 191, 191, 159, 96, 64, 255, 191, 64, 0,
    ]);
    const b = Uint8Array.from({ length: 12 }, (_, i) => i * 20); // 3 x 4
    expect(Array.from(resizeBilinearU8(b, 3, 4, 2, 5))).toEqual([
      30, 44, 60, 76, 90, 130, 144, 160, 176, 190,
    ]);
  });

  it('keeps constant images constant and is the identity at the same size', () => {
    for (const v of [0, 1, 127, 254, 255]) {
      for (const [h, w, H, W] of [
        [28, 28, 32, 32],
        [28, 28, 13, 9],
        [5, 3, 40, 41],
      ] as const) {
        const out = resizeBilinearU8(new Uint8Array(h * w).fill(v), h, w, H, W);
        expect(out.length).toBe(H * W);
        expect(out.every((x) => x === v)).toBe(true);
      }
    }
    const img = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 7919) & 0xff);
    expect(resizeBilinearU8(img, 28, 28, 28, 28)).toEqual(img);
  });

  it('validates its arguments', () => {
    expect(() => resizeBilinearU8(new Uint8Array(3), 2, 2, 4, 4)).toThrow(/src has 3 pixels/);
    expect(() => resizeBilinearU8(new Uint8Array(4), 2, 2, 0, 4)).toThrow(RangeError);
    expect(() => resizeBilinearU8(new Uint8Array(4), 2, 2.5, 4, 4)).toThrow(RangeError);
  });
});

describe('normalizationTable and normalizeInto', () => {
  it("equals PyTorch's ToTensor + Normalize((0.1307,), (0.3081,)) bit for bit", () => {
    const table = normalizationTable(MNIST_MEAN, MNIST_STD);
    // From torch 1.13: torch.arange(256).float().div(255).sub_(0.1307).div_(0.3081), float32.
    expect(sha256(table)).toBe('0103dbab6b16bfcaea0aa75d7377b4b22bb6792081600921bee4a17ff9c4d33e');
    expect(table[0]).toBe(-0.4242129623889923);
    expect(table[1]).toBe(-0.4114847183227539);
    expect(table[128]).toBe(1.2050011157989502);
    expect(table[255]).toBe(2.821486711502075);
    for (let v = 0; v < 256; v++) {
      expect(table[v]).toBeCloseTo((v / 255 - 0.1307) / 0.3081, 6);
    }
  });

  it('normalizes into a buffer and validates sizes', () => {
    const table = normalizationTable(0.5, 0.5);
    const dst = new Float32Array(4).fill(9);
    normalizeInto(new Uint8Array([0, 255, 51]), dst, table);
    expect(Array.from(dst)).toEqual([
      -1,
      1,
      Math.fround(Math.fround(Math.fround(51 / 255) - 0.5) / 0.5),
      9,
    ]);
    expect(() => normalizeInto(new Uint8Array(5), dst, table)).toThrow(RangeError);
    expect(() => normalizeInto(new Uint8Array(1), dst, new Float32Array(10))).toThrow(RangeError);
    expect(() => normalizationTable(0, 0)).toThrow(RangeError);
    expect(() => normalizationTable(Number.NaN, 1)).toThrow(RangeError);
  });
});

describe('prepareImages', () => {
  const set: ImageSet = {
    images: Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => (i * 31) & 0xff),
    labels: new Uint8Array([1, 2, 3]),
    count: 3,
    height: 28,
    width: 28,
  };

  it('resizes every image like resizeBilinearU8, with the default MNIST normalisation', () => {
    const p = prepareImages(set);
    expect([p.count, p.height, p.width, p.mean, p.std]).toEqual([3, 32, 32, 0.1307, 0.3081]);
    expect(p.images.length).toBe(3 * 1024);
    expect(p.labels).toBe(set.labels);
    for (let i = 0; i < 3; i++) {
      expect(p.images.subarray(i * 1024, (i + 1) * 1024)).toEqual(
        resizeBilinearU8(imageAt(set, i), 28, 28, 32, 32),
      );
    }
  });

  it("pads 28x28 into a zero 32x32 frame with 'pad'", () => {
    const p = prepareImages(set, { resize: 'pad' });
    expect([p.height, p.width]).toEqual([32, 32]);
    for (let i = 0; i < 3; i++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          const expected = inside ? set.images[i * 784 + (y - 2) * 28 + (x - 2)] : 0;
          if (p.images[i * 1024 + y * 32 + x] !== expected) throw new Error(`pixel ${i},${y},${x}`);
        }
      }
    }
    expect(() => prepareImages(set, { resize: 'pad', size: 20 })).toThrow(/cannot fit 28x28/);
  });

  it("keeps the images with 'none'", () => {
    const p = prepareImages(set, { resize: 'none', mean: 0, std: 1 });
    expect(p.images).toBe(set.images);
    expect([p.height, p.width, p.mean, p.std]).toEqual([28, 28, 0, 1]);
    expect(() => prepareImages(set, { resize: 'none', size: 32 })).toThrow(RangeError);
  });

  it('rejects invalid options', () => {
    expect(() => prepareImages(set, { size: 0 })).toThrow(RangeError);
    expect(() => prepareImages(set, { std: -1 })).toThrow(RangeError);
    expect(() => prepareImages(set, { resize: 'nearest' as 'none' })).toThrow(RangeError);
  });

  it('preprocessImage equals prepareImages followed by normalisation', () => {
    const one = preprocessImage(imageAt(set, 2), 28, 28);
    const expected = new Float32Array(1024);
    normalizeInto(
      resizeBilinearU8(imageAt(set, 2), 28, 28, 32, 32),
      expected,
      normalizationTable(0.1307, 0.3081),
    );
    expect(one).toEqual(expected);
    expect(preprocessImage(imageAt(set, 2), 28, 28, { resize: 'pad' }).length).toBe(1024);
    expect(() => preprocessImage(new Uint8Array(10), 28, 28)).toThrow(RangeError);
  });
});

describe('on the real MNIST data', () => {
  it('loads both splits and prepares the training set, matching Pillow (times logged)', async () => {
    const t0 = performance.now();
    const { train } = await loadMnist();
    const t1 = performance.now();
    const prepared = prepareImages(train);
    const t2 = performance.now();
    console.log(
      `load MNIST (both splits) ${(t1 - t0).toFixed(0)} ms + prepare 60,000 train images ${(t2 - t1).toFixed(0)} ms = ${(t2 - t0).toFixed(0)} ms`,
    );
    // SHA-256 of the first 1000 training digits resized to 32x32 by Pillow 9.4
    // (Image.fromarray(x, 'L').resize((32, 32), Image.BILINEAR)), computed once.
    expect(sha256(prepared.images.subarray(0, 1000 * 1024))).toBe(
      'f8111f717e185145abad44990ee68db211f791bb3106945f11326197f0ba9046',
    );
  });
});
