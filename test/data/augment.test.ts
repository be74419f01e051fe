import { describe, expect, test } from 'vitest';
import {
  type AugmentKey,
  augmentBatch,
  augmentSeed,
  checkAugmentOptions,
  DEFAULT_AUGMENT,
} from '../../src/data/augment.js';

const SIDE = 32;
const PIXELS = SIDE * SIDE;
const BG = -0.4242;
const KEY: AugmentKey = { seed: 7, epoch: 3, batch: 11 };

/** An elongated Gaussian blob (long axis horizontal) centred at (cx, cy), over background. */
function blob(cx = 15.5, cy = 15.5, sx = 6, sy = 2): Float32Array {
  const img = new Float32Array(PIXELS);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      img[y * SIDE + x] = BG + 3 * Math.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2) / 2);
    }
  }
  return img;
}

/** Mass, centre and orientation (degrees) of the ink (value above background). */
function moments(img: Float32Array) {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < PIXELS; i++) {
    const w = (img[i] as number) - BG;
    m += w;
    mx += w * (i % SIDE);
    my += w * Math.floor(i / SIDE);
  }
  const cx = mx / m;
  const cy = my / m;
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let i = 0; i < PIXELS; i++) {
    const w = (img[i] as number) - BG;
    const dx = (i % SIDE) - cx;
    const dy = Math.floor(i / SIDE) - cy;
    xx += w * dx * dx;
    yy += w * dy * dy;
    xy += w * dx * dy;
  }
  const angle = (0.5 * Math.atan2(2 * xy, xx - yy) * 180) / Math.PI;
  return { mass: m, cx, cy, angle, spread: (xx + yy) / m };
}

function repeat(img: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * PIXELS);
  for (let i = 0; i < n; i++) out.set(img, i * PIXELS);
  return out;
}

function run(src: Float32Array, n: number, options = DEFAULT_AUGMENT, key = KEY): Float32Array {
  const out = new Float32Array(n * PIXELS);
  augmentBatch(src, out, n, SIDE, BG, options, key);
  return out;
}

describe('augmentBatch', () => {
  test('no distortion asked: the images come back bit for bit', () => {
    const src = repeat(blob(12.3, 17.8), 4);
    expect(run(src, 4, {})).toEqual(src);
    expect(run(src, 4, { ...DEFAULT_AUGMENT, probability: 0 })).toEqual(src);
  });

  test('a pure function of (seed, epoch, batch, sample): no state between calls, no cross-talk', () => {
    const src = repeat(blob(), 8);
    const a = run(src, 8);
    expect(run(src, 8)).toEqual(a);
    // Each image differs from the others (its own draw) and from the source.
    const image = (x: Float32Array, i: number) => x.slice(i * PIXELS, (i + 1) * PIXELS);
    for (let i = 1; i < 8; i++) expect(image(a, i)).not.toEqual(image(a, 0));
    // Changing other images of the batch changes nothing for image 5.
    const other = src.slice();
    other.fill(1, 0, 5 * PIXELS);
    expect(image(run(other, 8), 5)).toEqual(image(a, 5));
    // A shorter batch: the same draws for the images it has.
    expect(run(src.subarray(0, 3 * PIXELS), 3)).toEqual(a.subarray(0, 3 * PIXELS));
    // Another epoch, batch or seed: other draws.
    for (const key of [
      { ...KEY, epoch: 4 },
      { ...KEY, batch: 12 },
      { ...KEY, seed: 8 },
    ]) {
      expect(image(run(src, 8, DEFAULT_AUGMENT, key), 0)).not.toEqual(image(a, 0));
    }
  });

  test('augmentSeed separates every coordinate of the key', () => {
    const seeds = new Set<number>();
    for (let epoch = 1; epoch <= 5; epoch++) {
      for (let batch = 0; batch < 20; batch++) {
        for (let s = 0; s < 20; s++) seeds.add(augmentSeed({ seed: 1, epoch, batch }, s));
      }
    }
    expect(seeds.size).toBe(5 * 20 * 20);
    expect(augmentSeed({ seed: 1, epoch: 1, batch: 0 }, 0)).not.toBe(
      augmentSeed({ seed: 2, epoch: 1, batch: 0 }, 0),
    );
  });

  test('rotation alone turns the ink by at most the range, both ways, keeping mass and centre', () => {
    const n = 64;
    const ref = moments(blob());
    const out = run(repeat(blob(), n), n, { rotation: 12 });
    const angles: number[] = [];
    for (let i = 0; i < n; i++) {
      const m = moments(out.subarray(i * PIXELS, (i + 1) * PIXELS));
      expect(Math.abs(m.mass / ref.mass - 1)).toBeLessThan(0.01);
      expect(Math.abs(m.cx - ref.cx)).toBeLessThan(0.05);
      expect(Math.abs(m.cy - ref.cy)).toBeLessThan(0.05);
      expect(Math.abs(m.spread / ref.spread - 1)).toBeLessThan(0.02);
      angles.push(m.angle);
    }
    expect(Math.max(...angles.map(Math.abs))).toBeLessThanOrEqual(12.3);
    expect(Math.max(...angles)).toBeGreaterThan(8);
    expect(Math.min(...angles)).toBeLessThan(-8);
  });

  test('translation alone shifts the centre by at most the range; scale alone resizes within it', () => {
    const n = 64;
    const ref = moments(blob());
    const shifted = run(repeat(blob(), n), n, { translate: 3 });
    const scaled = run(repeat(blob(), n), n, { scale: 0.2 });
    const dx: number[] = [];
    const zoom: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = moments(shifted.subarray(i * PIXELS, (i + 1) * PIXELS));
      expect(Math.abs(t.cx - ref.cx)).toBeLessThanOrEqual(3.01);
      expect(Math.abs(t.cy - ref.cy)).toBeLessThanOrEqual(3.01);
      expect(Math.abs(t.angle - ref.angle)).toBeLessThan(0.1);
      dx.push(t.cx - ref.cx);
      const s = moments(scaled.subarray(i * PIXELS, (i + 1) * PIXELS));
      zoom.push(Math.sqrt(s.spread / ref.spread));
    }
    expect(Math.max(...dx)).toBeGreaterThan(2);
    expect(Math.min(...dx)).toBeLessThan(-2);
    // Bilinear sampling blurs a little (spread grows slightly): a loose check on the range.
    expect(Math.min(...zoom)).toBeGreaterThan(0.78);
    expect(Math.max(...zoom)).toBeLessThan(1.23);
    expect(Math.max(...zoom) - Math.min(...zoom)).toBeGreaterThan(0.25);
  });

  test('what comes from outside the image is background; elastic fields stay smooth and bounded', () => {
    const ones = new Float32Array(PIXELS).fill(1);
    const out = run(ones, 1, { translate: 1e3 });
    // A shift of up to 1000 pixels almost surely moves the image entirely off the canvas.
    expect(Math.min(...out)).toBe(Math.fround(BG));
    expect(Math.max(...out)).toBe(Math.fround(BG));
    const elastic = run(repeat(blob(), 16), 16, { elastic: 1.5 });
    const affine = run(repeat(blob(), 16), 16, {});
    let moved = 0;
    for (let i = 0; i < elastic.length; i++) {
      moved = Math.max(moved, Math.abs((elastic[i] as number) - (affine[i] as number)));
    }
    // Displacements of at most 1.5 px per axis on a blob whose steepest slopes are 3/2 e^-1/2
    // (about 0.91) per pixel vertically and 3/6 e^-1/2 (0.30) horizontally.
    expect(moved).toBeGreaterThan(0.05);
    expect(moved).toBeLessThan(1.5 * (0.91 + 0.31));
  });

  test('options are checked', () => {
    expect(() => checkAugmentOptions({ rotation: -1 })).toThrow(RangeError);
    expect(() => checkAugmentOptions({ scale: 1 })).toThrow(/scale/);
    expect(() => checkAugmentOptions({ translate: Number.NaN })).toThrow(/translate/);
    expect(() => checkAugmentOptions({ elasticGrid: 1 })).toThrow(/elasticGrid/);
    expect(() => checkAugmentOptions({ probability: 2 })).toThrow(/probability/);
    expect(checkAugmentOptions({ rotation: 5 })).toEqual({
      rotation: 5,
      scale: 0,
      shear: 0,
      translate: 0,
      elastic: 0,
      elasticGrid: 4,
      probability: 1,
    });
    const src = new Float32Array(PIXELS);
    expect(() => augmentBatch(src, new Float32Array(10), 1, SIDE, BG, {}, KEY)).toThrow(RangeError);
  });
});
