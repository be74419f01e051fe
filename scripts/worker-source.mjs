// Turns `import source from './worker.ts?worker-source'` into the worker's code as a string:
// the module bundled with its imports (esbuild, unminified so error names survive) and wrapped
// as the `(post, listen) => void` function that Platform.startWorker runs. One implementation,
// used by tsup (esbuild plugin) and vitest (Vite plugin).
import { dirname, resolve } from 'node:path';
import { build } from 'esbuild';

const SUFFIX = '?worker-source';
const GLOBAL = '__lenetWorkerModule';

/** The worker function's source for `entry`, whose export `serveFusedWorker(post, listen)` runs it. */
export async function bundleWorkerSource(entry) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: GLOBAL,
    platform: 'neutral',
    target: 'es2022',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].text;
  return `(post, listen) => {\n${code}\n${GLOBAL}.serveFusedWorker(post, listen);\n}`;
}

/** For tsup/esbuild: `esbuildPlugins: [workerSourceEsbuildPlugin]`. */
export const workerSourceEsbuildPlugin = {
  name: 'worker-source',
  setup(builder) {
    builder.onResolve({ filter: /\?worker-source$/ }, (args) => ({
      path: resolve(args.resolveDir, args.path.slice(0, -SUFFIX.length)),
      namespace: 'worker-source',
    }));
    builder.onLoad({ filter: /.*/, namespace: 'worker-source' }, async (args) => ({
      contents: `export default ${JSON.stringify(await bundleWorkerSource(args.path))};`,
      loader: 'js',
      resolveDir: dirname(args.path),
    }));
  },
};

/** For Vite/vitest: `plugins: [workerSourceVitePlugin]`. */
export const workerSourceVitePlugin = {
  name: 'worker-source',
  async load(id) {
    if (!id.endsWith(SUFFIX)) return undefined;
    const source = await bundleWorkerSource(id.slice(0, -SUFFIX.length));
    return `export default ${JSON.stringify(source)};`;
  },
};
