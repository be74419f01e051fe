// A Cloudflare Worker (workerd) that classifies handwritten digits with lenet-mnist.
//
//   POST /predict   body: one 28x28 digit, 784 raw bytes, white on black (as MNIST)
//   -> 200 {"label": 7, "probabilities": [...10 numbers]}
//
// workerd gives modules no import.meta.url or file system and forbids compiling WebAssembly at
// run time: the package's .wasm files arrive precompiled as wasm modules and the weights as a
// data module (config.capnp), and setAssets hands them to the library.
import { createPredictor, initBackend, loadPretrained, setAssets } from 'lenet-mnist';
import weights from 'lenet-mnist/assets/lenet-mnist.weights';
import lenetRelaxedSimd from 'lenet-mnist/assets/lenet-relaxed-simd.wasm';
import lenetSimd from 'lenet-mnist/assets/lenet-simd.wasm';
import tfjsWasm from 'lenet-mnist/assets/tfjs-backend-wasm.wasm';
import tfjsWasmSimd from 'lenet-mnist/assets/tfjs-backend-wasm-simd.wasm';

setAssets({
  'tfjs-backend-wasm.wasm': tfjsWasm,
  'tfjs-backend-wasm-simd.wasm': tfjsWasmSimd,
  'lenet-simd.wasm': lenetSimd,
  'lenet-relaxed-simd.wasm': lenetRelaxedSimd,
  'lenet-mnist.weights': weights,
});

/** One predictor per isolate, made on the first request (top-level await is not allowed). */
let ready;
function predictor() {
  ready ??= (async () => {
    const backend = await initBackend({ backend: 'wasm', threads: 1 });
    const model = await loadPretrained();
    return { backend, model, predictor: await createPredictor(model) };
  })();
  ready.catch(() => {
    ready = undefined; // a failed start is retried by the next request
  });
  return ready;
}

const json = (status, body) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname !== '/predict') return json(404, { error: 'POST /predict' });
    if (request.method !== 'POST') return json(405, { error: 'POST /predict' });
    const digit = new Uint8Array(await request.arrayBuffer());
    if (digit.length !== 784) {
      return json(400, { error: `expected 784 bytes (28x28), got ${digit.length}` });
    }
    try {
      const { backend, model, predictor: p } = await predictor();
      const { label, probabilities } = await p.predict(digit);
      return json(200, {
        label,
        probabilities: Array.from(probabilities),
        path: p.path, // 'fused': the fused WASM kernels
        kernels: model.engine?.kernels,
        variant: model.engine?.variant, // 'simd' or 'relaxed-simd'
        backend: backend.backend,
      });
    } catch (err) {
      return json(500, { error: `${err.name}: ${err.message}` });
    }
  },
};
