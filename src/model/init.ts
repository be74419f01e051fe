// tfjs' seeded uniform generator (seedrandom's alea), imported directly so that initial weights
// need no backend and stay the values `tf.randomUniform(shape, lo, hi, 'float32', seed)` gives.
import { UniformRandom } from '@tensorflow/tfjs-core/dist/ops/rand_util';
import { buildLayers, layerParameterShapes } from './layers.js';
import type { ModelSpec } from './types.js';

/**
 * PyTorch's default initialisation of `nn.Conv2d` and `nn.Linear` (Kaiming-uniform with
 * a = sqrt(5)): weights and biases uniform in ±1/sqrt(fan_in). Parameter `i` draws from seed
 * `seed * 131 + i`; without a seed the start is random.
 */
export function pytorchDefaultInit(spec: ModelSpec, seed?: number): Float32Array[] {
  const shapes = buildLayers(spec).flatMap(layerParameterShapes);
  return shapes.map(({ shape, fanIn }, i) => {
    const bound = 1 / Math.sqrt(fanIn);
    const random = new UniformRandom(
      -bound,
      bound,
      undefined,
      seed === undefined ? undefined : seed * 131 + i,
    );
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let j = 0; j < values.length; j++) values[j] = random.nextValue();
    return values;
  });
}
