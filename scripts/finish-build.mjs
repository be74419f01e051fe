// The build's last step (after tsup): puts every run-time asset once into dist/, next to both
// builds' chunks (whose `new URL(file, import.meta.url)` calls resolve there), and makes the
// public types self-contained. Checks its own work; fails the build if something is off.
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
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
  'lenet-mnist.weights': 'src/engine/lenet-mnist.weights',
};
// The fused kernels, built next to their loader by `npm run build:wasm`.
for (const file of [
  'lenet-simd.wasm',
  'lenet-relaxed-simd.wasm',
  'net-simd.wasm',
  'net-relaxed-simd.wasm',
]) {
  const from = [join('src/engine/fused', file)].find(existsSync);
  if (from === undefined)
    throw new Error(`finish-build: ${file} is missing: run \`npm run build:wasm\``);
  assets[file] = from;
}
for (const [name, from] of Object.entries(assets)) copyFileSync(from, join(dist, name));
// The workers' script is a classic script: drop its CommonJS/AMD export tail (unused by
// importScripts), so that nothing takes it for a CommonJS module in this ESM package.
const workerPath = join(dist, 'tfjs-backend-wasm-threaded-simd.worker.js');
const worker = readFileSync(workerPath, 'utf8');
const tail = worker.indexOf("if (typeof exports === 'object' && typeof module === 'object')");
if (
  tail < 0 ||
  (!worker.startsWith('\nvar WasmBackendModuleThreadedSimd = ') &&
    !worker.startsWith('var WasmBackendModuleThreadedSimd = '))
) {
  throw new Error('finish-build: tfjs-backend-wasm-threaded-simd.js is not laid out as expected');
}
writeFileSync(workerPath, `${worker.slice(0, tail).trimEnd()}\n`);

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
// In place of the import: above every declaration and its doc comment.
if (tfImport.test(dts)) dts = dts.replace(tfImport, `${TF_TYPES}\n`);
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

// The subpath entries' declarations (data.d.ts, interop.d.ts) and the chunks they share with
// index.d.ts: the d.ts bundler put the root's package comment (its banner) on each and the
// entry's own `@packageDocumentation` comment after its imports, where API Extractor rejects it.
// Each entry gets its own comment first; the chunks none. No declaration file imports tfjs.
const packageDoc = /^\/\*\*(?:(?!\*\/)[\s\S])*@packageDocumentation[\s\S]*?\*\/\n?/;
for (const file of readdirSync(dist).filter((f) => f.endsWith('.d.ts'))) {
  let text = readFileSync(join(dist, file), 'utf8');
  if (/^import[^;]*@tensorflow\//m.test(text) && file !== 'tfjs.d.ts') {
    throw new Error(`finish-build: dist/${file} imports @tensorflow/*`);
  }
  if (file === 'index.d.ts' || file === 'tfjs.d.ts') continue;
  text = text.replace(packageDoc, '');
  const source = { 'data.d.ts': 'src/data/index.ts', 'interop.d.ts': 'src/interop/index.ts' }[file];
  const own = source && packageDoc.exec(readFileSync(source, 'utf8'))?.[0];
  if (source !== undefined && own === undefined) {
    throw new Error(`finish-build: ${source} must open with its @packageDocumentation comment`);
  }
  writeFileSync(join(dist, file), `${own ?? ''}${text}`);
}

// Side effects, for bundlers (package.json `sideEffects: ["./dist/*-fx-*.js", ...]`): every
// chunk is named `<build>-fx-...` and kept whenever it is imported, because tfjs registers its
// platform, kernels and gradients when its modules load. The entries are pure re-export
// facades, and the chunks that hold only the data layer (those the `*-data.js` entries import)
// are renamed `<build>-pure-...`, so that an app importing only parseIdx & co. drops the rest.
const jsFiles = () => readdirSync(dist).filter((f) => f.endsWith('.js'));
const importsOf = (file) =>
  [
    ...readFileSync(join(dist, file), 'utf8').matchAll(
      /^(?:import|export)\s*(?:[^'"]*from\s*)?['"]\.\/([^'"]+)['"]/gm,
    ),
  ].map((m) => m[1]);
for (const build of ['node', 'browser']) {
  const facade = build === 'node' ? 'data.js' : `${build}-data.js`;
  const pure = new Set();
  const queue = importsOf(facade);
  while (queue.length > 0) {
    const file = queue.pop();
    if (pure.has(file)) continue;
    pure.add(file);
    queue.push(...importsOf(file));
  }
  for (const file of pure) {
    if (!file.startsWith(`${build}-fx-`))
      throw new Error(`finish-build: unexpected import ${file} of ${facade}`);
    const text = readFileSync(join(dist, file), 'utf8');
    if (/@tensorflow|tfjs-core|registerKernel|new URL\(\s*["']\.\//.test(text)) {
      throw new Error(`finish-build: ${file}, a chunk of the data layer, holds tfjs or asset code`);
    }
  }
  const renamed = new Map([...pure].map((f) => [f, f.replace(`${build}-fx-`, `${build}-pure-`)]));
  for (const file of jsFiles()) {
    let text = readFileSync(join(dist, file), 'utf8');
    for (const [from, to] of renamed) text = text.split(`./${from}`).join(`./${to}`);
    writeFileSync(join(dist, file), text);
  }
  for (const [from, to] of renamed) renameSync(join(dist, from), join(dist, to));
}
// The package entries re-export from the two facades only: the data layer's names from
// `<build>-data.js`, the rest from `<build>-core.js`. An app that uses only data-layer names then
// leaves `<build>-core.js`, a side-effect-free module none of whose exports it uses, and everything
// behind it, out (esbuild keeps every module a used module imports directly).
const exportedNames = (file) =>
  [...readFileSync(join(dist, file), 'utf8').matchAll(/^export\s*\{([^}]*)\}/gm)].flatMap((m) =>
    m[1]
      .split(',')
      .map((n) =>
        n
          .trim()
          .split(/\s+as\s+/)
          .at(-1),
      )
      .filter(Boolean),
  );
for (const [build, entry] of [
  ['node', 'index.js'],
  ['browser', 'browser.js'],
]) {
  const all = new Set(exportedNames(entry));
  const dataFacade = build === 'node' ? 'data.js' : `${build}-data.js`;
  const data = new Set(exportedNames(dataFacade));
  const core = new Set(exportedNames(`${build}-core.js`));
  const fromData = [...all].filter((n) => data.has(n)).sort();
  const fromCore = [...all].filter((n) => !data.has(n)).sort();
  const missing = fromCore.filter((n) => !core.has(n));
  if (all.size === 0 || missing.length > 0) {
    throw new Error(
      `finish-build: ${entry}: cannot re-export ${missing.join(', ')} from ${build}-core.js`,
    );
  }
  writeFileSync(
    join(dist, entry),
    `export { ${fromData.join(', ')} } from './${dataFacade}';\nexport { ${fromCore.join(', ')} } from './${build}-core.js';\n`,
  );
}

// The subpath entries may hold code of their own (modules only they reach, e.g. the dataset
// presets); the data entries' must be as free of tfjs as their chunks.
const subpathEntries = ['data.js', 'browser-data.js', 'interop.js', 'browser-interop.js'];
for (const file of ['data.js', 'browser-data.js']) {
  if (
    /@tensorflow|tfjs-core|registerKernel|new URL\(\s*["']\.\//.test(
      readFileSync(join(dist, file), 'utf8'),
    )
  )
    throw new Error(`finish-build: ${file}, the data entry, holds tfjs or asset code`);
}
for (const file of jsFiles()) {
  const fx = file.includes('-fx-');
  const facade =
    !fx &&
    !file.includes('-pure-') &&
    file !== 'cli.js' &&
    !file.endsWith('.worker.js') &&
    !subpathEntries.includes(file);
  if (facade && !/^(import|export|\s|\/\/|\/\*|\*)/m.test(readFileSync(join(dist, file), 'utf8')))
    continue;
  if (facade) {
    // A facade holds only import/export statements (and the Node build's banner).
    const code = readFileSync(join(dist, file), 'utf8')
      .replace(/^(const [\w$]+ = )?[\w$]+\((import\.meta\.url|__filename[\w$]*)\);$/gm, '')
      .replace(/^(import|export)\s[^;]*;$/gms, '')
      .trim();
    if (code !== '')
      throw new Error(`finish-build: entry ${file} is not a pure facade: ${code.slice(0, 200)}`);
  }
}

const maps = readdirSync(dist).filter((f) => f.endsWith('.map'));
if (maps.length > 0) throw new Error(`finish-build: unexpected source maps ${maps.join(', ')}`);
console.log(
  `finish-build: ${Object.keys(assets).length} assets in dist/, self-contained index.d.ts`,
);
