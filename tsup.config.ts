import { readFileSync, rmSync } from 'node:fs';
import type { Plugin } from 'esbuild';
import { defineConfig, type Options } from 'tsup';
import { workerSourceEsbuildPlugin } from './scripts/worker-source.mjs';

// Both builds write into dist/ (shared assets, see scripts/finish-build.mjs): start clean once.
rmSync('dist', { recursive: true, force: true });

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

/** Replaces `from` (which must occur exactly `count` times) in a bundled dependency's source. */
function patch(text: string, file: string, from: string | RegExp, to: string, count = 1): string {
  const found =
    typeof from === 'string' ? text.split(from).length - 1 : (text.match(from) ?? []).length;
  if (found !== count) {
    throw new Error(
      `tsup.config.ts: expected ${count} occurrence(s) of ${String(from)} in ${file}, found ${found}: has @tensorflow changed version?`,
    );
  }
  return text.split(from as string).join(to);
}

/**
 * Changes to the bundled tfjs 4.22 (dist/ only; tests on src/ use tfjs as published):
 *
 * - A private engine: tfjs-core keeps its engine and kernel registry on the global object, shared
 *   by every tfjs copy in a page or process, so an app's own tfjs would switch to lenet-mnist's
 *   backend. The bundled copy uses globals of its own.
 * - Minifier-proof WASM threads: tfjs-backend-wasm creates its pthread workers' script from the
 *   threaded factory's `toString()`, which breaks once an app's minifier has rewritten the factory
 *   (a free `_scriptDir` in the workers). The bundled copy takes the script's URL (the shipped
 *   `tfjs-backend-wasm-threaded-simd.worker.js`, a file minifiers process whole) and the worker
 *   pool size (tfjs hard-codes 8) from src/backend/wasm.ts.
 */
const patchTfjs: Plugin = {
  name: 'lenet-mnist-patch-tfjs',
  setup(build) {
    build.onLoad({ filter: /[\\/]tfjs-core[\\/]dist[\\/](engine|global_util)\.js$/ }, (args) => {
      let text = readFileSync(args.path, 'utf8');
      if (args.path.endsWith('engine.js')) {
        text = patch(text, args.path, /_tfengine\b/g, '_lenetMnistTfEngine', 5);
      } else {
        text = patch(text, args.path, /_tfGlobals\b/g, '_lenetMnistTfGlobals', 3);
      }
      return { contents: text, loader: 'js' };
    });
    build.onLoad({ filter: /[\\/]tfjs-backend-wasm[\\/]dist[\\/]backend_wasm\.js$/ }, (args) => {
      const text = patch(
        readFileSync(args.path, 'utf8'),
        args.path,
        'factoryConfig.mainScriptUrlOrBlob = new Blob(',
        'factoryConfig.mainScriptUrlOrBlob = globalThis[Symbol.for("lenet-mnist.wasm-threads")]?.mainScriptUrl ?? new Blob(',
      );
      return { contents: text, loader: 'js' };
    });
    build.onLoad(
      { filter: /[\\/]tfjs-backend-wasm[\\/]wasm-out[\\/]tfjs-backend-wasm-threaded-simd\.js$/ },
      (args) => {
        const text = patch(
          readFileSync(args.path, 'utf8'),
          args.path,
          'pthreadPoolSize=8;',
          'pthreadPoolSize=globalThis[Symbol.for("lenet-mnist.wasm-threads")]?.poolSize??8;',
        );
        return { contents: text, loader: 'js' };
      },
    );
  },
};

/**
 * Error classes keep their names under any minifier: `LenetMnistError` sets `name` from
 * `new.target.name`, which an app's minifier shortens (`err.name === 'Fl'`), so each class
 * `X extends ...Error` of the sources gets a static block pinning its `name` to the literal 'X'.
 */
const stableErrorNames: Plugin = {
  name: 'lenet-mnist-error-names',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const out = text.replace(
        /(\bclass\s+(\w+)\s+extends\s+\w*Error\b[^{]*\{)/g,
        (_, head: string, name: string) =>
          `${head} static { Object.defineProperty(this, 'name', { value: '${name}', configurable: true }); }`,
      );
      return { contents: out, loader: 'ts' };
    });
  },
};

/**
 * tfjs-core's Node platform requires `node-fetch` only where there is no global `fetch`, and
 * Node has one since 18 (this package needs 20). Bundled, node-fetch brought whatwg-url and
 * tr46's tables (400 KB) that every `import` of the Node build parsed; the Node build gets the
 * global `fetch` in its place.
 */
const globalFetchForNodeFetch: Plugin = {
  name: 'lenet-mnist-global-fetch',
  setup(build) {
    build.onResolve({ filter: /^node-fetch$/ }, () => ({
      path: 'node-fetch',
      namespace: 'lenet-mnist-global-fetch',
    }));
    build.onLoad({ filter: /.*/, namespace: 'lenet-mnist-global-fetch' }, () => ({
      contents: 'module.exports = (...args) => globalThis.fetch(...args);',
      loader: 'js',
    }));
  },
};

const shared: Options = {
  format: ['esm'],
  target: 'es2022',
  // No source maps: the sources are not shipped, and maps of bundled tfjs were 11 MB.
  sourcemap: false,
  clean: false,
  outDir: 'dist',
  splitting: true,
  treeshake: true,
  // tfjs ships ESM with extensionless imports that plain Node ESM and Deno cannot load, so it is
  // bundled in; its `module` entry must win over the CJS `main` (see ARCHITECTURE.md).
  // The CLI's pure-JS image decoders are bundled too, so installing the package installs
  // nothing else.
  noExternal: [/^@tensorflow\//, 'pngjs', 'jpeg-js'],
  external: ['webgpu'],
  // The fused engine's worker is bundled into a string (scripts/worker-source.mjs).
  esbuildPlugins: [workerSourceEsbuildPlugin, patchTfjs, stableErrorNames],
};

export default defineConfig([
  {
    ...shared,
    name: 'node',
    // dist/index.js (Node, Deno, Bun), dist/tfjs.js, dist/data.js, dist/interop.js, dist/cli.js;
    // one set of types for both builds.
    entry: {
      index: 'src/index.ts',
      tfjs: 'src/tfjs.ts',
      cli: 'src/cli/main.ts',
      // The documented subpaths: lenet-mnist/data (pure, no tfjs) and lenet-mnist/interop.
      data: 'src/data/index.ts',
      interop: 'src/interop/index.ts',
      'node-core': 'src/build-core.ts',
    },
    dts: {
      entry: {
        index: 'src/index.ts',
        tfjs: 'src/tfjs.ts',
        data: 'src/data/index.ts',
        interop: 'src/interop/index.ts',
      },
      banner: packageDocumentation,
    },
    platform: 'node',
    esbuildPlugins: [...(shared.esbuildPlugins ?? []), globalFetchForNodeFetch],
    esbuildOptions(options) {
      options.mainFields = ['module', 'main'];
      options.conditions = ['node', 'import'];
      options.chunkNames = 'node-fx-[name]-[hash]';
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
  },
  {
    ...shared,
    name: 'browser',
    // dist/browser.js, dist/browser-tfjs.js, dist/browser-data.js, dist/browser-interop.js;
    // chunks share dist/ (and its assets) with Node's.
    entry: {
      browser: 'src/index.ts',
      'browser-tfjs': 'src/tfjs.ts',
      'browser-core': 'src/build-core.ts',
      'browser-data': 'src/data/index.ts',
      'browser-interop': 'src/interop/index.ts',
      // trainInWorker's module worker (a side effect: its name has -fx-, see package.json sideEffects).
      'browser-fx-train-worker': 'src/train/worker-entry.ts',
    },
    platform: 'browser',
    esbuildOptions(options) {
      options.mainFields = ['browser', 'module', 'main'];
      options.conditions = ['browser', 'import'];
      options.chunkNames = 'browser-fx-[name]-[hash]';
    },
  },
]);
