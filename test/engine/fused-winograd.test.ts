import { beforeAll, describe, expect, it } from 'vitest';
import { detectEnvironment } from '../../src/backend/env.js';
import { mulberry32 } from '../../src/data/batches.js';
import { loadMnist } from '../../src/data/mnist.js';
import { normalizationTable, normalizeInto, prepareImages } from '../../src/data/preprocess.js';
import type { FusedVariant, WasmLeNet } from '../../src/engine/fused/kernels.js';
import { loadFusedLeNet } from '../../src/engine/fused/load.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { randomLeNetParams } from '../helpers/fused-lenet.js';

// The fused module's inference runs conv2 by Winograd's F(4x4, 5x5) (asm/lenet.ts): other sums
// than the direct kernel's, through transformed filters it caches. Checked here against a
// double-precision LeNet in plain JavaScript: the logits' error on real digits with the shipped
// weights and on random models, the predicted digit, and that the cached filters follow every way
// the weights change (setParams, a training step, setParameterBytes, one weight changed).
// test/engine/fused.test.ts compares the same forward pass with tfjs at its tolerance.
//
// The error is measured relative to the largest |logit| of the image (at least 1), the scale
// float32 rounds at. Measured on the 500 digits below: 1.4e-6 (plain SIMD) and 1.0e-6 (relaxed)
// with Winograd, 8.0e-7 and 7.6e-7 with the direct kernel; on the random models up to 2.1e-6.

/** Largest |logit - exact logit| allowed, over the image's largest |logit| (at least 1). */
const REL_TOL = 1e-5;

/** The largest error of `n` images' logits, each relative to its own scale (see REL_TOL). */
function worstError(
  params: readonly Float32Array[],
  images: Float32Array,
  logits: Float32Array,
  n: number,
): { worst: number; sameDigit: number } {
  let worst = 0;
  let sameDigit = 0;
  for (let s = 0; s < n; s++) {
    const exact = exactLogits(params, images.subarray(s * 1024, (s + 1) * 1024));
    const scale = Math.max(1, ...Array.from(exact, Math.abs));
    for (let c = 0; c < 10; c++) {
      const error = Math.abs((logits[s * 10 + c] as number) - (exact[c] as number));
      worst = Math.max(worst, error / scale);
    }
    if (argmax(logits, s * 10) === argmax(exact, 0)) sameDigit++;
  }
  return { worst, sameDigit };
}

/**
 * LeNet-5's logits in double precision, directly from the definition (tfjs layouts: NHWC
 * activations, HWIO kernels, [in, out] dense kernels).
 */
function exactLogits(params: readonly Float32Array[], image: Float32Array): Float64Array {
  const [c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b] = params as Float32Array[] as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const conv = (x: Float64Array, side: number, cin: number, w: Float32Array, cout: number) => {
    const o = side - 4;
    const y = new Float64Array(o * o * cout);
    for (let i = 0; i < o; i++) {
      for (let j = 0; j < o; j++) {
        for (let kh = 0; kh < 5; kh++) {
          for (let kw = 0; kw < 5; kw++) {
            for (let ci = 0; ci < cin; ci++) {
              const v = x[((i + kh) * side + j + kw) * cin + ci] as number;
              const wk = ((kh * 5 + kw) * cin + ci) * cout;
              for (let co = 0; co < cout; co++) {
                const at = (i * o + j) * cout + co;
                y[at] = (y[at] as number) + v * (w[wk + co] as number);
              }
            }
          }
        }
      }
    }
    return y;
  };
  const pool = (x: Float64Array, side: number, c: number, bias: Float32Array, relu: boolean) => {
    const o = side / 2;
    const y = new Float64Array(o * o * c);
    for (let i = 0; i < o; i++) {
      for (let j = 0; j < o; j++) {
        for (let k = 0; k < c; k++) {
          const at = (r: number, s: number) => x[(r * side + s) * c + k] as number;
          const m = Math.max(
            at(2 * i, 2 * j),
            at(2 * i, 2 * j + 1),
            at(2 * i + 1, 2 * j),
            at(2 * i + 1, 2 * j + 1),
          );
          const v = m + (bias[k] as number);
          y[(i * o + j) * c + k] = relu ? Math.max(v, 0) : v;
        }
      }
    }
    return y;
  };
  const dense = (x: Float64Array, w: Float32Array, b: Float32Array, relu: boolean) => {
    const n = b.length;
    const y = Float64Array.from(b);
    for (let k = 0; k < x.length; k++) {
      for (let j = 0; j < n; j++)
        y[j] = (y[j] as number) + (x[k] as number) * (w[k * n + j] as number);
    }
    return relu ? y.map((v) => Math.max(v, 0)) : y;
  };
  let h = pool(conv(Float64Array.from(image), 32, 1, c1w, 6), 28, 6, c1b, true);
  h = pool(conv(h, 14, 6, c2w, 16), 10, 16, c2b, false);
  h = dense(h, f1w, f1b, true);
  h = dense(h, f2w, f2b, true);
  return dense(h, f3w, f3b, false);
}

const argmax = (v: ArrayLike<number>, from: number) => {
  let best = 0;
  for (let c = 1; c < 10; c++) if ((v[from + c] as number) > (v[from + best] as number)) best = c;
  return best;
};

const support = detectEnvironment().wasm;
const variants: { variant: FusedVariant; supported: boolean }[] = [
  { variant: 'simd', supported: support.simd },
  { variant: 'relaxed-simd', supported: support.relaxedSimd },
];

let digits: Float32Array;
let shipped: Float32Array[];
const DIGITS = 500;

beforeAll(async () => {
  const { test: testSet } = await loadMnist();
  const prepared = prepareImages({ ...testSet, count: DIGITS });
  digits = new Float32Array(DIGITS * 1024);
  normalizeInto(
    prepared.images.subarray(0, DIGITS * 1024),
    digits,
    normalizationTable(prepared.mean, prepared.std),
  );
  shipped = await (await loadPretrained()).readWeights();
});

for (const { variant, supported } of variants) {
  describe.skipIf(!supported)(`fused inference (Winograd conv2), ${variant}`, () => {
    const load = () => loadFusedLeNet({ relaxedSimd: variant === 'relaxed-simd' });

    it(`is within ${REL_TOL} of exact logits on ${DIGITS} test digits with the shipped weights, and picks the same digits`, async () => {
      const net = await load();
      net.setParams(shipped);
      const { worst, sameDigit } = worstError(shipped, digits, net.forward(digits, DIGITS), DIGITS);
      expect(worst).toBeLessThan(REL_TOL);
      expect(sameDigit).toBe(DIGITS);
      net.dispose();
    });

    it.each([1, 2, 3])(
      'is within tolerance on a random model and random images, seed %i',
      async (seed) => {
        const net = await load();
        const params = randomLeNetParams(seed);
        net.setParams(params);
        const rand = mulberry32(100 + seed);
        const n = 20;
        const images = Float32Array.from({ length: n * 1024 }, () => 4 * rand() - 1);
        const { worst } = worstError(params, images, net.forward(images, n), n);
        expect(worst).toBeLessThan(REL_TOL);
        net.dispose();
      },
    );

    /** The logits of a fresh instance given `params`: nothing cached from other weights. */
    const freshLogits = async (params: Float32Array[], images: Float32Array, n: number) => {
      const net = await load();
      net.setParams(params);
      const logits = net.forward(images, n);
      net.dispose();
      return logits;
    };

    it('follows new weights from setParams, bit for bit as a fresh instance', async () => {
      const net = await load();
      const images = digits.subarray(0, 16 * 1024);
      net.setParams(randomLeNetParams(4));
      net.forward(images, 16);
      const next = randomLeNetParams(5);
      net.setParams(next);
      expect(net.forward(images, 16)).toEqual(await freshLogits(next, images, 16));
      net.dispose();
    });

    it('follows a change of one conv2 weight', async () => {
      const net = await load();
      const images = digits.subarray(0, 8 * 1024);
      const params = randomLeNetParams(6);
      net.setParams(params);
      const before = net.forward(images, 8);
      const changed = params.map((p) => p.slice());
      const conv2 = changed[2] as Float32Array;
      conv2[conv2.length - 1] = (conv2[conv2.length - 1] as number) + 0.5;
      net.setParams(changed);
      const after = net.forward(images, 8);
      expect(after).not.toEqual(before);
      expect(after).toEqual(await freshLogits(changed, images, 8));
      net.dispose();
    });

    it('follows training steps and setParameterBytes', async () => {
      const net = await load();
      const images = digits.subarray(0, 32 * 1024);
      const labels = Uint8Array.from({ length: 32 }, (_, i) => i % 10);
      net.setParams(randomLeNetParams(7, 0.5));
      net.forward(images, 32);
      for (let i = 0; i < 3; i++) net.trainStep(images, labels, 32);
      const trained = net.getParams();
      const afterSteps = net.forward(images, 32);
      expect(afterSteps).toEqual(await freshLogits(trained, images, 32));
      // Another instance takes the weights as bytes in the module's layout, as workers do.
      const other: WasmLeNet = await load();
      other.setParams(randomLeNetParams(8));
      other.forward(images, 32);
      other.setParameterBytes(net.parameterBytes());
      expect(other.forward(images, 32)).toEqual(afterSteps);
      other.dispose();
      net.dispose();
    });

    it("reads no lanes of a neighbouring image: an image's logits do not depend on the next", async () => {
      const net = await load();
      net.setParams(shipped);
      const alone = net.forward(digits.subarray(0, 1024), 1);
      const pair = new Float32Array(2 * 1024);
      pair.set(digits.subarray(0, 1024));
      pair.fill(Number.NaN, 1024);
      const logits = net.forward(pair, 2);
      expect(logits.subarray(0, 10)).toEqual(alone);
      expect(logits.subarray(10, 20).every(Number.isNaN)).toBe(true);
      net.dispose();
    });
  });
}
