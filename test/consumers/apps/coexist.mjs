// An app with its own tfjs 4.x (tfjs-core + the cpu backend) that also uses lenet-mnist: each
// keeps its own backend, tensors and kernels. Prints one JSON line.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createPredictor, getBackendInfo, initBackend, loadPretrained } from 'lenet-mnist';

await tf.setBackend('cpu');
const before = tf.tensor1d([1, 2, 3]);
const info = await initBackend();
const predictor = await createPredictor(await loadPretrained());
const prediction = await predictor.predict(new Uint8Array(784));
const after = tf.add(before, tf.scalar(1));
console.log(
  JSON.stringify({
    appBackend: tf.getBackend(),
    appBackends: Object.keys(tf.engine().registryFactory).sort(),
    appSum: Array.from(await after.data()),
    lenetBackend: info.backend,
    lenetInfo: getBackendInfo()?.backend,
    predictionLabel: prediction.label,
    predictorPath: predictor.path,
  }),
);
