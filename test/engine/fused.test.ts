import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { detectEnvironment } from '../../src/backend/env.js';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/data/batches.js';
import { FusedLeNetError, type FusedVariant } from '../../src/engine/fused/kernels.js';
import { loadFusedLeNet } from '../../src/engine/fused/load.js';
import { LENET_SHAPES, randomLeNetParams } from '../helpers/fused-lenet.js';

// The fused kernels against an independent tfjs-core LeNet with the same layouts, on the cpu
// backend: logits, loss, correct count, every gradient (also where max-pool windows tie), and
// Adam over several steps, at batch sizes around the kernels' blocking. Each build the engine
// validates runs the suite; in Node 20 the relaxed-SIMD build is instead compared with the plain
// one in a child process started with the V8 flag that enables it.

const TOL = 1e-4;
const fusedDir = fileURLToPath(new URL('../../src/engine/fused/', import.meta.url));

function randomBatch(n: number, seed: number): { images: Float32Array; labels: Uint8Array } {
  const rand = mulberry32(seed);
  return {
    images: Float32Array.from({ length: n * 1024 }, () => 2 * rand() - 1),
    labels: Uint8Array.from({ length: n }, () => Math.floor(rand() * 10)),
  };
}

function referenceLogits(params: tf.Tensor[], images: Float32Array, n: number): tf.Tensor2D {
  const [c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b] = params as [
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor2D,
    tf.Tensor1D,
    tf.Tensor2D,
    tf.Tensor1D,
    tf.Tensor2D,
    tf.Tensor1D,
  ];
  const x = tf.tensor4d(images.subarray(0, n * 1024), [n, 32, 32, 1]);
  let h: tf.Tensor4D = tf.relu(tf.add<tf.Tensor4D>(tf.conv2d(x, c1w, 1, 'valid'), c1b));
  h = tf.maxPool(h, 2, 2, 'valid');
  h = tf.add(tf.conv2d(h, c2w, 1, 'valid'), c2b); // no activation after conv2
  h = tf.maxPool(h, 2, 2, 'valid');
  let d: tf.Tensor2D = tf.reshape(h, [n, 400]);
  d = tf.relu(tf.add<tf.Tensor2D>(tf.matMul(d, f1w), f1b));
  d = tf.relu(tf.add<tf.Tensor2D>(tf.matMul(d, f2w), f2b));
  return tf.add(tf.matMul(d, f3w), f3b);
}

type Reference = { loss: number; correct: number; grads: Float32Array[] };

/**
 * The tfjs-cpu references are the slow part of this file and the same for every build: each is
 * computed once, keyed by what made its inputs (seeds and sizes), and reused.
 */
const referenceCache = new Map<string, unknown>();
function cached<T>(key: string, compute: () => T): T {
  if (!referenceCache.has(key)) referenceCache.set(key, compute());
  return referenceCache.get(key) as T;
}

function expectedLogits(key: string, params: Float32Array[], images: Float32Array, n: number) {
  return cached(`logits ${key}`, () =>
    tf.tidy(() =>
      referenceLogits(
        params.map((p, i) => tf.tensor(p, LENET_SHAPES[i])),
        images,
        n,
      ).dataSync(),
    ),
  );
}

function reference(
  params: Float32Array[],
  images: Float32Array,
  labels: Uint8Array,
  n: number,
): Reference {
  return tf.tidy(() => {
    const tensors = params.map((p, i) => tf.tensor(p, LENET_SHAPES[i]));
    const oneHot = tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), 10);
    const lossOf = (...ps: tf.Tensor[]): tf.Scalar =>
      tf.neg(
        tf.mean<tf.Scalar>(
          tf.sum(tf.mul(oneHot, tf.logSoftmax(referenceLogits(ps, images, n))), 1),
        ),
      );
    const { value, grads } = tf.valueAndGrads(lossOf)(tensors);
    const predicted = tf.argMax(referenceLogits(tensors, images, n), 1).dataSync();
    return {
      loss: value.dataSync()[0] as number,
      correct: predicted.filter((p, i) => p === labels[i]).length,
      grads: grads.map((g) => g.dataSync() as Float32Array),
    };
  });
}

/** Max of |a - b| / max(1, |b|): absolute for small values, relative for large ones. */
function maxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const ref = b[i] as number;
    worst = Math.max(worst, Math.abs((a[i] as number) - ref) / Math.max(1, Math.abs(ref)));
  }
  return worst;
}

/** Adam as in PyTorch and tfjs, in float64 on float32 parameters. */
function adamStep(params: Float32Array[], grads: Float32Array[], state: AdamState): void {
  const [lr, b1, b2, eps] = [1e-3, 0.9, 0.999, 1e-8];
  state.t += 1;
  params.forEach((p, i) => {
    const g = grads[i] as Float32Array;
    const m = state.m[i] ?? new Float64Array(p.length);
    const v = state.v[i] ?? new Float64Array(p.length);
    state.m[i] = m;
    state.v[i] = v;
    for (let j = 0; j < p.length; j++) {
      const gj = g[j] as number;
      m[j] = b1 * (m[j] as number) + (1 - b1) * gj;
      v[j] = b2 * (v[j] as number) + (1 - b2) * gj * gj;
      const mHat = (m[j] as number) / (1 - b1 ** state.t);
      const vHat = (v[j] as number) / (1 - b2 ** state.t);
      p[j] = (p[j] as number) - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  });
}
interface AdamState {
  t: number;
  m: Float64Array[];
  v: Float64Array[];
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  // `npm test` builds the kernels first; a bare `vitest run` on a fresh checkout builds them here.
  if (!existsSync(join(fusedDir, 'lenet-simd.wasm'))) {
    await promisify(execFile)(process.execPath, [
      fileURLToPath(new URL('../../scripts/build-wasm.mjs', import.meta.url)),
    ]);
  }
});

it('detects WebAssembly SIMD', () => {
  expect(detectEnvironment().wasm.simd).toBe(true);
});

const support = detectEnvironment().wasm;
const variants: { variant: FusedVariant; supported: boolean }[] = [
  { variant: 'simd', supported: support.simd },
  // Node 20 accepts relaxed SIMD only with --experimental-wasm-relaxed-simd; the child-process
  // test below covers that build there.
  { variant: 'relaxed-simd', supported: support.relaxedSimd },
];

for (const { variant, supported } of variants) {
  describe.skipIf(!supported)(`fused LeNet, ${variant}`, () => {
    const load = () => loadFusedLeNet({ relaxedSimd: variant === 'relaxed-simd' });

    it('loads the requested build', async () => {
      const net = await load();
      expect(net.variant).toBe(variant);
      net.dispose();
    });

    it.each([1, 7, 64, 65, 300])('forward matches tfjs, batch %i', async (n) => {
      const net = await load();
      const params = randomLeNetParams(1);
      net.setParams(params);
      const { images } = randomBatch(n, 100 + n);
      const expected = expectedLogits(`params 1 batch ${n}`, params, images, n);
      expect(maxError(net.forward(images, n), expected)).toBeLessThan(TOL);
      net.dispose();
    });

    it.each([1, 7, 64, 65, 131])(
      'loss, correct count and gradients match tfjs, batch %i',
      async (n) => {
        const net = await load();
        const params = randomLeNetParams(2);
        net.setParams(params);
        const { images, labels } = randomBatch(n, 200 + n);
        const ref = cached(`params 2 batch ${n}`, () => reference(params, images, labels, n));
        const { loss, correct } = net.trainStep(images, labels, n);
        expect(Math.abs(loss - ref.loss)).toBeLessThan(TOL);
        expect(correct).toBe(ref.correct);
        net.getGradients().forEach((g, i) => {
          expect(maxError(g, ref.grads[i] as Float32Array), `gradient ${i}`).toBeLessThan(TOL);
        });
        net.dispose();
      },
    );

    // A zero kernel makes every output of that conv equal its bias, so each max-pool window
    // ties exactly while the input patches under it differ: the gradient then depends on which
    // element wins, and it must be the first in row-major order, as in tfjs.
    it.each([0, 2])(
      'matches tfjs when max-pool windows tie (parameter %i zero)',
      async (zeroed) => {
        const net = await load();
        const params = randomLeNetParams(7);
        params[zeroed]?.fill(0);
        params[zeroed + 1]?.fill(0.05); // positive bias: the ReLU after conv1 passes gradients
        net.setParams(params);
        const n = 16;
        const { images, labels } = randomBatch(n, 700);
        const ref = cached(`params 7 zeroed ${zeroed}`, () => reference(params, images, labels, n));
        expect(Math.abs(net.trainStep(images, labels, n).loss - ref.loss)).toBeLessThan(TOL);
        net.getGradients().forEach((g, i) => {
          expect(maxError(g, ref.grads[i] as Float32Array), `gradient ${i}`).toBeLessThan(TOL);
        });
        net.dispose();
      },
    );

    it('five Adam steps match, and resetting the optimizer restarts Adam', async () => {
      const net = await load();
      const params = randomLeNetParams(3);
      net.setParams(params);
      // The float64 reference trajectory is the same for every build: computed once.
      const trajectory = cached('adam params 3', () => {
        const ps = params.map((p) => p.slice());
        const st: AdamState = { t: 0, m: [], v: [] };
        return Array.from({ length: 5 }, (_, step) => {
          const { images, labels } = randomBatch(13, 300 + step);
          const ref = reference(ps, images, labels, 13);
          adamStep(ps, ref.grads, st);
          return { loss: ref.loss, params: ps.map((p) => p.slice()) };
        });
      });
      for (let step = 0; step < 5; step++) {
        const { images, labels } = randomBatch(13, 300 + step);
        const ref = trajectory[step] as { loss: number; params: Float32Array[] };
        const { loss } = net.trainStep(images, labels, 13);
        expect(Math.abs(loss - ref.loss)).toBeLessThan(TOL);
        params.splice(0, params.length, ...ref.params);
        net.getParams().forEach((p, i) => {
          expect(maxError(p, params[i] as Float32Array), `step ${step} param ${i}`).toBeLessThan(
            TOL,
          );
        });
      }
      // After a reset the first step moves every parameter with a gradient by about lr.
      net.setOptimizerState(undefined);
      const before = net.getParams();
      const { images, labels } = randomBatch(13, 400);
      net.trainStep(images, labels, 13, { learningRate: 0.01 });
      const grads = net.getGradients();
      net.getParams().forEach((p, i) => {
        const g = grads[i] as Float32Array;
        const b = before[i] as Float32Array;
        for (let j = 0; j < p.length; j++) {
          if (Math.abs(g[j] as number) > 1e-5) {
            expect(
              Math.abs((b[j] as number) - (p[j] as number) - 0.01 * Math.sign(g[j] as number)),
            ).toBeLessThan(1e-4);
          }
        }
      });
      net.dispose();
    });

    it('propagates NaN parameters to the logits and the loss, as tfjs does', async () => {
      const net = await load();
      const params = randomLeNetParams(8);
      (params[0] as Float32Array)[0] = Number.NaN;
      net.setParams(params);
      const { images, labels } = randomBatch(3, 800);
      expect(net.forward(images, 3).every(Number.isNaN)).toBe(true);
      expect(net.trainStep(images, labels, 3).loss).toBeNaN();
      net.dispose();
    });

    it('round-trips parameters in tfjs layouts', async () => {
      const net = await load();
      const params = randomLeNetParams(4);
      net.setParams(params);
      expect(net.getParams()).toEqual(params);
      net.dispose();
    });

    it("round-trips Adam's state: a copy continues exactly like the original", async () => {
      const a = await load();
      const b = await load();
      a.setParams(randomLeNetParams(9));
      for (let step = 0; step < 3; step++) {
        const { images, labels } = randomBatch(8, 900 + step);
        a.trainStep(images, labels, 8);
      }
      const state = a.getOptimizerState();
      expect(state.step).toBe(3);
      expect(state.firstMoment.map((m) => m.length)).toEqual(
        LENET_SHAPES.map((s) => s.reduce((x, y) => x * y, 1)),
      );
      b.setParams(a.getParams());
      b.setOptimizerState(state);
      const { images, labels } = randomBatch(8, 950);
      expect(b.trainStep(images, labels, 8).loss).toBe(a.trainStep(images, labels, 8).loss);
      expect(b.getParams()).toEqual(a.getParams());
      expect(b.getOptimizerState()).toEqual(a.getOptimizerState());
      b.setOptimizerState(undefined);
      expect(b.getOptimizerState().step).toBe(0);
      expect(b.getOptimizerState().secondMoment.every((v) => v.every((x) => x === 0))).toBe(true);
      a.dispose();
      b.dispose();
    });

    it('grows its memory when a larger batch comes after a smaller one', async () => {
      const net = await load();
      const params = randomLeNetParams(5);
      net.setParams(params);
      const small = randomBatch(3, 500);
      const large = randomBatch(150, 501);
      net.forward(small.images, 3);
      const expected = expectedLogits('params 5 batch 150', params, large.images, 150);
      expect(maxError(net.forward(large.images, 150), expected)).toBeLessThan(TOL);
      net.dispose();
    });

    it('rejects invalid arguments', async () => {
      const net = await load();
      const { images, labels } = randomBatch(4, 600);
      expect(() => net.forward(images, 4)).toThrow(/setParams/);
      const params = randomLeNetParams(6);
      expect(() => net.setParams(params.slice(0, 9))).toThrow(FusedLeNetError);
      expect(() => net.setParams([...params.slice(0, 9), new Float32Array(11)])).toThrow(
        /Parameter 9 must have 10 elements/,
      );
      net.setParams(params);
      expect(() => net.trainStep(images, labels, 5)).toThrow(/fewer than n = 5/);
      expect(() => net.forward(images, 5)).toThrow(/fewer than n = 5/);
      expect(() => net.trainStep(images, labels.subarray(0, 3), 4)).toThrow(/labels holds 3/);
      expect(() => net.trainStep(images, Uint8Array.of(1, 2, 10, 3), 4)).toThrow(/labels\[2\]/);
      expect(() => net.trainStep(images, labels, 0)).toThrow(/positive integer/);
      expect(() => net.forward(images, 2.5)).toThrow(/positive integer/);
      expect(() => net.forward(images, 4, new Float32Array(39))).toThrow(/out must hold/);
      expect(() => net.trainStep(images, labels, 4, { beta1: 1 })).toThrow(/Adam/);
      net.dispose();
      expect(() => net.getParams()).toThrow(/disposed/);
    });
  });
}

it.skipIf(!support.simd)(
  'relaxed-SIMD build matches the plain build under --experimental-wasm-relaxed-simd',
  async () => {
    // Node 20 cannot validate relaxed SIMD without the flag, so run the wrapper (bundled with
    // esbuild, its .wasm files beside it) in a child process that has it.
    const dir = await mkdtemp(join(tmpdir(), 'lenet-fused-'));
    try {
      await build({
        entryPoints: [join(fusedDir, 'load.ts')],
        outfile: join(dir, 'load.js'),
        bundle: true,
        format: 'esm',
        platform: 'node',
        logLevel: 'error',
      });
      for (const file of ['lenet-simd.wasm', 'lenet-relaxed-simd.wasm']) {
        await copyFile(join(fusedDir, file), join(dir, file));
      }
      await writeFile(join(dir, 'child.mjs'), CHILD);
      const { stdout } = await promisify(execFile)(process.execPath, [
        '--experimental-wasm-relaxed-simd',
        join(dir, 'child.mjs'),
      ]);
      const result = JSON.parse(stdout) as { variants: string[]; errors: number[] };
      expect(result.variants).toEqual(['relaxed-simd', 'simd']);
      for (const e of result.errors) expect(e).toBeLessThan(TOL);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

// Runs in the child: the same random model and batches through both builds; prints the largest
// differences of logits, gradients and parameters after 3 steps.
const CHILD = `
import { loadFusedLeNet } from './load.js';
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 2 - 1;
const sizes = [150, 6, 2400, 16, 48000, 120, 10080, 84, 840, 10];
const params = sizes.map((s) => Float32Array.from({ length: s }, () => rand() * 0.2));
const n = 65;
const images = Float32Array.from({ length: n * 1024 }, rand);
const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
const runs = [];
for (const relaxedSimd of [true, false]) {
  const net = await loadFusedLeNet({ relaxedSimd });
  net.setParams(params);
  const logits = net.forward(images, n);
  const losses = [];
  for (let i = 0; i < 3; i++) losses.push(net.trainStep(images, labels, n).loss);
  runs.push({ variant: net.variant, logits, losses, grads: net.getGradients(), params: net.getParams() });
}
const diff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]) / Math.max(1, Math.abs(b[i]))), 0);
const [r, p] = runs;
const errors = [diff(r.logits, p.logits), diff(r.losses, p.losses),
  ...r.grads.map((g, i) => diff(g, p.grads[i])), ...r.params.map((x, i) => diff(x, p.params[i]))];
console.log(JSON.stringify({ variants: runs.map((x) => x.variant), errors }));
`;
