/** The models `train` can build, and how the CLI names them. */
import type { LeNetSpec, ModelSpec } from '../model/types.js';

/** The reference's LeNet-5: what `createLeNet()` builds with no options. */
export const DEFAULT_LENET_SPEC: LeNetSpec = {
  kind: 'lenet',
  inputSize: 32,
  pooling: 'max',
  activation: 'relu',
  conv2Activation: false,
};

/** `LeNet-5 (max pooling, relu)` or `MLP 784-256-128-10 (relu)`. */
export function describeModel(spec: ModelSpec): string {
  if (spec.kind === 'lenet') return `LeNet-5 (${spec.pooling} pooling, ${spec.activation})`;
  const sizes = [spec.inputSize * spec.inputSize, ...spec.hidden, 10];
  return `MLP ${sizes.join('-')} (${spec.activation})`;
}
