// The build's last step (after tsup): puts every run-time asset once into dist/, next to both
// builds' chunks (whose `new URL(file, import.meta.url)` calls resolve there), and makes the
// public types self-contained. Checks its own work; fails the build if something is off.
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const tfjsWasm = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const dist = 'dist';

/** dist name <- source. Names are those of src/platform/assets.ts (AssetName). */
const assets = {
  'tfjs-backend-wasm.wasm': join(tfjsWasm, 'dist', 'tfjs-backend-wasm.wasm'),
  'tfjs-backend-wasm-simd.wasm': join(tfjsWasm, 'dist', 'tfjs-backend-wasm-simd.wasm'),
  'tfjs-backend-wasm-threaded-simd.wasm': join(
    tfjsWasm,
    'dist',
    'tfjs-backend-wasm-threaded-simd.wasm',
  ),
  // The threaded factory as a classic script: what the pthread workers importScripts().
  'tfjs-backend-wasm-threaded-simd.worker.js': join(
    tfjsWasm,
    'wasm-out',
    'tfjs-backend-wasm-threaded-simd.js',
  ),
  'lenet-mnist.weights': 'src/model/lenet-mnist.weights',
};
// The fused kernels, built by `npm run build:wasm` (src/backend/fused/ or, later, src/engine/fused/).
for (const file of ['lenet-simd.wasm', 'lenet-relaxed-simd.wasm']) {
  const from = ['src/engine/fused', 'src/backend/fused'].map((d) => join(d, file)).find(existsSync);
  if (from === undefined)
    throw new Error(`finish-build: ${file} is missing: run \`npm run build:wasm\``);
  assets[file] = from;
}
for (const [name, from] of Object.entries(assets)) copyFileSync(from, join(dist, name));

// Types that need neither tfjs nor the DOM lib: the few tfjs types the API mentions (a model's
// parameters are tfjs variables) become a small structural namespace. Full tfjs types come with
// `lenet-mnist/tfjs` (optional peer dependency @tensorflow/tfjs-core).
const TF_TYPES = `/**
 * The tfjs-core types that lenet-mnist's API mentions, reduced to what every tfjs-core 4.x tensor
 * has, so that the package's types need neither tfjs nor the DOM lib. For tfjs ops on these
 * tensors, use the tfjs instance of \`lenet-mnist/tfjs\`.
 */
export declare namespace tf {
    /** A tfjs tensor: \`Tensor\` of \`@tensorflow/tfjs-core\` 4.x. */
    interface Tensor {
        readonly shape: number[];
        readonly dtype: string;
        readonly size: number;
        readonly rank: number;
        readonly isDisposed: boolean;
        dataSync(): ArrayLike<unknown>;
        dispose(): void;
    }
    /** A rank-2 tfjs tensor. */
    interface Tensor2D extends Tensor {
    }
    /** A rank-4 tfjs tensor. */
    interface Tensor4D extends Tensor {
    }
    /** A mutable tfjs tensor (\`tf.Variable\`): a model parameter. */
    interface Variable extends Tensor {
        readonly name: string;
        trainable: boolean;
    }
}
`;
const dtsPath = join(dist, 'index.d.ts');
let dts = readFileSync(dtsPath, 'utf8');
const tfImport = /^import \* as tf from '@tensorflow\/tfjs-core';\n/m;
if (tfImport.test(dts))
  dts = dts
    .replace(tfImport, '')
    .replace(/\n(?=(declare|export|interface|type))/, `\n${TF_TYPES}\n`);
const used = new Set([...dts.matchAll(/\btf\.(\w+)/g)].map((m) => m[1]));
const shimmed = new Set([...TF_TYPES.matchAll(/interface (\w+)/g)].map((m) => m[1]));
const unknown = [...used].filter((t) => !shimmed.has(t) && !/^[a-z]/.test(t));
if (unknown.length > 0) {
  throw new Error(
    `finish-build: dist/index.d.ts uses tf.${unknown.join(', tf.')}: add them to TF_TYPES`,
  );
}
if (/@tensorflow\//.test(dts.replace(/\/\*\*[\s\S]*?\*\//g, ''))) {
  throw new Error('finish-build: dist/index.d.ts still imports @tensorflow/*');
}
writeFileSync(dtsPath, dts);

const maps = readdirSync(dist).filter((f) => f.endsWith('.map'));
if (maps.length > 0) throw new Error(`finish-build: unexpected source maps ${maps.join(', ')}`);
console.log(
  `finish-build: ${Object.keys(assets).length} assets in dist/, self-contained index.d.ts`,
);
