// The demo's data preparation, off the page: fetch (or read from Cache Storage) the MNIST slice
// to train on, parse it and resize it for the model, then hand the buffers back (transferred,
// not copied). On the page this took 54-77 ms before training could start, a long task.
import { loadMnist, prepareImages } from '../../dist/browser.js';

self.addEventListener('message', async (event) => {
  const { size, testCount, base } = event.data;
  try {
    const url = (file, count) => new URL(`/mnist/${file}?count=${count}`, base).href;
    const mnist = await loadMnist({
      files: {
        trainImages: url('train-images-idx3-ubyte', size),
        trainLabels: url('train-labels-idx1-ubyte', size),
        testImages: url('t10k-images-idx3-ubyte', testCount),
        testLabels: url('t10k-labels-idx1-ubyte', testCount),
      },
      cacheDir: 'lenet-mnist-demo',
      onProgress: (p) => self.postMessage({ type: 'progress', progress: p }),
    });
    const train = prepareImages(mnist.train);
    const validation = prepareImages(mnist.test);
    const test = mnist.test;
    // Each set gets buffers of its own, so all of them can be transferred.
    for (const set of [train, validation, test]) {
      if (set.images.byteLength !== set.images.buffer.byteLength) set.images = set.images.slice();
      if (set.labels.byteLength !== set.labels.buffer.byteLength) set.labels = set.labels.slice();
    }
    if (validation.labels.buffer === test.labels.buffer) validation.labels = test.labels.slice();
    const buffers = new Set();
    for (const set of [train, validation, test]) {
      buffers.add(set.images.buffer);
      buffers.add(set.labels.buffer);
    }
    self.postMessage({ type: 'ready', train, validation, test }, [...buffers]);
  } catch (err) {
    self.postMessage({ type: 'error', message: err.message });
  }
});
