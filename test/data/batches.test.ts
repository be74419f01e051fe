import { describe, expect, it } from 'vitest';
import {
  type Batch,
  batchCount,
  batches,
  mulberry32,
  normalizationTable,
  type PreparedSet,
  shuffledIndices,
  splitValidation,
} from '../../src/data/index.js';

/** `count` 2x3 images; image i is filled with i & 0xff, and its label is i % 10. */
function makeSet(count: number): PreparedSet {
  const images = new Uint8Array(count * 6);
  for (let i = 0; i < count; i++) images.fill(i & 0xff, i * 6, (i + 1) * 6);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { images, labels, count, height: 2, width: 3, mean: 0.1307, std: 0.3081 };
}

/** The sample index of each image of a batch, recovered from its first pixel (count <= 256). */
function sampleIds(set: PreparedSet, batch: Batch): number[] {
  const table = normalizationTable(set.mean, set.std);
  return Array.from({ length: batch.size }, (_, i) => table.indexOf(batch.images[i * 6] as number));
}

describe('mulberry32 and shuffledIndices', () => {
  it('mulberry32 is deterministic and uniform enough', () => {
    const a = mulberry32(123);
    const b = mulberry32(123);
    const xs = Array.from({ length: 10000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(mulberry32(124)()).not.toBe(mulberry32(123)());
  });

  it('same seed → same order; different seed → different order; each index once', () => {
    const a = shuffledIndices(1000, 7);
    expect(shuffledIndices(1000, 7)).toEqual(a);
    expect(shuffledIndices(1000, 8)).not.toEqual(a);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(a.subarray(0, 20))).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(shuffledIndices(0, 1).length).toBe(0);
    expect(Array.from(shuffledIndices(1, 1))).toEqual([0]);
    expect(() => shuffledIndices(-1, 1)).toThrow(RangeError);
  });
});

describe('splitValidation', () => {
  const set = makeSet(100);

  it('splits into disjoint copies that cover every sample, deterministically', () => {
    const { train, validation } = splitValidation(set, { size: 20, seed: 3 });
    expect([train.count, validation.count]).toEqual([80, 20]);
    expect(train.images.length).toBe(80 * 6);
    expect(validation.labels.length).toBe(20);
    expect([train.height, train.width, train.mean, train.std]).toEqual([2, 3, 0.1307, 0.3081]);
    const ids = (s: PreparedSet) =>
      Array.from({ length: s.count }, (_, i) => s.images[i * 6] as number);
    const all = [...ids(train), ...ids(validation)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Labels travel with their images; each subset keeps the original order.
    for (const s of [train, validation]) {
      for (let i = 0; i < s.count; i++) expect(s.labels[i]).toBe((s.images[i * 6] as number) % 10);
      expect(ids(s)).toEqual([...ids(s)].sort((a, b) => a - b));
    }
    expect(ids(splitValidation(set, { size: 20, seed: 3 }).validation)).toEqual(ids(validation));
    expect(ids(splitValidation(set, { size: 20, seed: 4 }).validation)).not.toEqual(
      ids(validation),
    );
    // Copies, not views.
    train.images[0] = 255;
    expect(set.images[0]).toBe(0);
  });

  it('takes the last samples without shuffle, and validates size', () => {
    const { train, validation } = splitValidation(set, { size: 10, shuffle: false });
    expect(validation.images[0]).toBe(90);
    expect(train.images[train.images.length - 1]).toBe(89);
    expect(() => splitValidation(set, { size: 0 })).toThrow(RangeError);
    expect(() => splitValidation(set, { size: 100 })).toThrow(RangeError);
    expect(() => splitValidation(set, { size: 2.5 })).toThrow(RangeError);
  });
});

describe('batches', () => {
  const set = makeSet(10);

  it('yields every sample once in order, with a smaller last batch', () => {
    const all = [...batches(set, { batchSize: 4 })];
    expect(all.map((b) => [b.index, b.size])).toEqual([
      [0, 4],
      [1, 4],
      [2, 2],
    ]);
    expect(all.flatMap((b) => sampleIds(set, b))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(all[2]?.images.length).toBe(2 * 6);
    expect(Array.from(all[2]?.labels ?? [])).toEqual([8, 9]);
    expect(batchCount(set, 4)).toBe(3);
  });

  it('drops the remainder on request', () => {
    const all = [...batches(set, { batchSize: 4, dropRemainder: true })];
    expect(all.map((b) => b.size)).toEqual([4, 4]);
    expect(batchCount(set, 4, true)).toBe(2);
    expect(batchCount({ count: 50000 }, 64)).toBe(782);
    expect(batchCount({ count: 50000 }, 64, true)).toBe(781);
    expect([...batches(set, { batchSize: 20, dropRemainder: true })]).toHaveLength(0);
  });

  it('shuffles by seed: same seed same order, each index once per epoch', () => {
    const big = makeSet(200);
    const order = (seed: number) =>
      [...batches(big, { batchSize: 32, shuffle: true, seed })].flatMap((b) => sampleIds(big, b));
    const a = order(5);
    expect(order(5)).toEqual(a);
    expect(order(6)).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 200 }, (_, i) => i));
    // Labels follow their images.
    for (const b of batches(big, { batchSize: 32, shuffle: true, seed: 5 })) {
      sampleIds(big, b).forEach((id, i) => {
        expect(b.labels[i]).toBe(id % 10);
      });
    }
    // Without a seed, two epochs differ (a random seed each call).
    const r1 = [...batches(big, { batchSize: 200, shuffle: true })][0] as Batch;
    const r2 = [...batches(big, { batchSize: 200, shuffle: true })][0] as Batch;
    expect(sampleIds(big, r1)).not.toEqual(sampleIds(big, r2));
  });

  it('normalizes pixels as (v / 255 - mean) / std in float32, NHWC', () => {
    const s: PreparedSet = {
      images: new Uint8Array([0, 51, 255, 128, 1, 254]),
      labels: new Uint8Array([3]),
      count: 1,
      height: 2,
      width: 3,
      mean: 0.1307,
      std: 0.3081,
    };
    const [b] = [...batches(s, { batchSize: 8 })];
    const f = Math.fround;
    const expected = Array.from(s.images, (v) => f(f(f(v / 255) - f(0.1307)) / f(0.3081)));
    expect(Array.from(b?.images ?? [])).toEqual(expected);
    for (let i = 0; i < 6; i++) {
      expect(b?.images[i]).toBeCloseTo(((s.images[i] as number) / 255 - 0.1307) / 0.3081, 6);
    }
    expect(b?.size).toBe(1);
  });

  it('allocates per batch by default, and recycles two buffers with reuseBuffers', () => {
    const fresh = [...batches(set, { batchSize: 3 })];
    expect(new Set(fresh.map((b) => b.images.buffer)).size).toBe(fresh.length);
    expect(sampleIds(set, fresh[0] as Batch)).toEqual([0, 1, 2]); // still intact

    const seen: { buffer: ArrayBufferLike; ids: number[] }[] = [];
    for (const b of batches(set, { batchSize: 3, reuseBuffers: true })) {
      seen.push({ buffer: b.images.buffer, ids: sampleIds(set, b) });
    }
    expect(seen.map((s) => s.ids)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    expect(new Set(seen.map((s) => s.buffer)).size).toBe(2);
    expect(seen[0]?.buffer).toBe(seen[2]?.buffer);
  });

  it('validates batchSize at the call', () => {
    expect(() => batches(set, { batchSize: 0 })).toThrow(RangeError);
    expect(() => batches(set, { batchSize: 1.5 })).toThrow(RangeError);
    expect(() => batchCount(set, -1)).toThrow(RangeError);
  });
});
