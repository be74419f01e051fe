import { describe, expect, it } from 'vitest';
import { detectEnvironment } from '../../src/backend/env.js';
import { mulberry32 } from '../../src/data/batches.js';
import { compileFusedModule } from '../../src/engine/fused/load.js';
import {
  isBlankArray,
  MIN_INK_PIXELS,
  markBlank,
  newScores,
  scoreLogits,
} from '../../src/engine/scores.js';

// The fused module scores a prediction itself (asm/scores.ts): each digit's label, softmax
// probabilities and blank flag, so a split prediction leaves no per-digit work to the calling
// thread. Checked here through the module's raw exports, with logits and pixels written
// directly, against engine/scores.ts (what the tfjs and WebGPU engines use): the same labels and
// blank flags, probabilities within one f32 step (the exponentials are AssemblyScript's and
// V8's), on the edge cases a forward pass can produce (ties, NaN, infinities, huge spreads) and
// ink counts at the threshold, anywhere in the digit.

interface RawKernels {
  memory: WebAssembly.Memory;
  reserve(n: number): number;
  logitsPtr(): number;
  pixelsPtr(): number;
  scoresPtr(): number;
  scorePixels(n: number, side: number, minInk: number): void;
}

/** The module's scores of `logits` ([n][10]) and `pixels` (n digits of `side`²). */
function scoreInModule(k: RawKernels, logits: Float32Array, pixels: Uint8Array, side: number) {
  const n = logits.length / 10;
  expect(k.reserve(n)).toBeTruthy();
  new Float32Array(k.memory.buffer, k.logitsPtr(), n * 10).set(logits);
  new Uint8Array(k.memory.buffer, k.pixelsPtr(), n * side * side).set(pixels);
  k.scorePixels(n, side, MIN_INK_PIXELS);
  const scores = new Uint8Array(k.memory.buffer, k.scoresPtr(), 2 * n);
  return {
    labels: scores.slice(0, n),
    blank: scores.slice(n),
    probabilities: new Float32Array(k.memory.buffer, k.logitsPtr(), n * 10).slice(),
  };
}

/** Asserts the module's scores equal engine/scores.ts' (probabilities within one f32 step). */
function expectSameScores(k: RawKernels, logits: Float32Array, pixels: Uint8Array, side: number) {
  const n = logits.length / 10;
  const got = scoreInModule(k, logits, pixels, side);
  const want = newScores(n);
  markBlank(pixels, side, n, want.blank);
  scoreLogits(logits, n, want);
  expect(got.labels).toEqual(want.labels);
  expect(got.blank).toEqual(want.blank);
  for (let i = 0; i < n * 10; i++) {
    const a = got.probabilities[i] as number;
    const b = want.probabilities[i] as number;
    if (Number.isNaN(b)) expect(a).toBeNaN();
    else expect(Math.abs(a - b)).toBeLessThanOrEqual(b * 2 ** -23);
  }
  return got;
}

const support = detectEnvironment().wasm;
const variants = [
  { relaxedSimd: false, supported: support.simd },
  { relaxedSimd: true, supported: support.relaxedSimd },
];

for (const { relaxedSimd, supported } of variants) {
  describe.skipIf(!supported)(
    `scores inside the fused module (relaxed SIMD: ${relaxedSimd})`,
    () => {
      const kernels = async () => {
        const { module } = await compileFusedModule({ relaxedSimd });
        return new WebAssembly.Instance(module, {}).exports as unknown as RawKernels;
      };

      it('labels and probabilities match engine/scores.ts on 2,000 random rows and edge cases', async () => {
        const k = await kernels();
        const random = mulberry32(3);
        const rows: number[][] = [];
        for (let i = 0; i < 2000; i++) {
          const spread = [0.1, 3, 30, 300][i % 4] as number;
          rows.push(Array.from({ length: 10 }, () => (random() - 0.5) * spread));
        }
        const { NaN: nan, POSITIVE_INFINITY: inf, NEGATIVE_INFINITY: ninf } = Number;
        const edge = [
          [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], // all tied: the first
          [0, 5, 2, 5, 1, 0, 0, 0, 0, 0], // two maxima: the first
          [nan, 0, 3, 1, 0, 0, 0, 0, 0, 0], // NaN first: the largest number
          [0, 0, 0, 0, 0, 0, 0, 0, 0, nan],
          new Array(10).fill(nan),
          [ninf, 2, ninf, 1, 0, 0, 0, 0, 0, 0],
          [0, 0, inf, 0, 0, 0, 0, 0, 0, 0],
          new Array(10).fill(ninf),
          [3e38, -3e38, 0, 1, 2, 3, 4, 5, 6, 7],
          [-1e-30, -2e-30, 0, 0, 0, 0, 0, 0, 0, 1e-45],
        ];
        rows.push(...edge);
        const logits = Float32Array.from(rows.flat());
        const n = rows.length;
        const got = expectSameScores(k, logits, new Uint8Array(n * 784), 28);
        expect(Array.from(got.labels.subarray(2000))).toEqual([0, 1, 2, 0, 0, 1, 2, 0, 0, 9]);
      });

      it('blank flags: fewer than MIN_INK_PIXELS pixels >= 128, wherever they are, on any side', async () => {
        const k = await kernels();
        for (const side of [28, 32, 30, 5]) {
          const bytes = side * side;
          const digits: Uint8Array[] = [];
          const random = mulberry32(side);
          const place = (count: number, value: number) => {
            const d = new Uint8Array(bytes).fill(127);
            for (let j = 0; j < count; j++) d[Math.floor(random() * bytes)] = value;
            return d;
          };
          for (const count of [0, 1, 4, 5, 6, 40]) {
            for (const value of [127, 128, 255]) digits.push(place(count, value));
          }
          // At the threshold, in the last bytes (the part past whole 16-byte vectors for odd sides).
          for (const ink of [MIN_INK_PIXELS - 1, MIN_INK_PIXELS]) {
            const tail = new Uint8Array(bytes);
            tail.fill(200, bytes - ink);
            digits.push(tail);
          }
          const pixels = new Uint8Array(digits.length * bytes);
          digits.forEach((d, i) => {
            pixels.set(d, i * bytes);
          });
          const logits = new Float32Array(digits.length * 10);
          const got = expectSameScores(k, logits, pixels, side);
          const blankCount = got.blank.reduce((a, b) => a + b, 0);
          // Neither all nor none: the cases straddle the threshold.
          expect(blankCount).toBeGreaterThan(0);
          expect(blankCount).toBeLessThan(digits.length);
          expect(Array.from(got.blank.subarray(digits.length - 2))).toEqual([1, 0]);
          digits.forEach((d, i) => {
            expect(got.blank[i]).toBe(isBlankArray(d) ? 1 : 0);
          });
        }
      });
    },
  );
}
