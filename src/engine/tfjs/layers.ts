import * as tf from '@tensorflow/tfjs-core';
import type { Layer } from '../../model/layers.js';
import type { Activation } from '../../model/types.js';

function activate(x: tf.Tensor, activation: Activation | null): tf.Tensor {
  if (activation === 'relu') return tf.relu(x);
  if (activation === 'tanh') return tf.tanh(x);
  return x;
}

/**
 * Runs one layer. ReLU and bias go through tfjs' fused conv2d/matMul kernels (one kernel instead of
 * three at inference; tfjs unfuses them itself under a gradient tape).
 */
function applyLayer(layer: Layer, x: tf.Tensor, params: readonly tf.Tensor[]): tf.Tensor {
  const [weight, bias] = params;
  switch (layer.type) {
    case 'conv': {
      const fused = layer.activation === 'relu' ? 'relu' : 'linear';
      const y = tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: weight as tf.Tensor4D,
        bias,
        strides: 1,
        pad: 'valid',
        activation: fused,
      });
      return fused === 'relu' ? y : activate(y, layer.activation);
    }
    case 'pool':
      return layer.mode === 'max'
        ? tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')
        : tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid');
    case 'flatten':
      return tf.reshape(x, [x.shape[0] as number, -1]);
    case 'dense': {
      const fused = layer.activation === 'relu' ? 'relu' : 'linear';
      const y = tf.fused.matMul({
        a: x as tf.Tensor2D,
        b: weight as tf.Tensor2D,
        bias,
        activation: fused,
      });
      return fused === 'relu' ? y : activate(y, layer.activation);
    }
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
