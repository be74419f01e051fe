import { mulberry32 } from '../../src/data/batches.js';

/** The fused LeNet's parameters in tfjs order and shapes (conv HWIO, dense [in, out]). */
export const LENET_SHAPES: readonly number[][] = [
  [5, 5, 1, 6],
  [6],
  [5, 5, 6, 16],
  [16],
  [400, 120],
  [120],
  [120, 84],
  [84],
  [84, 10],
  [10],
];

/**
 * Seeded LeNet parameters: Glorot-uniform kernels and small random biases (non-zero, so bias
 * gradients matter), scaled by `scale`.
 */
export function randomLeNetParams(seed: number, scale = 1): Float32Array[] {
  const rand = mulberry32(seed);
  return LENET_SHAPES.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const fanOut = shape[shape.length - 1] as number;
    const limit = shape.length === 1 ? 0.1 : Math.sqrt(6 / (size / fanOut + fanOut));
    return Float32Array.from({ length: size }, () => (2 * rand() - 1) * limit * scale);
  });
}
