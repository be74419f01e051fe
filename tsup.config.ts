import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, Plugin } from 'esbuild';
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
 *   backend. The bundled copy keeps them in an object of its own (nothing on globalThis).
 * - No process-wide handlers: Emscripten's Node glue installs `uncaughtException` and
 *   `unhandledRejection` listeners that rethrow, and may set `process.exitCode`; removed.
 * - Precompiled modules: `instantiateWasm` from src/backend/wasm-hooks.ts when the app provides
 *   tfjs' `.wasm` as a `WebAssembly.Module` or bytes (setAssets; edge runtimes).
 * - Minifier-proof WASM threads: tfjs-backend-wasm creates its pthread workers' script from the
 *   threaded factory's `toString()`, which breaks once an app's minifier has rewritten the factory
 *   (a free `_scriptDir` in the workers). The bundled copy takes the script's URL (the shipped
 *   `tfjs-backend-wasm-threaded-simd.worker.js`, a file minifiers process whole) and the worker
 *   pool size (tfjs hard-codes 8) from src/backend/wasm.ts.
 */
function patchTfjs(target: 'node' | 'browser'): Plugin {
  return {
    name: 'lenet-mnist-patch-tfjs',
    setup(build) {
      // Settings the patched tfjs reads come from src/backend/wasm-hooks.ts, imported into the
      // patched files: a module of the bundle, never a property of the host's global object.
      const hooksImport = `import { tfjsWasmHooks as __lenetWasmHooks } from ${JSON.stringify(
        fileURLToPath(new URL('./src/backend/wasm-hooks.ts', import.meta.url)),
      )};\n`;
      build.onLoad({ filter: /[\\/]tfjs-core[\\/]dist[\\/](engine|global_util)\.js$/ }, (args) => {
        let text = readFileSync(args.path, 'utf8');
        // The engine and tfjs' singletons live in an object of the bundle's own, not on
        // globalThis: private to this copy, and nothing added to the host's global object.
        if (args.path.endsWith('engine.js')) {
          text = patch(
            text,
            args.path,
            'const ns = getGlobalNamespace();',
            'const ns = __lenetPrivateNamespace;',
          );
          text = patch(
            text,
            args.path,
            "import { getGlobalNamespace } from './global_util';",
            "import { __lenetPrivateNamespace } from './global_util';",
          );
        } else {
          text = patch(
            text,
            args.path,
            'function getGlobalMap() {\n    const ns = getGlobalNamespace();',
            'export const __lenetPrivateNamespace = {};\nfunction getGlobalMap() {\n    const ns = __lenetPrivateNamespace;',
          );
        }
        return { contents: text, loader: 'js' };
      });
      build.onLoad({ filter: /[\\/]tfjs-backend-wasm[\\/]dist[\\/]backend_wasm\.js$/ }, (args) => {
        let text = readFileSync(args.path, 'utf8');
        text = patch(
          text,
          args.path,
          'factoryConfig.mainScriptUrlOrBlob = new Blob(',
          'factoryConfig.lenetMnistPoolSize = __lenetWasmHooks.threads?.poolSize;\n' +
            '            factoryConfig.mainScriptUrlOrBlob = __lenetWasmHooks.threads?.mainScriptUrl ?? new Blob(',
        );
        // Precompiled modules (setAssets, for runtimes that forbid compiling WASM at run time).
        text = patch(
          text,
          args.path,
          '        if (customFetch) {\n',
          '        const providedInstantiate = __lenetWasmHooks.instantiateWasm?.(simdSupported, threadsSupported);\n' +
            '        if (providedInstantiate !== undefined) {\n' +
            '            factoryConfig.instantiateWasm = providedInstantiate;\n' +
            '        }\n' +
            '        else if (customFetch) {\n',
        );
        return { contents: hooksImport + text, loader: 'js' };
      });
      build.onLoad(
        {
          filter: /[\\/]tfjs-backend-wasm[\\/]wasm-out[\\/]tfjs-backend-wasm(-threaded-simd)?\.js$/,
        },
        (args) => {
          let text = readFileSync(args.path, 'utf8');
          // Emscripten's Node glue rethrows every uncaught exception and unhandled rejection of the
          // host process (exit code 7, its own stack frame, `--unhandled-rejections` ignored), and
          // its exit path sets process.exitCode or exits: a library must not.
          text = patch(
            text,
            args.path,
            'process["on"]("uncaughtException",function(ex){if(!(ex instanceof ExitStatus)){throw ex}});process["on"]("unhandledRejection",function(reason){throw reason});',
            '',
          );
          text = patch(
            text,
            args.path,
            'quit_=(status,toThrow)=>{if(keepRuntimeAlive()){process["exitCode"]=status;throw toThrow}logExceptionOnExit(toThrow);process["exit"](status)}',
            'quit_=(status,toThrow)=>{throw toThrow}',
          );
          if (target === 'browser') {
            // The browser build runs in browsers, their workers and edge runtimes (workerd), never
            // in Node (Node, Deno and Bun get the Node build): a runtime with a Node-like `process`
            // (workerd's nodejs_compat) must not send the glue after __dirname, fs or require.
            text = patch(
              text,
              args.path,
              'var ENVIRONMENT_IS_NODE=typeof process=="object"&&typeof process.versions=="object"&&typeof process.versions.node=="string";',
              'var ENVIRONMENT_IS_NODE=false;',
            );
          }
          if (args.path.endsWith('threaded-simd.js')) {
            // The pool size comes in the factory's Module argument (set by backend_wasm.js): this
            // file is CommonJS and its toString() also runs in tfjs' worker blob.
            text = patch(
              text,
              args.path,
              'pthreadPoolSize=8;',
              'pthreadPoolSize=Module["lenetMnistPoolSize"]||8;',
            );
          }
          return { contents: text, loader: 'js' };
        },
      );
    },
  };
}

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

/** Resolution and globals of the browser builds (the library's and its training worker's). */
function browserOptions(options: BuildOptions): void {
  options.mainFields = ['browser', 'module', 'main'];
  options.conditions = ['browser', 'import'];
  // Parcel injects a polyfill package (which apps do not have) wherever code names a free Node
  // global (tfjs' Node code paths, never taken in a browser): as properties of globalThis they
  // need none, and apps build with zero configuration.
  options.define = {
    ...options.define,
    process: 'globalThis.process',
    Buffer: 'globalThis.Buffer',
    global: 'globalThis',
  };
}

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
  esbuildPlugins: [workerSourceEsbuildPlugin, stableErrorNames],
};

export default defineConfig([
  {
    ...shared,
    name: 'node',
    // dist/index.js (Node, Deno, Bun), dist/tfjs.js, dist/data.js, dist/interop.js,
    // dist/schedules.js, dist/cli.js;
    // one set of types for both builds.
    entry: {
      index: 'src/index.ts',
      tfjs: 'src/tfjs.ts',
      cli: 'src/cli/main.ts',
      // The documented subpaths: lenet-mnist/data and lenet-mnist/schedules (pure, no tfjs) and
      // lenet-mnist/interop.
      data: 'src/data/index.ts',
      interop: 'src/interop/index.ts',
      schedules: 'src/schedules.ts',
      'node-core': 'src/build-core.ts',
    },
    dts: {
      entry: {
        index: 'src/index.ts',
        tfjs: 'src/tfjs.ts',
        data: 'src/data/index.ts',
        interop: 'src/interop/index.ts',
        schedules: 'src/schedules.ts',
      },
      banner: packageDocumentation,
    },
    platform: 'node',
    esbuildPlugins: [...(shared.esbuildPlugins ?? []), patchTfjs('node'), globalFetchForNodeFetch],
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
      'browser-schedules': 'src/schedules.ts',
    },
    platform: 'browser',
    esbuildPlugins: [...(shared.esbuildPlugins ?? []), patchTfjs('browser')],
    esbuildOptions(options) {
      browserOptions(options);
      options.chunkNames = 'browser-fx-[name]-[hash]';
    },
  },
  {
    ...shared,
    name: 'browser-worker',
    // trainInWorker's module worker (a side effect: its name has -fx-, see package.json
    // sideEffects), one self-contained file: no import of the page's chunks. Parcel bundles a
    // worker that shares modules with the page into a worker that cannot find them ("Cannot
    // find module"); apps that serve dist/ (esbuild, Rollup) load one file. Minified: it repeats
    // the library's code.
    entry: { 'browser-fx-train-worker': 'src/train/worker-entry.ts' },
    splitting: false,
    minify: true,
    platform: 'browser',
    esbuildPlugins: [...(shared.esbuildPlugins ?? []), patchTfjs('browser')],
    esbuildOptions: browserOptions,
  },
]);
