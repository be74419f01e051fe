import { readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { defineConfig, type Options } from 'tsup';
import { workerSourceEsbuildPlugin } from './scripts/worker-source.mjs';

const require = createRequire(import.meta.url);
const wasmDist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const wasmFiles = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];

/** Files the library reads at run time, by where they come from. */
const assets: string[] = [
  ...wasmFiles.map((file) => join(wasmDist, 'dist', file)),
  'src/engine/lenet-mnist.weights',
  // Fused LeNet kernels, built from asm/ by `npm run build:wasm`.
  'src/engine/fused/lenet-simd.wasm',
  'src/engine/fused/lenet-relaxed-simd.wasm',
];

/** Assets resolved at run time with `new URL(file, import.meta.url)` sit next to the bundle. */
async function copyAssets(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const from of assets) {
    await copyFile(from, join(outDir, basename(from)));
  }
}

/**
 * The package's TSDoc comment: the `@packageDocumentation` block that opens src/index.ts. The
 * d.ts bundler keeps it above the declarations of index.ts itself, after everything bundled from
 * other modules, where API Extractor rejects it (ae-misplaced-package-tag); API Extractor reads
 * it only as the first comment of the file, so the d.ts banner repeats it there.
 */
const packageDocumentation = /^\/\*\*(?:(?!\*\/)[\s\S])*@packageDocumentation[\s\S]*?\*\//.exec(
  readFileSync('src/index.ts', 'utf8'),
)?.[0];
if (packageDocumentation === undefined) {
  throw new Error('src/index.ts must open with its /** ... @packageDocumentation */ comment');
}

const shared: Options = {
  format: ['esm'],
  target: 'es2022',
  dts: { banner: packageDocumentation },
  sourcemap: true,
  clean: true,
  splitting: true,
  treeshake: true,
  // tfjs ships ESM with extensionless imports that plain Node ESM and Deno cannot load, so it is
  // bundled in; its `module` entry must win over the CJS `main` (see ARCHITECTURE.md).
  noExternal: [/^@tensorflow\//],
  external: ['webgpu'],
  loader: { '.wasm': 'copy' },
  // The fused engine's worker, bundled into a string (scripts/worker-source.mjs).
  esbuildPlugins: [workerSourceEsbuildPlugin],
};

export default defineConfig([
  {
    ...shared,
    name: 'node',
    entry: { index: 'src/index.ts', 'cli/main': 'src/cli/main.ts' },
    outDir: 'dist/node',
    platform: 'node',
    esbuildOptions(options) {
      options.mainFields = ['module', 'main'];
      options.conditions = ['node', 'import'];
    },
    banner: {
      // tfjs' emscripten glue is CJS-flavoured: give the ESM bundle require/__dirname.
      js: [
        "import { createRequire as __lenetCreateRequire } from 'node:module';",
        "import { fileURLToPath as __lenetFileURLToPath } from 'node:url';",
        "import { dirname as __lenetDirname } from 'node:path';",
        'const require = __lenetCreateRequire(import.meta.url);',
        'const __filename = __lenetFileURLToPath(import.meta.url);',
        'const __dirname = __lenetDirname(__filename);',
      ].join('\n'),
    },
    onSuccess: () => copyAssets('dist/node'),
  },
  {
    ...shared,
    name: 'browser',
    entry: { index: 'src/index.ts' },
    outDir: 'dist/browser',
    platform: 'browser',
    esbuildOptions(options) {
      options.mainFields = ['browser', 'module', 'main'];
      options.conditions = ['browser', 'import'];
    },
    onSuccess: () => copyAssets('dist/browser'),
  },
]);
