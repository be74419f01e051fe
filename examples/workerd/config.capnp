# workerd configuration of the lenet-mnist example (npm run workerd -- PORT).
# The bundle and the package's assets are in build/ (examples/workerd/serve.mjs writes them):
# .wasm files as wasm modules (compiled by workerd when it loads the config, as it requires),
# the weights as a data module (an ArrayBuffer).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "build/worker.js"),
    (name = "tfjs-backend-wasm.wasm", wasm = embed "build/tfjs-backend-wasm.wasm"),
    (name = "tfjs-backend-wasm-simd.wasm", wasm = embed "build/tfjs-backend-wasm-simd.wasm"),
    (name = "lenet-simd.wasm", wasm = embed "build/lenet-simd.wasm"),
    (name = "lenet-relaxed-simd.wasm", wasm = embed "build/lenet-relaxed-simd.wasm"),
    (name = "lenet-mnist.weights", data = embed "build/lenet-mnist.weights"),
  ],
  compatibilityDate = "2026-11-01",
);
