import * as tf from '@tensorflow/tfjs-core';
import type { Layer } from '../../model/layers.js';
import type { Activation } from '../../model/types.js';

function activate(x: tf.Tensor, activation: Activation | null): tf.Tensor {
  if (activation === 'relu') return tf.relu(x);
  if (activation === 'tanh') return tf.tanh(x);
  return x;
}

/**
 * `op` (a fused tfjs kernel) with ReLU fused into it, or run linear and then {@link activate}
 * for other activations.
 */
function withActivation(
  activation: Activation | null,
  op: (fused: 'relu' | 'linear') => tf.Tensor,
): tf.Tensor {
  const fused = activation === 'relu' ? 'relu' : 'linear';
  const y = op(fused);
  return fused === 'relu' ? y : activate(y, activation);
}

/**
 * Runs one layer. ReLU and bias go through tfjs' fused conv2d/matMul kernels (one kernel instead of
 * three at inference; tfjs unfuses them itself under a gradient tape).
 */
function applyLayer(layer: Layer, x: tf.Tensor, params: readonly tf.Tensor[]): tf.Tensor {
  const [weight, bias] = params;
  switch (layer.type) {
    case 'conv':
      return withActivation(layer.activation, (activation) =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: weight as tf.Tensor4D,
          bias,
          strides: 1,
          pad: 'valid',
          activation,
        }),
      );
    case 'pool':
      return layer.mode === 'max'
        ? tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')
        : tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid');
    case 'flatten':
      return tf.reshape(x, [x.shape[0] as number, -1]);
    case 'dense':
      return withActivation(layer.activation, (activation) =>
        tf.fused.matMul({ a: x as tf.Tensor2D, b: weight as tf.Tensor2D, bias, activation }),
      );
  }
}

/** Logits of a batch: every layer in order, each with its slice of `params` (weight, bias). */
export function applyLayers(
  layers: readonly Layer[],
  x: tf.Tensor,
  params: readonly (readonly tf.Tensor[])[],
): tf.Tensor2D {
  return tf.tidy(() => {
    let y = x;
    layers.forEach((layer, i) => {
      y = applyLayer(layer, y, params[i] ?? []);
    });
    return y as tf.Tensor2D;
  });
}
